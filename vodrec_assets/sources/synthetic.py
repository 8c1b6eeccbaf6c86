"""`vodrec generate`: synthetic set-top-box data in the original's four source tables.

The latent model (tastes, catalogue, planted effects) is `synthetic_world`, one week's rows are
`synthetic_logs`, dirty rows are `dirty`, the writer is `bulk`; docs/data.md describes the model.
Weeks are generated one at a time (memory holds one week), each from its own SeedSequence stream,
so the same arguments always give the same table contents. On SQLite, large runs generate weeks in
worker processes, each into its own shard file, and append the shards in week order.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import sqlalchemy as sa

from vodrec_assets.database import engine_for
from vodrec_assets import schema, settings
from vodrec_assets.sources import bulk
from vodrec_assets.sources.dirty import DEFAULT_DIRTY_RATE, dirty_classes, inject_dirty_rows
from vodrec_assets.sources.synthetic_logs import LogTable, generate_week
from vodrec_assets.sources.synthetic_world import (
    AGE_BANDS,
    CLASSES,
    GENRES,
    REGIONS,
    SCALES,
    Scale,
    World,
    build_world,
)

__all__ = ["SCALES", "Scale", "GenerateSummary", "generate", "cli_generate", "build_world", "parse_start"]

DIRTY_SEED_KEY = 2
PARALLEL_MIN_ROWS = 3_000_000  # below this many log rows, worker processes cost more than they save


@dataclass
class GenerateSummary:
    url: str
    scale: str
    weeks: int
    start: str
    seed: int
    dirty_rate: float
    workers: int
    rows: dict[str, int]
    dirty_rows: dict[str, dict[str, int]]
    e_bool_rows: dict[str, int]
    weekly_rows: list[dict[str, int | str]] = field(default_factory=list)
    seconds: float = 0.0
    database_bytes: int | None = None

    @property
    def subscribers(self) -> int:
        return self.rows["userinfo"]

    @property
    def programs(self) -> int:
        return self.rows["vodinfo"]

    def dirty_share(self, table: str) -> float:
        return sum(self.dirty_rows[table].values()) / max(self.rows[table], 1)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_start(start: str | None) -> date:
    text = start or settings.DEFAULT_START_DATE
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(f"start {text!r} is not a date in YYYY-MM-DD form") from None
    if day.weekday() != 0:
        raise ValueError(
            f"start {text!r} is a {day:%A}, not a Monday: weekly partitions run Monday 00:00 to Monday 00:00 "
            f"(Asia/Seoul), so the data must start on a Monday (e.g. {settings.DEFAULT_START_DATE})"
        )
    return day


def _validate(scale: str, weeks: int | None, dirty_rate: float | None) -> tuple[Scale, int, float]:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    sc = SCALES[scale]
    n_weeks = sc.default_weeks if weeks is None else int(weeks)
    if n_weeks < 1:
        raise ValueError(f"weeks must be at least 1, got {n_weeks}")
    rate = DEFAULT_DIRTY_RATE if dirty_rate is None else float(dirty_rate)
    if not 0.0 <= rate <= 0.5:
        raise ValueError(f"dirty_rate must be between 0 and 0.5, got {rate}")
    return sc, n_weeks, rate


def _dates(start: np.datetime64, days: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DD 00:00:00' strings (object array) for day offsets from start."""
    text = np.datetime_as_string(start.astype("datetime64[D]") + days.astype("timedelta64[D]"), unit="D")
    return (text.astype(object) + " 00:00:00").astype(object)


def userinfo_columns(world: World) -> dict[str, np.ndarray]:
    churn = _dates(world.start, np.where(world.churn_day == np.iinfo(np.int32).max, 0, world.churn_day))
    churn[world.churn_day == np.iinfo(np.int32).max] = None
    return {
        "subsr_id": world.subsr_id,
        "age_band": np.array(AGE_BANDS, dtype=object)[world.age_band],
        "gender": np.array(["M", "F"], dtype=object)[world.gender],
        "region": np.array(REGIONS, dtype=object)[world.region],
        "join_dt": _dates(world.start, world.join_day),
        "churn_dt": churn,
    }


def vodinfo_columns(world: World) -> dict[str, np.ndarray]:
    return {
        "program_id": world.program_id,
        "program_name": world.program_name,
        "ct_cl": np.array(CLASSES, dtype=object)[world.program_class],
        "program_genre": np.array(GENRES, dtype=object)[world.program_genre],
        "release_date": _dates(world.start, world.release_day),
        "age_limit": world.age_limit.astype(np.int64),
        "disp_rtm_sec": world.runtime_sec.astype(np.int64),
        "episode_count": world.episode_count.astype(np.int64),
        "e_bool": world.program_e_bool.astype(np.int64),
    }


