"""Bad source rows through the real weekly graph (dg.materialize on tiny data): every class is repaired by
a documented rule or quarantined, counted by reason in the metadata and kept, with its reason, in the
week's quarantined_rows Parquet; the week still materializes. Schema drift fails with table and column."""

from __future__ import annotations

import sqlite3

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from vodrec_assets.recsys.cleaning import REASONS, validate_reference

from .conftest import WEEKS, Workspace
from .test_weekly_graph import metadata

WEEK = WEEKS[0]
INSIDE = "2023-08-09 21:00:00"  # inside WEEK
UNKNOWN_SUBSCRIBER, UNKNOWN_PROGRAM = 99_999_999, 999_999


def _insert(conn: sqlite3.Connection, table: str, rows: list[dict]) -> None:
    for row in rows:
        cols = list(row)
        conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",  # noqa: S608
                     [row[c] for c in cols])


def _a_good_row(conn: sqlite3.Connection, table: str) -> dict:
    cur = conn.execute(f"SELECT * FROM {table} WHERE log_dt >= ? AND log_dt < ? AND e_bool = 0 "  # noqa: S608
                       "AND typeof(subsr_id) = 'integer' AND typeof(program_id) = 'integer' "
                       + ("AND typeof(use_tms) != 'text' AND typeof(disp_rtm_sec) != 'text' AND disp_rtm_sec > 0 "
                          "AND use_tms >= 0 AND use_tms <= disp_rtm_sec " if table == "vods_sumut" else "")
                       + "LIMIT 1", (WEEK, "2023-08-14"))
    names = [d[0] for d in cur.description]
    return dict(zip(names, cur.fetchone()))


# class -> (table, how the planted row differs from a good row, expected reason or None for a repair)
PLANTED = {
    "null subscriber id": ("vods_sumut", {"subsr_id": None}, "null_id"),
    "null program id": ("contlog", {"program_id": None}, "null_id"),
    "subscriber not in userinfo": ("vods_sumut", {"subsr_id": UNKNOWN_SUBSCRIBER}, "unknown_subscriber"),
    "program not in the catalogue (watch)": ("vods_sumut", {"program_id": UNKNOWN_PROGRAM}, "unknown_program"),
    "program not in the catalogue (click)": ("contlog", {"program_id": UNKNOWN_PROGRAM}, "unknown_program"),
    "zero runtime": ("vods_sumut", {"disp_rtm_sec": 0}, "nonpositive_runtime"),
    "negative runtime": ("vods_sumut", {"disp_rtm_sec": -60}, "nonpositive_runtime"),
    "negative use_tms": ("vods_sumut", {"use_tms": -5}, "negative_use_tms"),
    "text in a numeric column": ("vods_sumut", {"use_tms": "N/A"}, "non_numeric"),
    "text in an id column": ("contlog", {"subsr_id": "STB-ERR"}, "non_numeric"),
    "NULL measure": ("vods_sumut", {"disp_rtm_sec": None}, "null_value"),
    "unparsable log_dt": ("contlog", {"log_dt": "2023-08-09 24:60:60"}, "unparsable_log_dt"),
    "e_bool not 0/1": ("vods_sumut", {"e_bool": 7}, "bad_e_bool"),
    "e_bool text": ("contlog", {"e_bool": "yes"}, "non_numeric"),
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory, tiny_source_db):
    """One planted row per class in WEEK (plus an exact duplicate, a use_tms above the runtime, and bad
    catalogue and subscriber ids), then the week materialized."""
    ws = Workspace(tmp_path_factory.mktemp("planted"), tiny_source_db)
    expected: dict[str, int] = {r: 0 for r in REASONS}
    with sqlite3.connect(ws.db_path) as conn:
        for table, change, reason in PLANTED.values():
            _insert(conn, table, [{**_a_good_row(conn, table), "log_dt": INSIDE, **change}])
            expected[reason] += 1
        good = _a_good_row(conn, "vods_sumut")
        _insert(conn, "vods_sumut", [good])  # an exact copy of an existing row
        expected["duplicate"] += 1
        _insert(conn, "vods_sumut", [{**good, "log_dt": INSIDE, "use_tms": 3 * good["disp_rtm_sec"]}])  # repaired
        _insert(conn, "vodinfo", [{"program_id": "P-12", "program_name": "bad id", "e_bool": 0,
                                   "release_date": "2023-01-01 00:00:00"}])
        _insert(conn, "userinfo", [{"subsr_id": "#N/A", "join_dt": "2023-01-01 00:00:00"}])
        expected["non_numeric"] += 2
        clean_rows = {t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE log_dt >= ? AND log_dt < ?",  # noqa: S608
                                      (WEEK, "2023-08-14")).fetchone()[0] for t in ("vods_sumut", "contlog")}
    baseline = Workspace(tmp_path_factory.mktemp("baseline"), tiny_source_db).materialize(WEEK)
    return ws.materialize(WEEK), ws, expected, clean_rows, baseline


