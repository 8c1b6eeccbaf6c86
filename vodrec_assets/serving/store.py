"""What the serving API reads, and the immutable "served model" snapshot it reads it through.

Every query is SQLAlchemy Core with bound parameters over the tables of `vodrec_assets.schema`, so
the same code reads the embedded SQLite file and the operator's MySQL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.database import engine_for

MAX_K = 100

_rec = schema.recommendations
_pop = schema.popular_programs
_vod = schema.vodinfo
_hist = schema.champion_history
_met = schema.metrics_history


def make_engine(url: str) -> sa.Engine:
    """The API's engine: a small connection pool (vodrec_assets.database, use "serving")."""
    return engine_for(url, "serving")


@dataclass(frozen=True)
class Program:
    rank: int
    program_id: int
    score: float
    program_name: str | None
    ct_cl: str | None
    program_genre: str | None
    source: str


@dataclass(frozen=True)
class ServedModel:
    """Everything a request needs to know about the model being served. Never mutated: the refresher
    builds a new one and swaps the reference, and each request reads the reference once."""

    champion_week: str
    decision_week: str  # the newest champion_history row, which names the champion
    decision: dict[str, Any]  # that row
    promotion: dict[str, Any] | None  # the row of the week the champion was promoted in
    popular: tuple[Program, ...]  # the champion week's popularity list, for unknown subscribers
    has_vodinfo: bool
    loaded_at: str = field(compare=False)
    # program_id -> '"program_id": .., "program_name": .., "ct_cl": .., "program_genre": ..' (JSON members),
    # read from vodinfo with the snapshot: a request never queries the catalogue.
    catalogue: Mapping[int, str] = field(compare=False, default_factory=dict)

    def fragment(self, program_id: int) -> str:
        found = self.catalogue.get(program_id)
        return found if found is not None else catalogue_fragment(program_id, None, None, None)

    @property
    def identity(self) -> tuple:
        """What a refresh compares: a new snapshot is swapped in only when this changes."""
        return (self.decision_week, tuple(sorted(self.decision.items())),
                tuple(sorted((self.promotion or {}).items())), self.popular, self.has_vodinfo)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _program(row: Any, source: str | None = None) -> Program:
    m = row._mapping
    return Program(
        rank=int(m["rank"]), program_id=int(m["program_id"]), score=float(m["score"]),
        program_name=m.get("program_name"), ct_cl=m.get("ct_cl"), program_genre=m.get("program_genre"),
        source=source or str(m["source"]),
    )


_REC_STATEMENT = (
    sa.select(_rec.c.rank, _rec.c.program_id, _rec.c.score, _rec.c.source)
    .where(_rec.c.week == sa.bindparam("week"), _rec.c.subsr_id == sa.bindparam("subsr_id"))
    .order_by(_rec.c.rank)
    .limit(sa.bindparam("k"))
)


def catalogue_fragment(program_id: int, name: Any, ct_cl: Any, genre: Any) -> str:
    """A program's catalogue fields as the JSON members of a response item."""
    return json.dumps({"program_id": program_id, "program_name": name, "ct_cl": ct_cl, "program_genre": genre})[1:-1]


def load_catalogue(conn: sa.Connection) -> dict[int, str]:
    """vodinfo's names by program id (the first row of an id wins, as an exact integer)."""
    out: dict[int, str] = {}
    rows = conn.execute(sa.select(_vod.c.program_id, _vod.c.program_name, _vod.c.ct_cl, _vod.c.program_genre))
    for pid, name, ct_cl, genre in rows:
        if isinstance(pid, str):
            try:
                pid = int(pid)
            except ValueError:
                continue
        if isinstance(pid, int) and pid not in out:
            out[pid] = catalogue_fragment(pid, name, ct_cl, genre)
    return out


class NoChampion(Exception):
    """Nothing can be served yet; the message says why."""


def load_snapshot(engine: sa.Engine) -> ServedModel:
    """The champion named by the newest champion_history row, with its popularity list.

    Raises NoChampion when there is no champion yet or its week has no rows to serve (the refresher
    then keeps whatever it served before)."""
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        if not inspector.has_table(_hist.name):
            raise NoChampion("no champion yet: the champion_history table does not exist")
        latest = conn.execute(sa.select(_hist).order_by(_hist.c.week.desc()).limit(1)).mappings().first()
        if latest is None:
            raise NoChampion("no champion yet: champion_history is empty")
        week = str(latest["champion_week"])
        promotion = conn.execute(
            sa.select(_hist).where(_hist.c.week == sa.bindparam("w"), _hist.c.promoted == 1), {"w": week}
        ).mappings().first()
        has_vodinfo = inspector.has_table(_vod.name)
        has_recs = inspector.has_table(_rec.name) and conn.execute(
            sa.select(sa.literal(1)).select_from(_rec).where(_rec.c.week == sa.bindparam("w")).limit(1), {"w": week}
        ).first() is not None
        popular: tuple[Program, ...] = ()
        if inspector.has_table(_pop.name):
            stmt = (
                sa.select(_pop.c.rank, _pop.c.program_id, _pop.c.score)
                .where(_pop.c.week == sa.bindparam("w"))
                .order_by(_pop.c.rank)
                .limit(MAX_K)
            )
            popular = tuple(_program(r, "popularity") for r in conn.execute(stmt, {"w": week}))
        catalogue = load_catalogue(conn) if has_vodinfo else {}
    if not has_recs and not popular:
        raise NoChampion(f"champion week {week} has no rows in recommendations or popular_programs yet")
    return ServedModel(
        champion_week=week, decision_week=str(latest["week"]), decision=dict(latest),
        promotion=dict(promotion) if promotion else None, popular=popular, has_vodinfo=has_vodinfo,
        loaded_at=_now(), catalogue=catalogue,
    )


