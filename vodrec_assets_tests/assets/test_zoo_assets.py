"""The weekly graph trains the family the run config or the recorded backtest choice names; the
on-demand backtest job records that choice and reports the comparison."""

import dagster as dg
import pytest

from vodrec_assets.asset_defaults import WEEKLY_STEP
from vodrec_assets.defs.training.backtest import BACKTEST_ASSET, backtest_job
from vodrec_assets.artifacts import load_lightfm_state, load_model
from vodrec_assets.artifacts import BACKTEST_CHOICE
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.recsys.zoo import ZooModel
from vodrec_assets.defs.jobs import weekly_retrain

from .conftest import ASSETS, WEEKS, Workspace
from .test_warm_start_asset import _train

ALL_WEEKS = [*WEEKS, "2023-08-28"]


@pytest.fixture(scope="module")
def four_weeks(tmp_path_factory, tiny_source_db):
    ws = Workspace(tmp_path_factory.mktemp("zoo"), tiny_source_db)
    for week in ALL_WEEKS:
        assert ws.materialize(week).success
    return ws


def test_without_a_choice_the_weekly_model_is_lightfm(four_weeks):
    ws = four_weeks
    assert not BACKTEST_CHOICE.exists(ws.artifacts)
    meta = _train(ws, WEEKS[1])
    assert meta["model_family"] == "lightfm" and meta["family_source"].startswith("default")
    assert load_model(ws.artifacts, WEEKS[1])[0].family == "lightfm"


def test_the_run_config_switches_the_whole_week_to_another_family(tmp_path, tiny_source_db):
    # A lenient gate: tiny's first week is too small for EASE to beat popularity on the holdout, and
    # publishing is what this test follows (the gate has its own tests).
    ws = Workspace(tmp_path, tiny_source_db, QualityPolicy(gate_margin=-0.5))
    assert ws.materialize(WEEKS[0]).success
    assert load_lightfm_state(ws.artifacts, WEEKS[0]) is not None
    result = dg.materialize(
        [*ASSETS], selection=weekly_retrain.selection, partition_key=WEEKS[0], resources=ws.resources,
        instance=ws.instance, run_config={"ops": {WEEKLY_STEP: {"config": {"trained_model": {
            "family": "ease", "family_params": {"l2": 50.0}}}}}})
    assert result.success
    model, users, items = load_model(ws.artifacts, WEEKS[0])
    assert isinstance(model, ZooModel) and model.family == "ease" and model.params == {"l2": 50.0}
    assert ws.artifacts.read_json(f"trained_model/{WEEKS[0]}.json")["family"] == "ease"
    # the stale LightFM state of the earlier run is retired: next week's LightFM cannot continue it
    assert load_lightfm_state(ws.artifacts, WEEKS[0]) is None
    metrics = ws.artifacts.read_json(f"weekly_metrics/{WEEKS[0]}.json")
    assert metrics["model_family"] == "ease" and metrics["metrics"]["holdout_precision_at_10"] > 0
    recs = ws.source.read_table("recommendations")
    assert len(recs[recs["week"] == WEEKS[0]]) > 0
    # the served family is visible in GET /model
    from fastapi.testclient import TestClient

    from vodrec_assets.serving.app import create_app

    with TestClient(create_app(ws.source.url)) as client:
        model_info = client.get("/model").json()
    assert model_info["champion_week"] == WEEKS[0] and model_info["model_family"] == "ease"
    # the next week, default config and no backtest choice: LightFM again, fitted cold
    assert ws.materialize(WEEKS[1]).success
    meta = {k: v.value for k, v in ws.instance.fetch_materializations(
        dg.AssetKey("trained_model"), limit=1).records[0].asset_materialization.metadata.items()}
    assert meta["model_family"] == "lightfm" and meta["warm_start"] == f"no: no LightFM state stored for {WEEKS[0]}"
    assert ws.artifacts.read_json(f"weekly_metrics/{WEEKS[1]}.json")["notes"]["next_week_model_family"] == "ease"


def test_an_unknown_family_in_the_run_config_fails_by_name(four_weeks):
    with pytest.raises(Exception, match="unknown model family 'svd'"):
        _train(four_weeks, WEEKS[1], {"family": "svd"})


def test_the_backtest_job_records_a_choice_that_the_weekly_model_then_trains(four_weeks):
    ws = four_weeks
    result = backtest_job.execute_in_process(
        resources={"artifacts": ws.artifacts}, instance=ws.instance,
        run_config={"ops": {"run_model_zoo_backtest": {"config": {
            "held_out_weeks": 2, "families": ["lightfm", "popularity", "ease", "item_knn"]}}}})
    assert result.success
    choice = BACKTEST_CHOICE.read(ws.artifacts)
    assert choice["held_out_weeks"] == ALL_WEEKS[-2:] and choice["tuning_weeks"] == [ALL_WEEKS[1]]
    assert choice["family"] in {"lightfm", "popularity", "ease", "item_knn"} and choice["reason"]
    [observation] = ws.instance.fetch_observations(BACKTEST_ASSET, limit=5).records
    meta = observation.asset_observation.metadata
    assert meta["chosen_family"].value == choice["family"]
    for family in ("lightfm", "popularity", "ease", "item_knn"):
        assert isinstance(meta[f"{family}_precision_at_10"].value, float)
    assert ws.artifacts.exists("backtest/comparison.png") and ws.artifacts.list_keys("backtest/runs/")
    # the backtest never materializes anything: the weekly graph's history is untouched
    assert not result.get_asset_materialization_events()

    # Whatever it chose, the weekly model now trains the recorded choice; a run config can say no.
    BACKTEST_CHOICE.write(ws.artifacts, {**choice, "family": "item_knn", "params": {"neighbours": 7, "shrink": 0.0}})
    meta = _train(ws, ALL_WEEKS[-1])
    assert meta["model_family"] == "item_knn" and meta["family_source"].startswith("backtest choice")
    assert load_model(ws.artifacts, ALL_WEEKS[-1])[0].params["neighbours"] == 7
    assert _train(ws, ALL_WEEKS[-1], {"use_backtest_choice": False})["model_family"] == "lightfm"
    assert _train(ws, ALL_WEEKS[-1], {"family": "popularity"})["model_family"] == "popularity"


def test_the_backtest_is_in_no_weekly_job_nor_in_materialize_all():
    from vodrec_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    node = graph.get(BACKTEST_ASSET)
    assert node.group_name == "backtest" and not node.is_executable  # observed only, by the job
    assert BACKTEST_ASSET not in dg.AssetSelection.all().resolve(graph)  # what "Materialize all" selects
    jobs_running_it = [job.name for job in defs.resolve_all_job_defs()
                       if "run_model_zoo_backtest" in {n.name for n in job.nodes}]
    assert jobs_running_it == ["backtest"]
    assert not defs.resolve_job_def("backtest").partitions_def