@dataclass
class WeekResult:
    week: int
    rows: dict[str, int]
    dirty: dict[str, dict[str, int]]
    e_bool: dict[str, int]
    seconds: float


def week_tables(world: World, week: int, dirty_rate: float, sqlite: bool) -> tuple[LogTable, LogTable, WeekResult]:
    """The week's watch and click rows with their dirty rows planted."""
    t0 = time.perf_counter()
    watches, clicks = generate_week(world, week)
    rng = np.random.default_rng(np.random.SeedSequence(world.seed, spawn_key=(DIRTY_SEED_KEY, week)))
    watches, w_dirty = inject_dirty_rows(watches, dirty_rate, dirty_classes("vods_sumut", sqlite), rng)
    clicks, c_dirty = inject_dirty_rows(clicks, dirty_rate, dirty_classes("contlog", sqlite), rng)
    result = WeekResult(
        week=week,
        rows={"vods_sumut": len(watches), "contlog": len(clicks)},
        dirty={"vods_sumut": w_dirty, "contlog": c_dirty},
        e_bool={"vods_sumut": int(watches.columns["e_bool"].sum()), "contlog": int(clicks.columns["e_bool"].sum())},
        seconds=0.0,
    )
    result.seconds = time.perf_counter() - t0
    return watches, clicks, result


def write_week(loader: bulk.BulkLoader, watches: LogTable, clicks: LogTable) -> None:
    loader.write("vods_sumut", watches.columns, watches.overrides)
    loader.write("contlog", clicks.columns, clicks.overrides)


# -- worker processes (SQLite only): each week into its own shard file

_WORKER_WORLD: World | None = None


def _init_worker(scale: str, weeks: int, start: str, seed: int) -> None:
    global _WORKER_WORLD
    _WORKER_WORLD = build_world(scale, weeks, start, seed)


def _write_shard(week: int, dirty_rate: float, shard: str) -> WeekResult:
    assert _WORKER_WORLD is not None
    watches, clicks, result = week_tables(_WORKER_WORLD, week, dirty_rate, sqlite=True)
    bulk.remove_quietly(Path(shard))
    with bulk.BulkLoader(f"sqlite:///{shard}") as loader:
        loader.create_log_tables_without_indexes()
        write_week(loader, watches, clicks)
    return result


def _weeks_in_workers(loader: bulk.BulkLoader, path: Path, scale: str, weeks: int, start: str, seed: int,
                      dirty_rate: float, n_workers: int) -> Iterator[WeekResult]:
    """Weeks generated by worker processes into shard files, appended to `loader` in week order."""
    shard_dir = path.parent / f".{path.name}.shards"
    shard_dir.mkdir(exist_ok=True)
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker,
                               initargs=(scale, weeks, start, seed))
    try:
        pending: dict[int, Future] = {}
        submitted = 0
        for week in range(weeks):
            # At most one finished shard waits on disk per worker.
            while submitted < weeks and len(pending) < n_workers + 1:
                pending[submitted] = pool.submit(_write_shard, submitted, dirty_rate,
                                                 str(shard_dir / f"week{submitted:04d}.db"))
                submitted += 1
            result = pending.pop(week).result()
            shard = shard_dir / f"week{week:04d}.db"
            loader.append_shard(shard)
            bulk.remove_quietly(shard)
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for leftover in shard_dir.glob("*"):
            bulk.remove_quietly(leftover)
        shard_dir.rmdir()


