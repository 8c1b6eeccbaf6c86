"""Zoned log_dt values belong to the week of their Seoul wall time, even when their text sorts into the
week before or after: each is read by exactly one week (and by unassigned_log_rows when no week has it),
so none is lost or counted twice."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.defs.ingestion import assets as ingestion
from vodrec_assets.recsys.assignment import belongs_to
from vodrec_assets.resources import LocalArtifactStore, SourceDatabase

from .test_properties_ingestion import ANCHOR_PROGRAMS, ANCHOR_USERS, INGEST, _insert

# text -> the week its Seoul time falls in (the partitions start on Monday 2023-08-07)
CROSSING = {
    "2023-08-06T20:00:00Z": "2023-08-07",          # text: Sunday 08-06, Seoul: Monday 08-07 05:00
    "2023-08-13T20:00:00Z": "2023-08-14",          # text: Sunday 08-13, Seoul: Monday 08-14 05:00
    "2023-08-14 01:00:00+0900": "2023-08-14",
    "2023-08-14T01:00:00+11:00": "2023-08-07",     # text: Monday 08-14, Seoul: Sunday 08-13 23:00
    "2023-08-13T12:00:00-23:59": "2023-08-14",     # an extreme offset: Seoul is 32 h 59 min later
    "2023-08-09T12:00:00+09:00": "2023-08-07",
}


def test_each_zoned_row_is_read_by_the_week_of_its_seoul_time(tmp_path):
    db_path = tmp_path / "source.db"
    schema.create_source_tables(sa.create_engine(f"sqlite:///{db_path}"))
    with sqlite3.connect(db_path) as conn:
        _insert(conn, "userinfo", ANCHOR_USERS)
        _insert(conn, "vodinfo", ANCHOR_PROGRAMS)
        _insert(conn, "vods_sumut", [{"subsr_id": ANCHOR_USERS[0]["subsr_id"], "program_id": 10, "log_dt": text,
                                      "use_tms": 1, "disp_rtm_sec": 2, "e_bool": 0, "program_name": text}
                                     for text in CROSSING])
    artifacts = LocalArtifactStore(root=str(tmp_path / "artifacts"))
    resources = {"source_db": SourceDatabase(url=f"sqlite:///{db_path}"), "artifacts": artifacts}
    read: dict[str, str] = {}
    for week in ("2023-08-07", "2023-08-14", "2023-08-21"):
        assert dg.materialize(INGEST, partition_key=week, resources=resources).success
        for text in artifacts.read_parquet(f"raw_vod_logs/{week}.parquet")["log_dt"]:
            assert text not in read, f"{text} read by {read[text]} and {week}"
            read[text] = week
        kept = artifacts.read_parquet(f"weekly_pair_stats/{week}.json".replace(".json", ".parquet"))
        expected = sum(1 for w in CROSSING.values() if w == week)
        assert int(kept["watch_cnt"].sum()) == expected  # none quarantined as outside its week
    assert read == CROSSING


def test_unassigned_rows_follow_the_same_rule():
    log_dt = pd.Series(["2023-08-06T20:00:00Z", "2023-08-06T10:00:00Z", "2023-08-20T20:00:00Z", None,
                        "2023-08-09 24:60:60", "1970-01-01 00:00:00"], dtype="string")
    inside = belongs_to(log_dt, datetime(2023, 8, 7), datetime(2023, 8, 21))
    assert inside.tolist() == [True, False, False, False, True, False]


def test_the_week_window_reads_long_text_in_its_margins_only(tmp_path: Path):
    db_path = tmp_path / "source.db"
    schema.create_source_tables(sa.create_engine(f"sqlite:///{db_path}"))
    with sqlite3.connect(db_path) as conn:
        _insert(conn, "contlog", [{"subsr_id": 1, "program_id": 1, "log_dt": t} for t in (
            "2023-08-06 23:00:00", "2023-08-06T23:00:00Z", "2023-08-04T23:00:00Z", "2023-08-07 00:00:00")])
    text = SourceDatabase(url=f"sqlite:///{db_path}").read_window_text(
        "contlog", datetime(2023, 8, 7), datetime(2023, 8, 14), ["log_dt"])
    assert sorted(text.column("log_dt").to_pylist()) == ["2023-08-06T23:00:00Z", "2023-08-07 00:00:00"]
    assert ingestion._own_rows(text, datetime(2023, 8, 7), datetime(2023, 8, 14)).num_rows == 2


def test_the_demo_finds_its_weeks_in_a_source_with_mixed_zones(tmp_path, tiny_source_db):
    from vodrec_assets.demo import weeks_with_data

    db_path = tmp_path / "source.db"
    db_path.write_bytes(tiny_source_db.read_bytes())
    with sqlite3.connect(db_path) as conn:
        _insert(conn, "vods_sumut", [{"subsr_id": 1, "program_id": 1, "log_dt": t} for t in CROSSING])
    assert weeks_with_data(f"sqlite:///{db_path}") == ["2023-08-07", "2023-08-14", "2023-08-21", "2023-08-28"]
