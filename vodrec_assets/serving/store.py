"""What the serving API reads, and the immutable "served model" snapshot it reads it through.

Every query is SQLAlchemy Core with bound parameters over the tables of `vodrec_assets.schema`, so
the same code reads the embedded SQLite file and the operator's MySQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from vodrec_assets import schema

MAX_K = 100
POOL_SIZE = 4
POOL_OVERFLOW = 4

_rec = schema.recommendations
_pop = schema.popular_programs
_vod = schema.vodinfo
_hist = schema.champion_history
_met = schema.metrics_history


def make_engine(url: str) -> sa.Engine:
    """A small connection pool: a handful of connections is enough for index lookups of ~1 ms."""
    kwargs: dict[str, Any] = {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_timeout": 10}
    if url.startswith("sqlite"):
        # Waits (rather than failing) while the pipeline commits a week's rows; thread-shared pool.
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        kwargs["poolclass"] = sa.pool.QueuePool
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_recycle"] = 1800
    return sa.create_engine(url, **kwargs)


@dataclass(frozen=True)
class Program:
    rank: int
    program_id: int
    score: float
    program_name: str | None
    ct_cl: str | None
    program_genre: str | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank, "program_id": self.program_id, "program_name": self.program_name,
            "ct_cl": self.ct_cl, "program_genre": self.program_genre, "score": self.score, "source": self.source,
        }


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


def _with_names(table: sa.Table, has_vodinfo: bool, *cols: sa.ColumnElement) -> sa.Select:
    if not has_vodinfo:
        return sa.select(*cols)
    return sa.select(*cols, _vod.c.program_name, _vod.c.ct_cl, _vod.c.program_genre).select_from(
        table.outerjoin(_vod, _vod.c.program_id == table.c.program_id)
    )


def _recommendation_statement(has_vodinfo: bool) -> sa.Select:
    return (
        _with_names(_rec, has_vodinfo, _rec.c.rank, _rec.c.program_id, _rec.c.score, _rec.c.source)
        .where(_rec.c.week == sa.bindparam("week"), _rec.c.subsr_id == sa.bindparam("subsr_id"))
        .order_by(_rec.c.rank)
        .limit(sa.bindparam("k"))
    )


_REC_WITH_NAMES = _recommendation_statement(True)
_REC_PLAIN = _recommendation_statement(False)


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
                _with_names(_pop, has_vodinfo, _pop.c.rank, _pop.c.program_id, _pop.c.score)
                .where(_pop.c.week == sa.bindparam("w"))
                .order_by(_pop.c.rank)
                .limit(MAX_K)
            )
            popular = tuple(_program(r, "popularity") for r in conn.execute(stmt, {"w": week}))
    if not has_recs and not popular:
        raise NoChampion(f"champion week {week} has no rows in recommendations or popular_programs yet")
    return ServedModel(
        champion_week=week, decision_week=str(latest["week"]), decision=dict(latest),
        promotion=dict(promotion) if promotion else None, popular=popular, has_vodinfo=has_vodinfo,
        loaded_at=_now(),
    )


def recommend(engine: sa.Engine, served: ServedModel, subsr_id: int, k: int) -> tuple[str, list[Program]]:
    """The subscriber's top k of the served week, else the week's popularity list."""
    stmt = _REC_WITH_NAMES if served.has_vodinfo else _REC_PLAIN
    with engine.connect() as conn:
        rows = [_program(r) for r in conn.execute(stmt, {"week": served.champion_week, "subsr_id": subsr_id, "k": k})]
    if rows:
        sources = {p.source for p in rows}
        return (sources.pop() if len(sources) == 1 else "mixed"), rows
    return "popularity", list(served.popular[:k])


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