def recommend(engine: sa.Engine, week: str, subsr_id: int, k: int) -> tuple[str, list[tuple[int, float]]]:
    """The subscriber's top k of `week` as (source, [(program_id, score), ...]); empty when none."""
    with engine.connect() as conn:
        rows = conn.execute(_REC_STATEMENT, {"week": week, "subsr_id": subsr_id, "k": k}).all()
    if not rows:
        return "", []
    sources = {r[3] for r in rows}
    return (str(sources.pop()) if len(sources) == 1 else "mixed"), [(int(r[1]), float(r[2])) for r in rows]


class WeekLists:
    """One week's lists in process memory, as numpy arrays: the store of a server without Redis.
    A lookup is a binary search over the sorted subscriber ids (int64, exact) and a slice."""

    def __init__(self, week: str, subsr_ids: np.ndarray, starts: np.ndarray, program_ids: np.ndarray,
                 scores: np.ndarray, source: str):
        self.week, self.subsr_ids, self.starts = week, subsr_ids, starts
        self.program_ids, self.scores, self.source = program_ids, scores, source
        self.loaded_at = _now()

    @property
    def rows(self) -> int:
        return len(self.program_ids)

    def lookup(self, subsr_id: int, k: int) -> list[tuple[int, float]]:
        i = int(np.searchsorted(self.subsr_ids, subsr_id))
        if i == len(self.subsr_ids) or int(self.subsr_ids[i]) != subsr_id:
            return []
        lo, hi = int(self.starts[i]), int(self.starts[i + 1])
        hi = min(hi, lo + k)
        return list(zip(self.program_ids[lo:hi].tolist(), self.scores[lo:hi].tolist()))


def count_week_rows(engine: sa.Engine, week: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(_rec).where(_rec.c.week == sa.bindparam("w")),
                                {"w": week}).scalar_one())


def load_week_lists(engine: sa.Engine, week: str, chunk_rows: int = 200_000) -> WeekLists:
    """Every list of `week`, read in key order (the table's primary key: week, subsr_id, rank)."""
    stmt = (sa.select(_rec.c.subsr_id, _rec.c.program_id, _rec.c.score, _rec.c.source)
            .where(_rec.c.week == sa.bindparam("w")).order_by(_rec.c.subsr_id, _rec.c.rank))
    subsr, programs, scores, sources = [], [], [], set()
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(stmt, {"w": week})
        while rows := result.fetchmany(chunk_rows):
            s, p, v, src = zip(*rows)
            subsr.append(np.array(s, dtype=np.int64))
            programs.append(np.array(p, dtype=np.int64))
            scores.append(np.array(v, dtype=np.float64))
            sources.update(src)
    ids = np.concatenate(subsr) if subsr else np.zeros(0, np.int64)
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.zeros(0, np.int64)
    source = sources.pop() if len(sources) == 1 else "mixed"
    return WeekLists(week, ids[first], np.r_[first, len(ids)].astype(np.int64),
                     np.concatenate(programs) if programs else np.zeros(0, np.int64),
                     np.concatenate(scores) if scores else np.zeros(0), source)


def week_metrics(engine: sa.Engine, week: str) -> dict[str, float]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_met.name):
            return {}
        rows = conn.execute(
            sa.select(_met.c.metric, _met.c.value).where(_met.c.week == sa.bindparam("w")).order_by(_met.c.metric),
            {"w": week},
        )
        return {str(m): float(v) for m, v in rows if v is not None}


def week_family(engine: sa.Engine, week: str) -> str | None:
    """The model family whose recommendations `week` published (None before the zoo recorded it)."""
    table = schema.model_families
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(table.name):
            return None
        return conn.execute(sa.select(table.c.family).where(table.c.week == sa.bindparam("w")),
                            {"w": week}).scalar_one_or_none()


def next_metrics_week(engine: sa.Engine, week: str) -> str | None:
    """The first week after `week` with metrics: its next-week keys score `week`'s model."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_met.name):
            return None
        return conn.execute(
            sa.select(sa.func.min(_met.c.week)).where(_met.c.week > sa.bindparam("w")), {"w": week}
        ).scalar_one_or_none()


def metrics_table(engine: sa.Engine) -> dict[str, dict[str, float]]:
    """{metric: {week: value}} over every week of metrics_history."""
    out: dict[str, dict[str, float]] = {}
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_met.name):
            return out
        for week, metric, value in conn.execute(sa.select(_met.c.week, _met.c.metric, _met.c.value)):
            if value is not None:
                out.setdefault(str(metric), {})[str(week)] = float(value)
    return out


def champion_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every champion_history row, newest week first."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_hist.name):
            return []
        return [dict(r) for r in conn.execute(sa.select(_hist).order_by(_hist.c.week.desc())).mappings()]