def test_every_planted_class_is_counted_by_reason_and_the_week_materializes(planted):
    result, ws, expected, _, baseline = planted
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"weekly_pair_stats", "trained_model", "weekly_metrics", "recommendations"} <= materialized
    before = metadata(baseline, "weekly_pair_stats")  # the generator's own 1 % dirty rows
    after = metadata(result, "weekly_pair_stats")
    added = {r: after[f"quarantined_{r}"] - before[f"quarantined_{r}"] for r in REASONS}
    assert added == expected
    assert after["quarantined_rows"] == sum(after[f"quarantined_{r}"] for r in REASONS)
    assert after["quarantined_reference_rows"] == 2
    # The repair: a use_tms above the runtime is kept with its watch ratio clipped to 1, and counted.
    assert after["repaired_ratio_above_one"] == before["repaired_ratio_above_one"] + 1
    assert metadata(result, "vod_catalog")["quarantined_non_numeric"] == 1
    assert metadata(result, "subscribers")["quarantined_non_numeric"] == 1


def test_quarantined_rows_parquet_keeps_every_row_with_its_reason(planted):
    result, ws, expected, clean_rows, _ = planted
    quarantined = ws.artifacts.read_parquet(f"quarantined_rows/{WEEK}.parquet")
    stats = metadata(result, "weekly_pair_stats")
    assert len(quarantined) == stats["quarantined_rows"]
    counted = quarantined["reason"].value_counts().to_dict()
    assert {r: counted.get(r, 0) for r in REASONS} == {r: stats[f"quarantined_{r}"] for r in REASONS}
    # nothing read was lost: usable + quarantined = every row of the week, per log table
    assert stats["raw_watch_rows"] == clean_rows["vods_sumut"] and stats["raw_click_rows"] == clean_rows["contlog"]
    # the planted values are kept as they were, as text, next to their reason and table
    rows = quarantined.set_index("reason")
    assert "N/A" in set(rows.loc[["non_numeric"], "use_tms"].dropna())
    assert "2023-08-09 24:60:60" in set(rows.loc[["unparsable_log_dt"], "log_dt"])
    assert str(UNKNOWN_PROGRAM) in set(rows.loc[["unknown_program"], "program_id"])
    assert {"vods_sumut", "contlog", "vodinfo", "userinfo"} == set(quarantined["source_table"])
    assert "P-12" in set(quarantined.loc[quarantined["source_table"] == "vodinfo", "program_id"])


def test_reference_tables_quarantine_null_text_and_repeated_ids():
    raw = pd.DataFrame({"program_id": [1, None, "x", 1, 2.5, "3"], "name": list("abcdef")}, dtype=object)
    checked = validate_reference(raw, "program_id")
    assert checked.rows["program_id"].tolist() == [1, 3] and checked.rows["program_id"].dtype == np.int64
    assert checked.quarantined["reason"].tolist() == ["null_id", "non_numeric", "duplicate_id", "fractional_id"]
    assert checked.quarantined["name"].tolist() == ["b", "c", "d", "e"]


def test_a_week_without_any_row_stops_at_ingestion_and_writes_nothing_downstream(tmp_path, tiny_source_db):
    from vodrec_assets.demo import week_outcome

    ws = Workspace(tmp_path, tiny_source_db)
    with sqlite3.connect(ws.db_path) as conn:
        for table in ("vods_sumut", "contlog"):
            conn.execute(f"DELETE FROM {table} WHERE log_dt >= ? AND log_dt < ?", (WEEKS[1], WEEKS[2]))  # noqa: S608
    assert ws.materialize(WEEKS[0]).success
    result = ws.materialize(WEEKS[1], raise_on_error=False)
    assert not result.success
    assert metadata(result, "raw_vod_logs")["rows"] == 0 and metadata(result, "raw_click_logs")["rows"] == 0
    shapes = {e.check_name: e for e in result.get_asset_check_evaluations()}
    for name in ("raw_vod_logs_shape", "raw_click_logs_shape"):
        assert not shapes[name].passed and "no rows" in shapes[name].description  # the run and the UI say why
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized <= {"raw_vod_logs", "raw_click_logs", "subscribers", "vod_catalog"}
    for asset in ("weekly_pair_stats", "cleaned_ratings", "score_matrix", "trained_model", "weekly_metrics",
                  "recommendations"):
        assert not [k for k in ws.artifacts.list_keys(f"{asset}/") if WEEKS[1] in k], asset
    assert week_outcome(result) == "blocked"