def _default_workers(world: World, sqlite: bool) -> int:
    expected_rows = world.n_subscribers * world.weeks * 15
    if not sqlite or expected_rows < PARALLEL_MIN_ROWS:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def generate(
    url: str,
    scale: str = "tiny",
    weeks: int | None = None,
    start: str | None = None,
    seed: int = 0,
    dirty_rate: float | None = None,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> GenerateSummary:
    """(Re)create the four source tables at `url` and fill them with synthetic data."""
    sc, n_weeks, rate = _validate(scale, weeks, dirty_rate)
    first = parse_start(start)
    say = progress or (lambda _msg: None)
    t_start = time.perf_counter()
    world = build_world(sc, n_weeks, first.isoformat(), seed)
    bulk.ensure_database(url)
    with bulk.BulkLoader(url) as loader:
        sqlite = loader.is_sqlite
        n_workers = max(1, workers if workers is not None else _default_workers(world, sqlite))
        if not sqlite or bulk.sqlite_path(url) is None:
            n_workers = 1  # shards are SQLite files appended to a SQLite file
        loader.reset_source_tables()
        loader.write("userinfo", userinfo_columns(world))
        loader.write("vodinfo", vodinfo_columns(world))
        say(f"{world.n_subscribers:,} subscribers and {world.n_programs:,} programs written "
            f"({time.perf_counter() - t_start:.1f}s)")
        results: list[WeekResult] = []

        def done(result: WeekResult) -> None:
            results.append(result)
            say(f"week {result.week + 1}/{n_weeks} ({np.datetime64(first) + np.timedelta64(7 * result.week, 'D')}): "
                f"{result.rows['vods_sumut']:,} watch rows, {result.rows['contlog']:,} click rows "
                f"({time.perf_counter() - t_start:.0f}s)")

        if n_workers == 1:
            for week in range(n_weeks):
                watches, clicks, result = week_tables(world, week, rate, sqlite)
                write_week(loader, watches, clicks)
                del watches, clicks
                done(result)
        else:
            del world  # the workers build their own copy
            for result in _weeks_in_workers(loader, bulk.sqlite_path(url), sc.name, n_weeks, first.isoformat(),
                                            seed, rate, n_workers):
                done(result)
        say("building the log_dt indexes")
        loader.create_log_indexes()

    engine = engine_for(url, "tool")
    try:
        db_bytes = bulk.database_bytes(engine)
    finally:
        engine.dispose()
    results.sort(key=lambda r: r.week)
    rows = {"userinfo": sc.subscribers, "vodinfo": sc.programs,
            "vods_sumut": sum(r.rows["vods_sumut"] for r in results),
            "contlog": sum(r.rows["contlog"] for r in results)}
    dirty: dict[str, dict[str, int]] = {}
    for table in schema.LOG_TABLES:
        dirty[table] = {c: sum(r.dirty[table].get(c, 0) for r in results) for c in dirty_classes(table, sqlite)}
    return GenerateSummary(
        url=sa.make_url(url).render_as_string(hide_password=True),
        scale=sc.name, weeks=n_weeks, start=first.isoformat(), seed=seed, dirty_rate=rate, workers=n_workers,
        rows=rows, dirty_rows=dirty,
        e_bool_rows={t: sum(r.e_bool[t] for r in results) for t in schema.LOG_TABLES},
        weekly_rows=[{"week": (np.datetime64(first) + np.timedelta64(7 * r.week, "D")).astype(str),
                      "vods_sumut": r.rows["vods_sumut"], "contlog": r.rows["contlog"]} for r in results],
        seconds=round(time.perf_counter() - t_start, 2),
        database_bytes=db_bytes,
    )


def _format_summary(s: GenerateSummary) -> str:
    end = np.datetime64(s.start) + np.timedelta64(7 * s.weeks, "D")
    lines = [
        f"generated {s.scale} synthetic data into {s.url} in {s.seconds:.1f}s"
        + (f" ({s.workers} worker processes)" if s.workers > 1 else ""),
        f"  weeks       {s.weeks}: [{s.start}, {end}) Asia/Seoul, seed {s.seed}",
        f"  userinfo    {s.rows['userinfo']:>12,} subscribers",
        f"  vodinfo     {s.rows['vodinfo']:>12,} programs",
    ]
    for table, what in (("vods_sumut", "watch rows"), ("contlog", "click rows")):
        lines.append(f"  {table:<11} {s.rows[table]:>12,} {what}; e_bool = 1: "
                     f"{s.e_bool_rows[table] / max(s.rows[table], 1):.1%}; dirty: {s.dirty_share(table):.2%}")
    for table in schema.LOG_TABLES:
        parts = ", ".join(f"{k} {v:,}" for k, v in s.dirty_rows[table].items())
        lines.append(f"  dirty {table}: {parts}")
    if s.database_bytes is not None:
        lines.append(f"  database    {s.database_bytes / 1e6:,.1f} MB")
    return "\n".join(lines)


def cli_generate(args: argparse.Namespace) -> int:
    url = settings.source_url(args.source)
    progress = None if args.json else (lambda msg: print(f"  .. {msg}", flush=True))
    try:
        summary = generate(url, scale=args.scale, weeks=args.weeks, start=args.start, seed=args.seed,
                           dirty_rate=args.dirty_rate, progress=progress)
    except ValueError as exc:
        raise SystemExit(f"vodrec generate: {exc}") from None
    print(json.dumps(summary.to_dict(), indent=2) if args.json else _format_summary(summary))
    return 0
