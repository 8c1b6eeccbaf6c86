"""`vodrec bench --scale tiny|small|medium|large`: one weekly partition timed stage by stage.

The data of a scale is generated once into `VODREC_HOME/bench/<scale>-<weeks>w-seed<seed>/source.db`
(with `generate.json`, the generator's summary) and reused; with `--source URL` (MySQL/MariaDB) the data
is generated into that database once, the folder is `<scale>-<weeks>w-seed<seed>-mysql-<database>`. The
benchmarked partition is the last generated week, at the end of a lookback window (12 weeks by default).
What a weekly run finds already materialized is prepared once, untimed, and kept in the same folder's
`artifacts/`: the earlier weeks' ingestion and `weekly_pair_stats`, and the previous week's score matrix
and model (the next-week protocol scores it).

The timed run calls the asset functions themselves (direct invocation with a partitioned context and
the same resources), so it runs exactly the code of a weekly materialization:

| stage | assets / helpers |
|---|---|
| ingest | vod_catalog, subscribers, raw_vod_logs, raw_click_logs |
| clean | weekly_pair_stats, cleaned_ratings |
| matrix | score_matrix |
| train | trained_model |
| evaluate | weekly_metrics (next-week and holdout protocols, legacy diversity) |
| recommend | `compute_recommendations` (the recommendations asset's scoring half) |
| publish | `publish_recommendations` (its writing half), champion_model |

Asset checks are not timed. The timed run happens in a fresh process so that its peak resident memory
is its own. `--compare-original` runs `original.py`, the original's steps 3-5, on the same window.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator

STAGES = ("ingest", "clean", "matrix", "train", "evaluate", "recommend", "publish")
ORIGINAL_MAX_SUBSCRIBERS = 10_000  # the original's dense pivot and per-subscriber loops: tiny and small only
DEFAULT_NUM_THREADS = 2


def bench_dir(scale: str, weeks: int, seed: int, source: str | None = None) -> Path:
    """The scale's folder; a source other than the bench's own SQLite file gets its own, named by its
    backend and database (`-mysql-vod_rec`), never by its host or user."""
    import re

    import sqlalchemy as sa

    from vodrec_assets import settings

    suffix = ""
    if source:
        database = re.sub(r"[^A-Za-z0-9_]", "_", sa.make_url(source).database or "")
        suffix = f"-{sa_backend(source)}-{database}"
    return settings.vodrec_home() / "bench" / f"{scale}-{weeks}w-seed{seed}{suffix}"


def sa_backend(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).get_backend_name()


def source_url(folder: Path, source: str | None) -> str:
    """The source the runner reads: `source` when given, else the folder's SQLite file."""
    return source or f"sqlite:///{folder / 'source.db'}"


