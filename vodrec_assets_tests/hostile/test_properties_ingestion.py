"""Property: hostile rows in all four tables of an SQLite source (whose columns take any value) go through
the real ingestion and cleaning assets (dg.materialize of vod_catalog, subscribers, raw_*_logs and
weekly_pair_stats) without a crash; every row the week read is accounted for (counted by a separate
query), and the reduction keeps the anchors 2^53 and 2^53 + 1 apart with exact ids.

The deep profile (VODREC_HYPOTHESIS_PROFILE=deep) also runs the whole weekly graph on a tiny generated
week with the hostile rows added, through recommendations."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from vodrec_assets import schema
from vodrec_assets.defs.features import assets as features
from vodrec_assets.defs.ingestion import assets as ingestion
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.resources import LocalArtifactStore, SourceDatabase

from ..assets.conftest import Workspace
from .conftest import GRAPH_EXAMPLES, SLOW_EXAMPLES, TALLY
from .strategies import (
    BIG, INT64_MAX, INT64_MIN, KNOWN_PROGRAMS, KNOWN_USERS, WEEK_END, WEEK_START, log_rows, oracle_id, oracle_seoul, program_rows, subscriber_rows,
)

WEEK = "2023-08-07"
WINDOW = ("2023-08-07 00:00:00", "2023-08-14 00:00:00")
INGEST = [ingestion.vod_catalog, ingestion.subscribers, ingestion.raw_vod_logs, ingestion.raw_click_logs,
          features.weekly_pair_stats]
# Every id the strategies treat as known is in the reference tables (BIG and BIG + 1 first).
ANCHOR_USERS = [{"subsr_id": u, "join_dt": "2023-01-01 00:00:00"} for u in KNOWN_USERS[3:] + KNOWN_USERS[:3]]
ANCHOR_PROGRAMS = [{"program_id": p, "e_bool": 0, "release_date": "2023-01-01 00:00:00", "disp_rtm_sec": 1000}
                   for p in KNOWN_PROGRAMS]
ANCHOR_WATCHES = [{"subsr_id": u, "program_id": p, "log_dt": "2023-08-09 12:00:00", "use_tms": 500, "disp_rtm_sec": 1000,
                   "e_bool": 0} for u, p in ((BIG, 10), (BIG + 1, 11))]

hostile_source = st.fixed_dictionaries({
    "userinfo": st.lists(subscriber_rows, max_size=8), "vodinfo": st.lists(program_rows, max_size=8),
    "vods_sumut": st.lists(log_rows(True), max_size=15), "contlog": st.lists(log_rows(False), max_size=15),
})


def _bindable(value):
    """sqlite3 binds int64 only: a larger integer goes in as its text (SQLite then keeps a REAL). A row
    repeating a reference table's primary key is left out by SQLite (OR IGNORE)."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        return str(value)
    return value


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict]) -> None:
    for row in rows:
        cols = list(row)
        conn.execute(f'INSERT OR IGNORE INTO {table} ({", ".join(cols)}) VALUES ({", ".join("?" * len(cols))})',  # noqa: S608
                     [_bindable(row[c]) for c in cols])


def _plant(db_path: Path, source: dict) -> None:
    with sqlite3.connect(db_path) as conn:
        _insert(conn, "userinfo", ANCHOR_USERS + source["userinfo"])
        _insert(conn, "vodinfo", ANCHOR_PROGRAMS + source["vodinfo"])
        _insert(conn, "vods_sumut", ANCHOR_WATCHES + source["vods_sumut"])
        _insert(conn, "contlog", source["contlog"])


def _belongs(text, start: datetime, end: datetime) -> bool:
    """The assignment rule, written again: text sorting into [start, end), except long text naming a Seoul
    time within two days of its own week, which belongs to that week (Python's ISO 8601 reader)."""
    if not isinstance(text, str):
        return False  # NULL, or a number: SQLite sorts numbers before all text
    seoul = oracle_seoul(text) if len(text) > 19 else None
    if seoul is not None:
        monday = datetime.combine(seoul.date() - timedelta(days=seoul.weekday()), datetime.min.time())
        if (monday - timedelta(days=2)).isoformat(sep=" ") <= text < (monday + timedelta(days=9)).isoformat(sep=" "):
            return start <= seoul < end
    return WINDOW[0] <= text < WINDOW[1]


def _week_rows(db_path: Path, table: str) -> list[tuple]:
    """The rows the week must read, by the test's own query (sqlite3, not the resource) and rule."""
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute(f"SELECT subsr_id, program_id, log_dt FROM {table}").fetchall()  # noqa: S608
    return [(s, p) for s, p, when in rows if _belongs(when, WEEK_START, WEEK_END)]


