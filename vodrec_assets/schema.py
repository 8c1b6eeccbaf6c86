"""The source database's tables, named as in the original system (database `vod_rec`).

One declaration serves the generator, the MovieLens importer, the source resource and the
recommendations writer, so SQLite and MySQL get the same columns and types.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

# SQLite keeps datetimes as text; one fixed format (no microseconds) keeps string comparison
# in the window query exact at the week boundary.
SQL_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_SQLITE_DATETIME = sqlite.DATETIME(
    storage_format="%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"
)
DateTimeCol = sa.DateTime().with_variant(_SQLITE_DATETIME, "sqlite")

metadata = sa.MetaData()

# The two ids every log row, pair and recommendation is keyed by.
ID_COLUMNS = ("subsr_id", "program_id")

userinfo = sa.Table(
    "userinfo",
    metadata,
    sa.Column("subsr_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("age_band", sa.String(16)),
    sa.Column("gender", sa.String(8)),
    sa.Column("region", sa.String(32)),
    sa.Column("join_dt", DateTimeCol),
    sa.Column("churn_dt", DateTimeCol, nullable=True),
)

vodinfo = sa.Table(
    "vodinfo",
    metadata,
    sa.Column("program_id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("program_name", sa.String(200)),
    sa.Column("ct_cl", sa.String(32)),
    sa.Column("program_genre", sa.String(64)),
    sa.Column("release_date", DateTimeCol),
    sa.Column("age_limit", sa.Integer),
    sa.Column("disp_rtm_sec", sa.Integer),
    sa.Column("episode_count", sa.Integer),
    sa.Column("e_bool", sa.Integer),
)

vods_sumut = sa.Table(
    "vods_sumut",
    metadata,
    sa.Column("subsr_id", sa.BigInteger, nullable=True),
    sa.Column("program_id", sa.BigInteger, nullable=True),
    sa.Column("program_name", sa.String(200)),
    sa.Column("episode_num", sa.Integer),
    sa.Column("log_dt", DateTimeCol, nullable=True),
    sa.Column("use_tms", sa.Double),
    sa.Column("disp_rtm_sec", sa.Double),
    sa.Column("count_watch", sa.Integer),
    sa.Column("month", sa.Integer),
    sa.Column("e_bool", sa.Integer),
    sa.Index("ix_vods_sumut_log_dt", "log_dt"),
)

contlog = sa.Table(
    "contlog",
    metadata,
    sa.Column("subsr_id", sa.BigInteger, nullable=True),
    sa.Column("program_id", sa.BigInteger, nullable=True),
    sa.Column("program_name", sa.String(200)),
    sa.Column("episode_num", sa.Integer),
    sa.Column("log_dt", DateTimeCol, nullable=True),
    sa.Column("month", sa.Integer),
    sa.Column("e_bool", sa.Integer),
    sa.Index("ix_contlog_log_dt", "log_dt"),
)

# Written by the `recommendations` asset; one week's rows are replaced in one transaction.
recommendations = sa.Table(
    "recommendations",
    metadata,
    sa.Column("week", sa.String(10), nullable=False),
    sa.Column("subsr_id", sa.BigInteger, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("program_id", sa.BigInteger, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # "model" or "popularity"
    # The key is the table's order: one B-tree to write and to delete a week from, where a rowid table
    # kept a second one for the (week, subsr_id) index (docs/performance.md). InnoDB clusters on it too.
    sa.PrimaryKeyConstraint("week", "subsr_id", "rank", name="pk_recommendations"),
    sqlite_with_rowid=False,
)

# Each week's popularity list: what a subscriber the model has never seen is served.
popular_programs = sa.Table(
    "popular_programs",
    metadata,
    sa.Column("week", sa.String(10), nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("program_id", sa.BigInteger, nullable=False),
    sa.Column("score", sa.Double, nullable=False),
    sa.Index("ix_popular_programs_week", "week"),
)

# Every week's metrics, long format, rebuilt whole by `metrics_history` (never appended to).
metrics_history = sa.Table(
    "metrics_history",
    metadata,
    sa.Column("week", sa.String(10), nullable=False),
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("value", sa.Double, nullable=True),
    sa.Index("ix_metrics_history_week", "week"),
)

# One row per week evaluated for promotion by `champion_model`; `is_champion` marks the
# model serving after that week's decision. Rows are replaced per week, so re-runs are safe.
champion_history = sa.Table(
    "champion_history",
    metadata,
    sa.Column("week", sa.String(10), primary_key=True),
    sa.Column("champion_week", sa.String(10), nullable=False),
    sa.Column("promoted", sa.Integer, nullable=False),
    sa.Column("reason", sa.String(400), nullable=False),
    sa.Column("candidate_map_at_10", sa.Double, nullable=True),
    sa.Column("champion_map_at_10", sa.Double, nullable=True),
    sa.Column("decided_at", sa.String(32), nullable=False),
)

# The model family (recsys/zoo.py) behind each week's published recommendations, for `GET /model`.
model_families = sa.Table(
    "model_families",
    metadata,
    sa.Column("week", sa.String(10), primary_key=True),
    sa.Column("family", sa.String(32), nullable=False),
    sa.Column("params", sa.String(1000), nullable=False),  # JSON
)

SOURCE_TABLES = ("userinfo", "vodinfo", "vods_sumut", "contlog")
SERVING_TABLES = ("recommendations", "popular_programs", "metrics_history", "champion_history", "model_families")
LOG_TABLES = ("vods_sumut", "contlog")
TABLES = {
    t.name: t
    for t in (userinfo, vodinfo, vods_sumut, contlog, recommendations, popular_programs, metrics_history, champion_history,
              model_families)
}


def column_names(table: str) -> list[str]:
    return [c.name for c in TABLES[table].columns]


def create_source_tables(engine: sa.Engine, drop_existing: bool = False) -> None:
    tables = [TABLES[name] for name in SOURCE_TABLES]
    if drop_existing:
        metadata.drop_all(engine, tables=tables)
    metadata.create_all(engine, tables=tables)


def create_serving_tables(engine: sa.Engine) -> None:
    metadata.create_all(engine, tables=[TABLES[name] for name in SERVING_TABLES])