def ensure_data(scale: str, weeks: int, seed: int = 0, say: Callable[[str], None] = print,
                source: str | None = None) -> dict[str, Any]:
    """The scale's source database (the folder's SQLite file, or `source`), generated when missing;
    returns the generator's summary."""
    from vodrec_assets.sources.synthetic import generate

    folder = bench_dir(scale, weeks, seed, source)
    db, summary_file = folder / "source.db", folder / "generate.json"
    if (source is not None or db.exists()) and summary_file.exists():
        return json.loads(summary_file.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    url = source_url(folder, source)
    say(f"generating {scale} data ({weeks} weeks, seed {seed}) into {source and sa_backend(source) or db}")
    summary = generate(url, scale=scale, weeks=weeks, seed=seed, progress=lambda m: say(f"  .. {m}")).to_dict()
    summary.pop("url", None)  # it may hold a password
    # Artifacts derived from older data would be stale.
    _remove_tree(folder / "artifacts")
    tmp = summary_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(summary_file)
    return summary


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def partition_weeks(summary: dict[str, Any]) -> tuple[str, list[str]]:
    """The benchmarked week (the last generated) and its lookback window, oldest first."""
    from vodrec_assets.partitions import START_DATE, window_weeks

    if summary["start"] != START_DATE:
        raise SystemExit(f"vodrec bench: the bench data starts on {summary['start']} but the partitions start on "
                         f"{START_DATE} (VODREC_START_DATE): unset it or make them agree")
    last = date.fromisoformat(summary["start"]) + timedelta(days=7 * (summary["weeks"] - 1))
    week = last.isoformat()
    return week, window_weeks(week)


# --------------------------------------------------------------------------- running the assets


class _Runner:
    """The resources of a bench folder and direct invocation of the weekly assets on them."""

    def __init__(self, folder: Path, num_threads: int, source: str | None = None):
        import logging

        from vodrec_assets.defs.training.assets import TrainingConfig
        from vodrec_assets.quality import QualityPolicy
        from vodrec_assets.resources import LocalArtifactStore, SourceDatabase

        self.source_db = SourceDatabase(url=source_url(folder, source))
        self.artifacts = LocalArtifactStore(root=str(folder / "artifacts"))
        self.quality = QualityPolicy()
        self.training = TrainingConfig(num_threads=num_threads)
        logging.getLogger("dagster").setLevel(logging.WARNING)  # the assets' per-step INFO lines

    def context(self, week: str):
        import dagster as dg

        return dg.build_asset_context(partition_key=week)

    def ingest(self, week: str) -> None:
        from vodrec_assets.defs.ingestion import assets as ingestion

        for asset in (ingestion.vod_catalog, ingestion.subscribers, ingestion.raw_vod_logs, ingestion.raw_click_logs):
            asset(self.context(week), source_db=self.source_db, artifacts=self.artifacts)

    def week_stats(self, week: str) -> None:
        from vodrec_assets.defs.features import assets as features

        features.weekly_pair_stats(self.context(week), artifacts=self.artifacts)

    def window(self, week: str) -> None:
        from vodrec_assets.defs.features import assets as features

        features.cleaned_ratings(self.context(week), artifacts=self.artifacts)

    def matrix(self, week: str) -> None:
        from vodrec_assets.defs.features import assets as features

        features.score_matrix(self.context(week), artifacts=self.artifacts)

    def train(self, week: str) -> None:
        from vodrec_assets.defs.training import assets as training

        training.trained_model(self.context(week), config=self.training, artifacts=self.artifacts)

    def evaluate(self, week: str) -> None:
        from vodrec_assets.defs.evaluation import assets as evaluation

        evaluation.weekly_metrics(self.context(week), artifacts=self.artifacts, quality=self.quality)


def _to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare_window(folder: str, week: str, window: list[str], num_threads: int,
                   say: Callable[[str], None] = _to_stderr, previous_model: bool = True,
                   source: str | None = None) -> None:
    """What the weekly run of `week` expects to find: the earlier weeks of its window reduced to pair
    statistics, and (unless `previous_model` is false: the next-week protocol is then skipped, as in
    a first week) the previous week's score matrix and model. Untimed; kept between runs."""
    from vodrec_assets.artifacts import LIGHTFM_STATE, TRAINED_MODEL, WEEKLY_PAIR_SUMMARY

    runner = _Runner(Path(folder), num_threads, source)
    art = runner.artifacts
    earlier = [w for w in window if w < week]
    missing = [w for w in earlier if not WEEKLY_PAIR_SUMMARY.exists(art, w)]
    if missing:
        # Weeks are independent: two processes (the machine's cores) prepare them side by side.
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(2, len(missing)), mp_context=ctx) as pool:
            for w, seconds in zip(missing, pool.map(_prepare_week, [folder] * len(missing), missing,
                                                    [source] * len(missing))):
                say(f"  .. prepared week {w} ({seconds:.1f}s)")
    if earlier and previous_model:
        prev = earlier[-1]
        # A model prepared before the warm start has no state: prepare it again, or the timed week
        # would be fitted from scratch.
        if not (TRAINED_MODEL.exists(art, prev) and LIGHTFM_STATE.exists(art, prev)):
            t0 = time.perf_counter()
            runner.window(prev)
            runner.matrix(prev)
            runner.train(prev)
            say(f"  .. prepared the previous week's model {prev} ({time.perf_counter() - t0:.1f}s)")