def _count(db_path: Path, table: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608 - our table names


def _meta(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset)
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _check_week(db_path: Path, artifacts: LocalArtifactStore, result: dg.ExecuteInProcessResult) -> None:
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    stats = _meta(result, "weekly_pair_stats")
    pairs = artifacts.read_parquet(f"weekly_pair_stats/{WEEK}.parquet")
    read = {t: _week_rows(db_path, t) for t in ("vods_sumut", "contlog")}
    assert stats["raw_watch_rows"] == len(read["vods_sumut"]) and stats["raw_click_rows"] == len(read["contlog"])
    log_quarantined = stats["quarantined_rows"] - stats["quarantined_reference_rows"]
    kept = int(pairs["watch_cnt"].sum() + pairs["click_cnt"].sum())
    excluded = stats["excluded_e_bool_watch_rows"] + stats["excluded_e_bool_click_rows"]
    # read = kept (unchanged or repaired) + excluded by e_bool + quarantined with a reason
    assert stats["raw_watch_rows"] + stats["raw_click_rows"] == kept + excluded + log_quarantined
    TALLY.update({"ingestion_weeks": 1, "ingestion_rows_in_source": sum(_count(db_path, t) for t in schema.SOURCE_TABLES),
                  "ingestion_log_rows_read": stats["raw_watch_rows"] + stats["raw_click_rows"],
                  "ingestion_kept": kept, "ingestion_excluded_e_bool": excluded,
                  **{f"ingestion_{k}": v for k, v in stats.items() if k.startswith("quarantined_") and v
                     and k not in ("quarantined_share",)}})
    assert stats["quarantined_rows"] == sum(v for k, v in stats.items() if k.startswith("quarantined_") and k not in (
        "quarantined_rows", "quarantined_reference_rows", "quarantined_share"))
    exact = {(oracle_id(s), oracle_id(p)) for rows in read.values() for s, p in rows}
    assert set(zip(pairs["subsr_id"].tolist(), pairs["program_id"].tolist())) <= exact
    assert pairs["subsr_id"].dtype == "int64"
    watched = set(zip(pairs.loc[pairs["watch_cnt"] > 0, "subsr_id"].tolist(),
                      pairs.loc[pairs["watch_cnt"] > 0, "program_id"].tolist()))
    assert {(BIG, 10), (BIG + 1, 11)} <= watched
    for asset, table in (("subscribers", "userinfo"), ("vod_catalog", "vodinfo")):
        stored = artifacts.read_parquet(f"{asset}/{WEEK}.parquet")
        quarantined = artifacts.read_parquet(f"{asset}/{WEEK}.quarantined.parquet")
        assert _meta(result, asset)[{"subscribers": "subscribers", "vod_catalog": "programs"}[asset]] == \
            len(stored) + len(quarantined)


@settings(max_examples=SLOW_EXAMPLES)
@given(source=hostile_source)
def test_hostile_sources_go_through_ingestion_and_cleaning(source):
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "source.db"
        schema.create_source_tables(sa.create_engine(f"sqlite:///{db_path}"))
        _plant(db_path, source)
        artifacts = LocalArtifactStore(root=str(Path(tmp) / "artifacts"))
        result = dg.materialize(INGEST, partition_key=WEEK, raise_on_error=False,
                                resources={"source_db": SourceDatabase(url=f"sqlite:///{db_path}"),
                                           "artifacts": artifacts})
        _check_week(db_path, artifacts, result)


@pytest.mark.skipif(GRAPH_EXAMPLES == 0, reason="the deep profile only (VODREC_HYPOTHESIS_PROFILE=deep)")
def test_hostile_rows_in_a_real_week_go_through_the_whole_weekly_graph(tiny_source_db):
    @settings(max_examples=GRAPH_EXAMPLES)
    @given(source=hostile_source)
    def run(source):
        with tempfile.TemporaryDirectory() as tmp:
            ws = Workspace(Path(tmp), tiny_source_db, QualityPolicy())
            _plant(ws.db_path, source)
            result = ws.materialize(WEEK, raise_on_error=False)
            failed = [e.step_key for e in result.all_events if e.is_step_failure]
            gate = [e for e in result.get_asset_check_evaluations() if not e.passed]
            assert not failed or gate, failed  # only a quality gate may stop the week, never a crash
            _check_week(ws.db_path, ws.artifacts, dg.materialize(
                INGEST, partition_key=WEEK, resources=ws.resources, instance=ws.instance, raise_on_error=False))
            shutil.rmtree(Path(tmp) / "artifacts", ignore_errors=True)

    run()
