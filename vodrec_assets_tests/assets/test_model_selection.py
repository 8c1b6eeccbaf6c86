"""The select_model op job searches a grid on a week's holdout; trained_model can take its winner. Not an
asset: "Materialize all" must never start the grid search."""

import dagster as dg
import pandas as pd
import pytest

from vodrec_assets.artifacts import load_score_matrix
from vodrec_assets.defs.training.assets import select_model, trained_model
from vodrec_assets.recsys.evaluation import holdout_protocol
from vodrec_assets.recsys.model import LightFMConfig
from vodrec_assets.recsys.selection import search

from .conftest import WEEKS, Workspace

GRID = {"no_components": [4, 16], "epochs": [2], "learning_rate": [0.05], "use_features": [False]}


@pytest.fixture(scope="module")
def selected(tmp_path_factory, tiny_source_db):
    ws = Workspace(tmp_path_factory.mktemp("selection"), tiny_source_db)
    assert ws.materialize(WEEKS[0]).success
    result = select_model.execute_in_process(
        partition_key=WEEKS[0], resources=ws.resources, instance=ws.instance,
        run_config={"ops": {"search_hyperparameters": {"config": {**GRID, "seeds": [0, 1]}}}},
    )
    return ws, result


def test_search_keeps_one_row_per_configuration_best_first_averaged_over_seeds(selected):
    ws, _ = selected
    matrix = load_score_matrix(ws.artifacts, WEEKS[0])
    table = search(matrix, LightFMConfig(), GRID, "holdout_map_at_10", seeds=(0, 1))
    assert len(table) == 2 and sorted(table["no_components"]) == [4, 16]
    assert list(table["holdout_map_at_10"]) == sorted(table["holdout_map_at_10"], reverse=True)
    row = table[table["no_components"] == 4].iloc[0]
    runs = [holdout_protocol(matrix, LightFMConfig(no_components=4, epochs=2, random_state=s)) for s in (0, 1)]
    assert row["holdout_map_at_10"] == pytest.approx((runs[0]["holdout_map_at_10"] + runs[1]["holdout_map_at_10"]) / 2)


def test_model_selection_records_the_winner_and_the_whole_table(selected):
    ws, result = selected
    assert result.success
    assert not result.get_asset_materialization_events()  # it reports, it does not materialize
    [observation] = [e.asset_observation_data.asset_observation for e in result.all_events
                     if e.event_type_value == "ASSET_OBSERVATION"]
    assert observation.asset_key == dg.AssetKey("trained_model") and observation.partition == WEEKS[0]
    meta = {k.removeprefix("model_selection_"): v.value for k, v in observation.metadata.items()}
    assert meta["configurations"] == 2
    assert set(meta["winner"]) == set(GRID)
    record = ws.artifacts.read_json(f"model_selection/{WEEKS[0]}.json")
    table = pd.DataFrame(record["table"])
    assert record["winner"] == meta["winner"]
    best = table.iloc[0]
    assert record["winner"]["no_components"] == int(best["no_components"])
    assert meta["best_holdout_map_at_10"] == pytest.approx(float(table["holdout_map_at_10"].max()), rel=1e-3)


def test_trained_model_takes_the_newest_selection_at_or_before_its_week(selected):
    ws, _ = selected
    assert ws.materialize(WEEKS[1]).success  # upstream of week 2's trained_model
    result = dg.materialize(
        [trained_model], partition_key=WEEKS[1], resources=ws.resources, instance=ws.instance,
        run_config={"ops": {"trained_model": {"config": {"use_model_selection": True}}}},
    )
    [event] = result.get_asset_materialization_events()
    meta = {k: v.value for k, v in event.materialization.metadata.items()}
    winner = ws.artifacts.read_json(f"model_selection/{WEEKS[0]}.json")["winner"]
    assert meta["config_source"] == f"model_selection of {WEEKS[0]}"
    manifest = ws.artifacts.read_json(f"trained_model/{WEEKS[1]}.json")
    for key, value in winner.items():
        assert manifest["config"][key] == value and meta[f"hp_{key}"] == value


def test_use_model_selection_without_any_selection_fails_clearly(tmp_path, tiny_source_db):
    ws = Workspace(tmp_path, tiny_source_db)
    assert ws.materialize(WEEKS[0]).success
    result = dg.materialize(
        [trained_model], partition_key=WEEKS[0], resources=ws.resources, instance=ws.instance,
        run_config={"ops": {"trained_model": {"config": {"use_model_selection": True}}}}, raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "no model_selection exists" in failure.event_specific_data.error.message


def test_materialize_all_never_selects_the_grid_search():
    from vodrec_assets.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert "model_selection" not in keys
    job_steps = {node.name for node in select_model.graph.nodes}
    assert job_steps == {"search_hyperparameters"}
