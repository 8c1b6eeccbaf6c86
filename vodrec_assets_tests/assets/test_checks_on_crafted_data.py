"""Each asset check on one week: as Dagster ran it with the materialization (passes), then after a stored
artifact is replaced by crafted bad data (fails with the documented severity). The second time only the
check runs, so the crafted artifact is what it reads."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from vodrec_assets.defs.evaluation.checks import map_regression
from vodrec_assets.defs.features.checks import quarantine_share, ratings_valid, score_matrix_consistent
from vodrec_assets.defs.ingestion.checks import raw_click_logs_shape

from .conftest import WEEKS, Workspace


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory, tiny_source_db):
    ws = Workspace(tmp_path_factory.mktemp("crafted"), tiny_source_db)
    results = [ws.materialize(week) for week in WEEKS[:2]]
    assert all(r.success for r in results)
    return ws, results[-1]


def run_check(ws: Workspace, check) -> dg.AssetCheckResult:
    """The check's own code on the stored week, invoked directly with a partitioned context (Dagster 1.13
    cannot execute a partitioned check without its asset in one in-process run)."""
    context = dg.build_op_context(partition_key=WEEKS[1], resources=ws.resources)
    return check(context)


def evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_every_check_passes_on_the_materialized_week(two_weeks):
    _, result = two_weeks
    found = evaluations(result)
    for name in ("raw_vod_logs_shape", "raw_click_logs_shape", "ratings_valid", "score_matrix_consistent",
                 "quality_gate", "map_regression"):
        assert found[name].passed, (name, found[name].description)


def test_quarantine_share_warns_above_1_percent_and_errs_above_20(two_weeks):
    ws, _ = two_weeks
    key = f"weekly_pair_stats/{WEEKS[1]}.json"
    original = ws.artifacts.read_json(key)
    try:
        for share, severity in ((0.05, dg.AssetCheckSeverity.WARN), (0.35, dg.AssetCheckSeverity.ERROR)):
            ws.artifacts.write_json(key, {**original, "quarantined_share": share, "quarantined_rows": 123})
            evaluation = run_check(ws, quarantine_share)
            assert not evaluation.passed and evaluation.severity == severity
            assert "123 rows" in evaluation.description
        ws.artifacts.write_json(key, {**original, "quarantined_share": 0.001})
        assert run_check(ws, quarantine_share).passed
    finally:
        ws.artifacts.write_json(key, original)


def test_ratings_valid_fails_on_out_of_range_ratings_and_duplicate_pairs(two_weeks):
    ws, _ = two_weeks
    key = f"cleaned_ratings/{WEEKS[1]}.parquet"
    original = ws.artifacts.read_parquet(key)
    try:
        bad = pd.concat([original, original.head(3)], ignore_index=True)
        bad.loc[0, "rating"] = 1.7
        ws.artifacts.write_parquet(key, bad)
        evaluation = run_check(ws, ratings_valid)
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert "1 ratings outside [0, 1], 3 duplicate pairs" in evaluation.description
    finally:
        ws.artifacts.write_parquet(key, original)


def test_score_matrix_check_fails_when_an_index_maps_to_a_repeated_id(two_weeks):
    ws, _ = two_weeks
    key = f"score_matrix/{WEEKS[1]}"
    arrays, manifest = ws.artifacts.read_arrays(key)
    try:
        broken = dict(arrays)
        broken["user_ids"] = arrays["user_ids"].copy()
        broken["user_ids"][1] = broken["user_ids"][0]  # two rows, one subscriber
        ws.artifacts.write_arrays(key, broken, {k: v for k, v in manifest.items() if k not in ("arrays", "sha256")})
        evaluation = run_check(ws, score_matrix_consistent)
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    finally:
        ws.artifacts.write_arrays(key, arrays, {k: v for k, v in manifest.items() if k not in ("arrays", "sha256")})
    assert run_check(ws, score_matrix_consistent).passed


def test_raw_logs_shape_fails_on_an_empty_week_missing_a_column(two_weeks):
    ws, _ = two_weeks
    key = f"raw_click_logs/{WEEKS[1]}.parquet"
    original = ws.artifacts.read_parquet(key)
    try:
        ws.artifacts.write_parquet(key, original.drop(columns=["log_dt"]).head(0))
        evaluation = run_check(ws, raw_click_logs_shape)
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert "missing columns ['log_dt']" in evaluation.description and "no rows" in evaluation.description
    finally:
        ws.artifacts.write_parquet(key, original)


def test_map_regression_warns_when_map_drops_more_than_the_tolerance(two_weeks):
    ws, _ = two_weeks
    key = f"weekly_metrics/{WEEKS[0]}.json"  # last week's record, which this week is compared with
    original = ws.artifacts.read_json(key)
    current = ws.artifacts.read_json(f"weekly_metrics/{WEEKS[1]}.json")["metrics"]["map_at_10"]
    try:
        inflated = {**original, "metrics": {**original["metrics"], "map_at_10": float(np.float64(current) * 3)}}
        ws.artifacts.write_json(key, inflated)
        evaluation = run_check(ws, map_regression)
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    finally:
        ws.artifacts.write_json(key, original)
    assert run_check(ws, map_regression).passed