def _prepare_week(folder: str, week: str, source: str | None = None) -> float:
    """One earlier week of the window: ingested and reduced to its pair statistics (raw rows dropped)."""
    t0 = time.perf_counter()
    runner = _Runner(Path(folder), 1, source)
    runner.ingest(week)
    runner.week_stats(week)
    from vodrec_assets.artifacts import RAW_CLICK_LOGS, RAW_VOD_LOGS

    for logs in (RAW_VOD_LOGS, RAW_CLICK_LOGS):  # only the pair statistics are needed later
        (Path(runner.artifacts.root) / logs.key(week)).unlink(missing_ok=True)
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _RssSampler:
    """The resident set size sampled every 20 ms in a thread: the peak of each stage (ru_maxrss only
    gives the peak of the whole process)."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self._page = os.sysconf("SC_PAGE_SIZE")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * self._page

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self._rss())

    def reset(self) -> None:
        self.peak = self._rss()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def _ingested_rows(artifacts, week: str) -> int:
    """Rows the ingest stage stored for the week (the four tables)."""
    from vodrec_assets.artifacts import RAW_CLICK_LOGS, RAW_VOD_LOGS, SUBSCRIBERS, VOD_CATALOG

    total = 0
    for stored in (VOD_CATALOG, SUBSCRIBERS, RAW_VOD_LOGS, RAW_CLICK_LOGS):
        with stored.open(artifacts, week) as parquet:
            total += parquet.metadata.num_rows
    return total


def run_partition(folder: str, week: str, num_threads: int, source: str | None = None) -> dict[str, Any]:
    """Materialize `week` stage by stage through the asset functions; seconds and peak RSS per stage."""
    from vodrec_assets import publishing
    from vodrec_assets.artifacts import TRAINED_MODEL, WEEKLY_METRICS
    from vodrec_assets.defs.serving import assets as serving
    from vodrec_assets.resources import ServingRedis

    from vodrec_assets.recsys.model import recorded_fit_seconds

    runner = _Runner(Path(folder), num_threads, source)
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}  # all threads; unlike wall time, not inflated by the neighbours
    stage_rss: dict[str, float] = {}
    sampler = _RssSampler()
    @contextmanager
    def stage(name: str) -> Iterator[None]:
        sampler.reset()
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        seconds[name] = time.perf_counter() - t0
        cpu_seconds[name] = time.process_time() - c0
        stage_rss[name] = round(max(sampler.peak, sampler._rss()) / 2**20, 1)
        _to_stderr(f"  .. {name}: {seconds[name]:.2f}s ({cpu_seconds[name]:.2f} CPU-s), peak RSS {stage_rss[name]:,.0f} MB")

    with stage("ingest"):
        runner.ingest(week)
    ingested_rows = _ingested_rows(runner.artifacts, week)
    with stage("clean"):
        runner.week_stats(week)
        runner.window(week)
    with stage("matrix"):
        runner.matrix(week)
    # Every LightFM fit the assets make (trained_model's and the holdout protocol's), timed by fit_lightfm.
    with recorded_fit_seconds() as fits:
        with stage("train"):
            runner.train(week)
        with stage("evaluate"):
            runner.evaluate(week)
    with stage("recommend"):
        recs = publishing.compute_recommendations(runner.artifacts, week)
    with stage("publish"):
        publishing.publish_recommendations(runner.artifacts, runner.source_db, recs)
        serving.champion_model(runner.context(week), artifacts=runner.artifacts, source_db=runner.source_db,
                               serving_redis=ServingRedis())
    sampler.close()
    metrics = WEEKLY_METRICS.read(runner.artifacts, week)
    model_manifest = TRAINED_MODEL.manifest(runner.artifacts, week)
    return {
        "warm_start": model_manifest.get("warm_start", "no record"),
        "ingested_rows": ingested_rows,
        "stages": seconds,
        "stage_cpu_seconds": cpu_seconds,
        "stage_peak_rss_mb": stage_rss,
        "lightfm_fit_seconds": fits,
        "peak_rss_mb": peak_rss_mb(),
        "recommended_subscribers": recs.subscribers,
        "recommendation_rows": int(len(recs.frame)),
        "quality_gate_passed": bool(metrics["quality_gate_passed"]),
        "holdout_map_at_10": metrics["metrics"].get("holdout_map_at_10"),
    }


def _in_fresh_process(fn: Callable, *args: Any) -> Any:
    """Run `fn(*args)` in a new spawned process: its peak RSS is then its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


# --------------------------------------------------------------------------- the command


