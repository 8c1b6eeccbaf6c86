"""The weekly asset graph materialized with dg.materialize on tiny synthetic data."""

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from vodrec_assets.demo import week_outcome
from vodrec_assets.recsys.cleaning import REASONS

from .conftest import WEEKS, Workspace

RANKING = ["precision_at_10", "recall_at_10", "map_at_10", "mar_at_10", "ndcg_at_10", "catalog_coverage",
           "personalization"]
NEXT_WEEK_KEYS = RANKING + [f"popularity_{k}" for k in RANKING]
HOLDOUT_KEYS = [f"holdout_{k}" for k in RANKING] + [f"holdout_popularity_{k}" for k in RANKING]


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == asset]
    assert len(events) == 1, f"{asset} materialized {len(events)} times"
    return {k: v.value for k, v in events[0].materialization.metadata.items()}


@pytest.fixture(scope="module")
def three_weeks(tmp_path_factory, tiny_source_db):
    ws = Workspace(tmp_path_factory.mktemp("three_weeks"), tiny_source_db)
    return ws, [ws.materialize(week) for week in WEEKS]


def test_three_consecutive_weeks_materialize_with_metadata_in_range(three_weeks):
    ws, results = three_weeks
    assert all(r.success for r in results)
    for week, result in zip(WEEKS, results):
        raw = metadata(result, "raw_vod_logs")
        assert raw["rows"] > 0
        stats = metadata(result, "weekly_pair_stats")
        assert 0 <= stats["quarantined_share"] < 0.2
        assert set(f"quarantined_{r}" for r in REASONS) <= set(stats)
        ratings = metadata(result, "cleaned_ratings")
        assert ratings["window_weeks"] == WEEKS.index(week) + 1  # the window grows until it is 12 weeks
        assert 0 < ratings["mean_rating"] <= 1
        matrix = metadata(result, "score_matrix")
        assert 0 < matrix["density"] < 1 and matrix["interactions"] == metadata(result, "trained_model")["pairs"]
        model = metadata(result, "trained_model")
        assert model["hp_no_components"] == 30 and model["hp_epochs"] == 10 and model["hp_loss"] == "warp"
        assert model["hp_random_state"] == 0 and model["hp_use_features"] is True
        assert model["fit_seconds"] > 0
        metrics = metadata(result, "weekly_metrics")
        for key in HOLDOUT_KEYS + ["legacy_diversity"]:
            assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0, key
        if week == WEEKS[0]:
            assert "first week" in metrics["next_week_protocol"]
            assert "precision_at_10" not in metrics
        else:
            for key in NEXT_WEEK_KEYS:
                assert isinstance(metrics[key], float) and 0.0 <= metrics[key] <= 1.0, key
        recs = metadata(result, "recommendations")
        assert recs["rows"] > 0 and recs["rows"] <= 10 * recs["subscribers"]
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["quality_gate"] and checks["ratings_valid"] and checks["score_matrix_consistent"]


def test_recommendations_exclude_watched_and_forbidden_programs(three_weeks):
    ws, _ = three_weeks
    week = WEEKS[-1]
    recs = ws.artifacts.read_parquet(f"recommendations/{week}.parquet")
    ratings = ws.artifacts.read_parquet(f"cleaned_ratings/{week}.parquet")
    catalog = ws.artifacts.read_parquet(f"vod_catalog/{week}.parquet")
    watched = ratings[ratings["watched"] == 1][["subsr_id", "program_id"]]
    overlap = recs.merge(watched, on=["subsr_id", "program_id"])
    assert overlap.empty
    forbidden = set(catalog.loc[pd.to_numeric(catalog["e_bool"]) != 0, "program_id"].astype(int))
    assert not set(recs["program_id"]) & forbidden
    assert recs.groupby("subsr_id")["rank"].max().max() == 10
    assert set(recs["subsr_id"]) == set(ratings["subsr_id"])  # every subscriber seen in the window
    with ws.source.engine.connect() as conn:
        rows = conn.execute(sa.text("select count(*) from recommendations where week = :w"), {"w": week}).scalar_one()
    assert rows == len(recs)


def test_rematerializing_a_week_gives_identical_artifacts_and_rows(three_weeks):
    ws, _ = three_weeks
    week = WEEKS[1]
    keys = [k for k in ws.artifacts.list_keys("") if week in k]
    before = {k: ws.artifacts.get_bytes(k) for k in keys}
    assert any(k.startswith("trained_model/") for k in keys) and any(k.endswith(".parquet") for k in keys)
    query = sa.text("select subsr_id, rank, program_id, score from recommendations where week = :w order by subsr_id, rank")
    with ws.source.engine.connect() as conn:
        rows_before = conn.execute(query, {"w": week}).fetchall()
    assert ws.materialize(week).success
    after = {k: ws.artifacts.get_bytes(k) for k in keys}
    changed = [k for k in keys if before[k] != after[k]]
    assert not changed, f"re-materializing changed {changed}"
    with ws.source.engine.connect() as conn:
        assert conn.execute(query, {"w": week}).fetchall() == rows_before