@pytest.mark.parametrize("drift, message", [
    ("ALTER TABLE vods_sumut DROP COLUMN disp_rtm_sec", r"'vods_sumut' is missing column\(s\) \['disp_rtm_sec'\]"),
    ("ALTER TABLE contlog RENAME TO contlog_v2", r"source table 'contlog' does not exist"),
    ("ALTER TABLE vodinfo RENAME COLUMN e_bool TO is_adult", r"'vodinfo' is missing column\(s\) \['e_bool'\]"),
])
def test_schema_drift_fails_the_asset_naming_table_and_column_without_retrying(tmp_path, tiny_source_db, drift, message):
    import re

    ws = Workspace(tmp_path, tiny_source_db)
    with sqlite3.connect(ws.db_path) as conn:
        conn.execute("DROP INDEX IF EXISTS ix_vods_sumut_log_dt")
        conn.execute(drift)
    result = ws.materialize(WEEK, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert len(failures) == 1
    assert re.search(message, failures[0].event_specific_data.error.message)
    # Waiting does not bring a column back: no retry was scheduled.
    assert not [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]


def test_log_rows_outside_every_week_are_kept_not_lost(tmp_path, tiny_source_db):
    """NULL log_dt, a clock reset to 1970, a clock jumped to 2037, junk text that sorts after every week:
    no weekly window reads them, so unassigned_log_rows keeps them with their reason."""
    from vodrec_assets.defs.ingestion.assets import unassigned_log_rows

    (tmp_path / "base").mkdir()
    base = Workspace(tmp_path / "base", tiny_source_db)
    before = metadata(dg.materialize([unassigned_log_rows], resources=base.resources), "unassigned_log_rows")
    # The generator's own clock-reset rows (1 % dirty, class log_dt_outside_week) were never read before.
    assert before["vods_sumut_log_dt_before_first_week"] > 0 and before["contlog_log_dt_after_last_week"] > 0
    ws = Workspace(tmp_path, tiny_source_db)
    with sqlite3.connect(ws.db_path) as conn:
        good = _a_good_row(conn, "vods_sumut")
        for log_dt in (None, "1970-01-01 00:03:00", "2037-05-01 12:00:00", "unknown"):
            _insert(conn, "vods_sumut", [{**good, "log_dt": log_dt}])
        _insert(conn, "contlog", [{**_a_good_row(conn, "contlog"), "log_dt": None}])
    after = metadata(dg.materialize([unassigned_log_rows], resources=ws.resources), "unassigned_log_rows")
    assert after["rows"] == before["rows"] + 5
    added = {k: v - before.get(k, 0) for k, v in after.items() if k.startswith(("vods_sumut_", "contlog_"))}
    assert {k: v for k, v in added.items() if v} == {
        "vods_sumut_null_value": 1, "vods_sumut_log_dt_before_first_week": 1, "vods_sumut_log_dt_after_last_week": 1,
        "vods_sumut_unparsable_log_dt": 1, "contlog_null_value": 1}
    kept = ws.artifacts.read_parquet("quarantined_rows/unassigned.parquet")
    assert len(kept) == after["rows"]
    assert {"1970-01-01 00:03:00", "2037-05-01 12:00:00", "unknown"} <= set(kept["log_dt"].dropna())
    assert set(kept["source_table"]) == {"vods_sumut", "contlog"}


def test_a_week_far_smaller_than_its_neighbours_is_blocked_at_ingestion(tmp_path, tiny_source_db):
    """Three weeks of logs, then one that kept 5 % of its rows (a half-lost export): blocked by the volume
    checks, nothing downstream written; the weeks before it pass."""
    from vodrec_assets.demo import week_outcome

    ws = Workspace(tmp_path, tiny_source_db)
    with sqlite3.connect(ws.db_path) as conn:
        for table in ("vods_sumut", "contlog"):
            conn.execute(f"DELETE FROM {table} WHERE log_dt >= ? AND log_dt < ? AND abs(random()) % 100 >= 5",  # noqa: S608
                         (WEEKS[2], "2023-08-28"))
    for week in WEEKS[:2]:
        result = ws.materialize(week)
        assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name.endswith("_volume"))
    result = ws.materialize(WEEKS[2], raise_on_error=False)
    volume = {e.check_name: e for e in result.get_asset_check_evaluations() if e.check_name.endswith("_volume")}
    assert set(volume) == {"raw_vod_logs_volume", "raw_click_logs_volume"}
    assert not any(e.passed for e in volume.values())
    assert "below 10% of the median" in volume["raw_vod_logs_volume"].description
    assert week_outcome(result) == "blocked"
    assert not [k for k in ws.artifacts.list_keys("weekly_pair_stats/") if WEEKS[2] in k]