def run_bench(scale: str, weeks: int = 12, seed: int = 0, compare_original: bool = False,
              num_threads: int = DEFAULT_NUM_THREADS,
              say: Callable[[str], None] = print, source: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The benchmark's result (exactly the keys of `--json`) and details (week, original, ...). `source`:
    a MySQL/MariaDB URL read instead of the bench's SQLite file (generated into when empty)."""
    summary = ensure_data(scale, weeks, seed, say, source)
    folder = bench_dir(scale, weeks, seed, source)
    week, window = partition_weeks(summary)
    say(f"benchmarking week {week}: window {window[0]} .. {week} ({len(window)} weeks)")
    _in_fresh_process(prepare_window, str(folder), week, window, num_threads, _to_stderr, True, source)
    run = _in_fresh_process(run_partition, str(folder), week, num_threads, source)
    stages = {name: round(run["stages"][name], 3) for name in STAGES}
    total = sum(run["stages"].values())
    result: dict[str, Any] = {
        "scale": scale,
        "subscribers": int(summary["rows"]["userinfo"]),
        "programs": int(summary["rows"]["vodinfo"]),
        "watch_rows": int(summary["rows"]["vods_sumut"]),
        "click_rows": int(summary["rows"]["contlog"]),
        "stages": stages,
        "total_s": round(total, 3),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        "recommend_subscribers_per_s": round(run["recommended_subscribers"] / max(run["stages"]["recommend"], 1e-9), 1),
    }
    details = {
        "week": week, "window_weeks": len(window), "num_threads": num_threads,
        "stage_peak_rss_mb": run["stage_peak_rss_mb"],
        "stage_cpu_seconds": {name: round(run["stage_cpu_seconds"][name], 3) for name in STAGES},
        "lightfm_fit_seconds": [round(x, 3) for x in run["lightfm_fit_seconds"]],
        "recommended_subscribers": run["recommended_subscribers"], "recommendation_rows": run["recommendation_rows"],
        "quality_gate_passed": run["quality_gate_passed"], "holdout_map_at_10": run["holdout_map_at_10"],
        "warm_start": run["warm_start"],
        "source": sa_backend(source) if source else "sqlite",
        "ingested_rows": run["ingested_rows"],
        "ingest_rows_per_s": round(run["ingested_rows"] / max(run["stages"]["ingest"], 1e-9), 1),
        "generate_seconds": summary.get("seconds"), "database_bytes": summary.get("database_bytes"),
    }
    if compare_original:
        if result["subscribers"] > ORIGINAL_MAX_SUBSCRIBERS:
            details["original"] = {"skipped": f"the original algorithm is only run at tiny and small scale "
                                              f"(at most {ORIGINAL_MAX_SUBSCRIBERS:,} subscribers): its dense "
                                              f"pivot and per-subscriber loops would not finish"}
        else:
            from vodrec_assets.benchmarks import original

            say("running the original's steps 3-5 on the same window")
            orig = _in_fresh_process(original.run_original, str(folder), week, window)
            ours = sum(run["stages"][s] for s in original.COMPARED_STAGES)
            ours_fit, orig_fit = sum(run["lightfm_fit_seconds"]), orig["lightfm_fit_s"]
            details["original"] = {**orig, "vodrec_same_steps_s": round(ours, 3),
                                   "ratio": round(orig["total_s"] / max(ours, 1e-9), 1),
                                   # Both sides fit LightFM twice; the rest is what vodrec rewrote.
                                   "vodrec_lightfm_fit_s": round(ours_fit, 3),
                                   "ratio_without_lightfm_fits": round((orig["total_s"] - orig_fit)
                                                                       / max(ours - ours_fit, 1e-9), 1)}
    return result, details


def format_table(result: dict[str, Any], d: dict[str, Any]) -> str:
    lines = [
        f"vodrec bench --scale {result['scale']}: week {d['week']} at the end of a {d['window_weeks']}-week window",
        f"  {result['subscribers']:,} subscribers, {result['programs']:,} programs, "
        f"{result['watch_rows']:,} watch rows, {result['click_rows']:,} click rows (all weeks)",
        "",
        f"  {'stage':<10} {'seconds':>9} {'share':>7} {'CPU-s':>8} {'peak RSS MB':>12}",
    ]
    total = result["total_s"]
    cpu = d["stage_cpu_seconds"]
    for name in STAGES:
        s = result["stages"][name]
        lines.append(f"  {name:<10} {s:>9.2f} {s / max(total, 1e-9):>7.1%} {cpu[name]:>8.2f} "
                     f"{d['stage_peak_rss_mb'][name]:>12,.0f}")
    lines += [
        f"  {'total':<10} {total:>9.2f} {'':>7} {sum(cpu.values()):>8.2f}",
        "",
        f"  peak RSS                {result['peak_rss_mb']:,.0f} MB",
        f"  ingest                  {d.get('ingest_rows_per_s', 0):,.0f} rows/s ({d.get('ingested_rows', 0):,} rows "
        f"from {d.get('source', 'sqlite')})",
        f"  recommend               {result['recommend_subscribers_per_s']:,.0f} subscribers/s "
        f"({d['recommended_subscribers']:,} subscribers, top 10)",
        f"  LightFM threads         {d['num_threads']}",
        f"  weekly fit warm start   {d['warm_start']}",
        f"  quality gate passed     {d['quality_gate_passed']}",
    ]
    orig = d.get("original")
    if orig:
        if "skipped" in orig:
            lines.append(f"  original                skipped: {orig['skipped']}")
        else:
            lines += [
                "",
                f"  original steps 3-5      {orig['total_s']:,.2f} s "
                f"(clean {orig['stages']['clean']:.2f}, train {orig['stages']['train']:.2f}, "
                f"evaluate {orig['stages']['evaluate']:.2f}, evaluate_all {orig['stages']['evaluate_all']:.2f})",
                f"  vodrec same steps       {orig['vodrec_same_steps_s']:,.2f} s (clean + matrix + train + evaluate + recommend)",
                f"  ratio                   {orig['ratio']:,.1f}x",
                f"  LightFM fits            vodrec {orig['vodrec_lightfm_fit_s']:,.2f} s (2 hybrid fits), original "
                f"{orig['lightfm_fit_s']:,.2f} s (2 collaborative fits, 1 thread)",
                f"  ratio without the fits  {orig['ratio_without_lightfm_fits']:,.1f}x",
            ]
    return "\n".join(lines)


def cli_bench(args: argparse.Namespace) -> int:
    seed = getattr(args, "seed", 0)
    threads = getattr(args, "num_threads", DEFAULT_NUM_THREADS)
    say = _to_stderr if args.json else (lambda msg: print(msg, flush=True))
    source = getattr(args, "source", None)
    result, details = run_bench(args.scale, args.weeks, seed, args.compare_original, threads, say, source)
    # Kept beside the data for `python -m vodrec_assets.benchmarks.scale plot` (docs/performance.md).
    record = bench_dir(args.scale, args.weeks, seed, source) / "result.json"
    record.write_text(json.dumps({"result": result, "details": details}, indent=2))
    if args.json:
        # Exactly the documented keys; `original` only with --compare-original.
        print(json.dumps(result | ({"original": details["original"]} if "original" in details else {})))
    else:
        print(format_table(result, details))
    return 0


def plot_scaling(records: list[dict[str, Any]], path: Path) -> None:
    """Seconds per stage (stacked) and peak RSS against subscribers, log-log, from saved results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = sorted(records, key=lambda r: r["result"]["subscribers"])
    users = [r["result"]["subscribers"] for r in records]
    fig, (ax, ax_mem) = plt.subplots(1, 2, figsize=(12, 4.8))
    # A partial record (a scale not run end to end) has only some stages and no total.
    for name in STAGES:
        points = [(u, r["result"]["stages"][name]) for u, r in zip(users, records)
                  if r["result"]["stages"].get(name) is not None]
        ax.plot([u for u, _ in points], [max(v, 1e-3) for _, v in points], "-o", ms=4, label=name)
    totals = [(u, r["result"]["total_s"]) for u, r in zip(users, records) if r["result"].get("total_s") is not None]
    ax.plot([u for u, _ in totals], [v for _, v in totals], "-o", color="black", lw=2.5, label="total")
    ax.plot(users, [totals[0][1] * u / totals[0][0] for u in users], ":", color="gray", label="linear from tiny")
    ax.axhline(300, color="red", ls="--", lw=1, label="goal: 300 s at large")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("subscribers")
    ax.set_ylabel("seconds (one weekly partition, 12-week window)")
    ax.set_title("vodrec bench: time per stage")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2)
    mem = [(u, r["result"]["peak_rss_mb"] / 1024) for u, r in zip(users, records) if r["result"].get("peak_rss_mb")]
    ax_mem.plot([u for u, _ in mem], [v for _, v in mem], "-o", color="tab:purple", label="peak RSS (measured)")
    ax_mem.axhline(8, color="red", ls="--", lw=1, label="goal: 8 GB at large")
    ax_mem.set_xscale("log")
    ax_mem.set_yscale("log")
    ax_mem.set_xlabel("subscribers")
    ax_mem.set_ylabel("GiB")
    ax_mem.set_title("peak resident memory")
    ax_mem.grid(alpha=0.3, which="both")
    ax_mem.legend(fontsize=8)
    for a in (ax, ax_mem):
        a.set_xticks(users, [f"{u:,}\n{r['result']['scale']}" for u, r in zip(users, records)])
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)


if __name__ == "__main__":  # pragma: no cover - `vodrec bench` is the entry point
    if sys.argv[1:2] == ["plot"]:  # python -m vodrec_assets.benchmarks.scale plot docs/img/scaling.png
        from vodrec_assets import settings

        found = [json.loads(f.read_text()) for f in sorted((settings.vodrec_home() / "bench").glob("*/result.json"))]
        plot_scaling(found, Path(sys.argv[2]))
        sys.exit(0)
    from vodrec_assets.cli import main

    sys.exit(main(["bench", *sys.argv[1:]]))
