"""The probe's hostile classes through the real weekly graph on SQLite (whose columns take any text):
zoned datetimes in every datetime column, ids at and beyond 2^53 and int64, non-finite numbers. The week
materializes through recommendations; every planted row is kept (converted) or quarantined under its
own reason; 2^53 and 2^53 + 1 stay two subscribers from the source to the served answer."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from vodrec_assets.artifacts import load_score_matrix
from vodrec_assets.recsys.cleaning import REASONS
from vodrec_assets.serving import store

from ..assets.conftest import WEEKS, Workspace
from ..assets.test_bad_input import _a_good_row, _insert
from ..assets.test_weekly_graph import metadata

WEEK = WEEKS[0]
BIG, BIG_NEXT, TOP = 2**53, 2**53 + 1, 2**63 - 1
# Written four ways, all 2023-08-09 12:00 in Seoul: kept, converted.
ZONED_INSIDE = ["2023-08-09T12:00:00+09:00", "2023-08-09T03:00:00Z", "2023-08-09 12:00:00+0900", "2023-08-09T12:00:00",
                "2023-08-08 22:00:00-05:00"]
INSIDE = "2023-08-10 21:00:00"
NON_FINITE_WATCHES = [{"use_tms": "inf"}, {"disp_rtm_sec": "Infinity"}, {"use_tms": "-inf"}, {"disp_rtm_sec": "NaN"},
                      {"use_tms": "1e999"}, {"count_watch": "inf"}, {"month": "-Infinity"}]
# SQLite stores these as REALs (the column's integer affinity): floats beyond 2^53 name no single id.
OUT_OF_RANGE_IDS = [str(2**63), str(-(2**63) - 1), "1e30"]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, tiny_source_db):
    ws = Workspace(tmp_path_factory.mktemp("hostile"), tiny_source_db)
    expected = {r: 0 for r in REASONS}
    with sqlite3.connect(ws.db_path) as conn:
        programs = [r[0] for r in conn.execute("SELECT program_id FROM vodinfo WHERE e_bool = 0 "
                                               "AND typeof(program_id) = 'integer' ORDER BY program_id LIMIT 6")]
        _insert(conn, "userinfo", [
            {"subsr_id": BIG, "age_band": "30s", "gender": "F", "region": "Seoul", "join_dt": "2023-01-01T00:00:00+09:00"},
            {"subsr_id": BIG_NEXT, "age_band": "40s", "gender": "M", "region": "Busan", "join_dt": "2023-01-01T00:00:00Z",
             "churn_dt": "2024-01-01 00:00:00+0900"},
            {"subsr_id": TOP, "age_band": "20s", "gender": "F", "region": "Seoul", "join_dt": "2023-01-01 00:00:00"},
            {"subsr_id": str(2**63), "join_dt": "2023-01-01 00:00:00"},  # out_of_range
            {"subsr_id": "Infinity", "join_dt": "2023-01-01 00:00:00"},  # non_finite
        ])
        _insert(conn, "vodinfo", [{"program_id": 7_000_001, "program_name": "zoned", "e_bool": 0, "age_limit": 12,
                                   "release_date": "2023-01-01T09:00:00+09:00"},
                                  {"program_id": 7_000_002, "program_name": "inf age", "e_bool": 0,
                                   "age_limit": "inf", "release_date": "2023-01-01 00:00:00"}])  # non_finite
        expected["out_of_range"] += 1
        expected["non_finite"] += 2
        good = _a_good_row(conn, "vods_sumut")
        good_click = _a_good_row(conn, "contlog")
        # 2^53 watches the first three programs, 2^53 + 1 the next three: distinct histories.
        rows = []
        for user, mine in ((BIG, programs[:3]), (BIG_NEXT, programs[3:6])):
            for i, program in enumerate(mine):
                rows.append({**good, "subsr_id": user, "program_id": program, "log_dt": ZONED_INSIDE[i],
                             "use_tms": good["disp_rtm_sec"]})
        rows.append({**good, "subsr_id": TOP, "program_id": programs[0], "log_dt": ZONED_INSIDE[3]})
        rows.append({**good, "subsr_id": BIG, "program_id": programs[1], "log_dt": ZONED_INSIDE[4]})
        _insert(conn, "vods_sumut", rows)
        _insert(conn, "contlog", [{**good_click, "subsr_id": BIG_NEXT, "program_id": programs[4], "log_dt": ZONED_INSIDE[1]}])
        kept = {"vods_sumut": len(rows), "contlog": 1}
        _insert(conn, "vods_sumut", [{**good, "log_dt": INSIDE, **change} for change in NON_FINITE_WATCHES])
        expected["non_finite"] += len(NON_FINITE_WATCHES)
        _insert(conn, "contlog", [{**good_click, "log_dt": INSIDE, "subsr_id": v} for v in OUT_OF_RANGE_IDS])
        _insert(conn, "contlog", [{**good_click, "log_dt": INSIDE, "program_id": "inf"},
                                  {**good_click, "log_dt": INSIDE, "subsr_id": "9" * 5000},  # SQLite: a REAL inf
                                  {**good_click, "log_dt": INSIDE, "subsr_id": "12.5"}])
        expected["out_of_range"] += len(OUT_OF_RANGE_IDS)
        expected["non_finite"] += 2
        expected["fractional_id"] += 1
    baseline = Workspace(tmp_path_factory.mktemp("baseline"), tiny_source_db).materialize(WEEK)
    return ws.materialize(WEEK, raise_on_error=False), ws, expected, kept, baseline, programs


def test_the_hostile_week_materializes_and_every_row_is_counted_under_its_reason(hostile):
    result, ws, expected, kept, baseline, _ = hostile
    assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"vod_catalog", "subscribers", "weekly_pair_stats", "score_matrix", "recommendations"} <= done
    before, after = metadata(baseline, "weekly_pair_stats"), metadata(result, "weekly_pair_stats")
    assert {r: after[f"quarantined_{r}"] - before[f"quarantined_{r}"] for r in REASONS} == expected
    # rows read = usable + quarantined, and the zoned rows are all among the usable ones
    pairs = ws.artifacts.read_parquet(f"weekly_pair_stats/{WEEK}.parquet")
    assert after["raw_watch_rows"] - before["raw_watch_rows"] == kept["vods_sumut"] + len(NON_FINITE_WATCHES)
    assert set(pairs["subsr_id"]) >= {BIG, BIG_NEXT, TOP}
    quarantined = ws.artifacts.read_parquet(f"quarantined_rows/{WEEK}.parquet")
    assert {"Inf", "9.2233720368547758e+18"} <= set(quarantined["subsr_id"])  # as SQLite keeps them
    assert "9.223372036854776e+18" in set(quarantined.loc[quarantined["source_table"] == "userinfo", "subsr_id"])
    assert metadata(result, "vod_catalog")["quarantined_non_finite"] == 1


def test_two_to_the_53_and_its_successor_stay_two_subscribers_end_to_end(hostile):
    result, ws, _, _, _, programs = hostile
    pairs = ws.artifacts.read_parquet(f"weekly_pair_stats/{WEEK}.parquet")
    assert pairs["subsr_id"].dtype == np.int64
    watched = {u: set(pairs.loc[(pairs["subsr_id"] == u) & (pairs["watch_cnt"] > 0), "program_id"]) for u in (BIG, BIG_NEXT)}
    assert watched == {BIG: set(programs[:3]), BIG_NEXT: set(programs[3:6])}
    assert int(pairs.loc[pairs["subsr_id"] == BIG, "watch_cnt"].sum()) == 4
    matrix = load_score_matrix(ws.artifacts, WEEK)
    assert {BIG, BIG_NEXT, TOP} <= set(matrix.user_ids.tolist())
    recs = pd.read_sql("SELECT subsr_id, program_id, source FROM recommendations WHERE week = ?",
                       sqlite3.connect(ws.db_path), params=(WEEK,))
    big = recs[recs["subsr_id"].isin([BIG, BIG_NEXT, TOP])]
    assert set(big["subsr_id"]) == {BIG, BIG_NEXT, TOP} and set(big["source"]) == {"model"}
    # Served: the second of the two is answered from its own model row, not the popularity list.
    engine = store.make_engine(f"sqlite:///{ws.db_path}")
    served = store.load_snapshot(engine)
    for user in (BIG, BIG_NEXT, TOP):
        source, items = store.recommend(engine, served.champion_week, user, 5)
        assert source == "model" and items
        # none of what the subscriber already watched (the other one's history is not theirs)
        assert not {program_id for program_id, _ in items} & watched.get(user, set())