def test_failed_quality_gate_stops_recommendations(tmp_path, tiny_source_db):
    from vodrec_assets.quality import QualityPolicy

    ws = Workspace(tmp_path, tiny_source_db, quality=QualityPolicy(gate_margin=100.0))  # impossible margin
    result = ws.materialize(WEEKS[0], raise_on_error=False)
    gate = [e for e in result.get_asset_check_evaluations() if e.check_name == "quality_gate"]
    assert len(gate) == 1 and not gate[0].passed
    assert gate[0].severity == dg.AssetCheckSeverity.ERROR
    assert week_outcome(result) == "gated"  # what `vodrec demo` reports: not a failure of the platform
    # An asset backfill may run recommendations in a run of its own, without the blocking check: the asset
    # reads the gate's verdict itself and refuses.
    from vodrec_assets.defs.serving.assets import recommendations

    alone = dg.materialize([recommendations], partition_key=WEEKS[0], resources=ws.resources, instance=ws.instance,
                           raise_on_error=False)
    [failure] = [e for e in alone.all_events if e.is_step_failure]
    assert f"the quality gate of {WEEKS[0]} failed" in failure.event_specific_data.error.message
    assert not ws.artifacts.exists(f"recommendations/{WEEKS[0]}.parquet")
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "weekly_metrics" in materialized and "recommendations" not in materialized
    assert not ws.artifacts.exists(f"recommendations/{WEEKS[0]}.parquet")
    with ws.source.engine.connect() as conn:
        has_table = sa.inspect(conn).has_table("recommendations")
        count = conn.execute(sa.text("select count(*) from recommendations")).scalar_one() if has_table else 0
    assert count == 0


def test_metrics_history_is_rebuilt_by_each_weekly_run_and_not_appended(three_weeks):
    from vodrec_assets.definitions import defs

    ws, results = three_weeks
    for weeks_so_far, result in enumerate(results, start=1):  # the weekly step rebuilt it after its week
        assert metadata(result, "metrics_history")["weeks"] == weeks_so_far
        verdicts = [e for e in result.get_asset_check_evaluations() if e.asset_key.to_user_string() == "metrics_history"]
        assert [e.passed for e in verdicts] == [True]
    for _ in range(2):  # its own job rebuilds it alone; a re-run must not duplicate a week
        result = defs.resolve_job_def("publish_metrics_history").execute_in_process(
            resources=ws.resources, instance=ws.instance)
        assert result.success
        assert metadata(result, "metrics_history")["weeks"] == len(WEEKS)
    history = ws.artifacts.read_parquet("metrics_history/metrics_history.parquet")
    assert history["week"].tolist() == WEEKS
    precision = ws.artifacts.read_json("model_accuracy/precision.json")
    assert precision["columns"] == [["Precision(2023.08.07)"]]
    assert len(precision["values"]) == len(WEEKS) and all(len(v) == 1 for v in precision["values"])
    assert ws.artifacts.get_bytes("metrics_history/metrics.png")[:8] == b"\x89PNG\r\n\x1a\n"
    with ws.source.engine.connect() as conn:
        weeks = conn.execute(sa.text("select week, count(*) from metrics_history where metric = 'holdout_map_at_10' "
                                     "group by week order by week")).fetchall()
    assert [(w, n) for w, n in weeks] == [(w, 1) for w in WEEKS]


def test_weekly_quality_compares_baselines_with_the_numbers_weekly_metrics_reported(three_weeks):
    """`vodrec weekly-quality` re-scores the stored weeks: its LightFM and popularity rows are exactly the
    next-week values weekly_metrics wrote (same protocol, same code), and it adds item-kNN and EASE."""
    from vodrec_assets.benchmarks.weekly_quality import format_table, run

    ws, _ = three_weeks
    result = run(ws.artifacts)
    assert sorted(result["weeks"]) == WEEKS[1:]
    for week, models in result["weeks"].items():
        assert set(models) == {"lightfm", "popularity", "item_knn", "ease"}
        reported = ws.artifacts.read_json(f"weekly_metrics/{week}.json")["metrics"]
        assert models["lightfm"]["precision_at_10"] == pytest.approx(reported["precision_at_10"])
        assert models["lightfm"]["map_at_10"] == pytest.approx(reported["map_at_10"])
        assert models["popularity"]["precision_at_10"] == pytest.approx(reported["popularity_precision_at_10"])
        for metrics in models.values():
            assert 0 <= metrics["precision_at_10"] <= 1 and metrics["users"] == reported["next_week_users"]
    assert set(result["mean"]) == {"lightfm", "popularity", "item_knn", "ease"}
    assert "item_knn" in format_table(result)


def test_a_week_that_breaks_is_failed_not_gated(tmp_path, tiny_source_db):
    ws = Workspace(tmp_path, tiny_source_db)
    with ws.source.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE vods_sumut RENAME TO vods_sumut_old"))
    result = ws.materialize(WEEKS[0], raise_on_error=False)
    assert week_outcome(result) == "failed"
