"""trained_model warm-starts from the previous week's stored LightFM state, and says so."""

import dagster as dg
import pytest

from vodrec_assets.artifacts import load_lightfm_state, load_score_matrix
from vodrec_assets.defs.training.assets import trained_model

from .conftest import WEEKS, Workspace


@pytest.fixture(scope="module")
def two_weeks(tmp_path_factory, tiny_source_db):
    ws = Workspace(tmp_path_factory.mktemp("warm"), tiny_source_db)
    assert ws.materialize(WEEKS[0]).success
    assert ws.materialize(WEEKS[1]).success
    return ws


def _train(ws, week, config=None):
    result = dg.materialize([trained_model], partition_key=week, resources=ws.resources, instance=ws.instance,
                            run_config={"ops": {"trained_model": {"config": config or {}}}})
    [event] = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_the_first_week_is_fitted_cold_and_the_second_continues_from_it(two_weeks):
    ws = two_weeks
    records = ws.instance.fetch_materializations(dg.AssetKey("trained_model"), limit=10).records
    by_week = {r.partition_key: {k: v.value for k, v in r.asset_materialization.metadata.items()} for r in records}
    first, second = by_week[WEEKS[0]], by_week[WEEKS[1]]
    assert first["warm_start"] == "no: first week" and first["fit_epochs"] == 10
    assert first["fit_pairs"] == first["pairs"]
    assert second["warm_start"] == f"from {WEEKS[0]}" and second["fit_epochs"] == 5
    # only the pairs watched in the new week are trained on, a part of the window's
    assert 0 < second["fit_pairs"] < second["pairs"]
    assert second["carried_user_columns"] > 0 and second["carried_item_columns"] > 0
    matrix = load_score_matrix(ws.artifacts, WEEKS[1])
    state, users, items, config = load_lightfm_state(ws.artifacts, WEEKS[1])
    assert users.n_columns == second["carried_user_columns"] + second["new_user_columns"]
    assert list(users.ids) == list(matrix.user_ids) and list(items.ids) == list(matrix.item_ids)
    assert state.users.embeddings.shape == (users.n_columns, config["no_components"])
    # the stored config is the cold one, which the holdout protocol refits
    assert ws.artifacts.read_json(f"trained_model/{WEEKS[1]}.json")["config"]["epochs"] == 10


def test_warm_start_off_or_other_hyperparameters_fit_from_scratch(two_weeks):
    ws = two_weeks
    off = _train(ws, WEEKS[1], {"warm_start": False})
    assert off["warm_start"] == "off (config)" and off["fit_epochs"] == 10 and off["fit_pairs"] == off["pairs"]
    other = _train(ws, WEEKS[1], {"no_components": 8})
    assert other["warm_start"] == f"no: {WEEKS[0]}'s model differs in no_components" and other["fit_epochs"] == 10


def test_a_previous_week_without_stored_state_means_a_cold_fit(tmp_path, tiny_source_db):
    ws = Workspace(tmp_path, tiny_source_db)
    assert ws.materialize(WEEKS[0]).success
    for suffix in ("npz", "json"):
        (tmp_path / "artifacts" / "lightfm_state" / f"{WEEKS[0]}.{suffix}").unlink()
    assert ws.materialize(WEEKS[1]).success
    records = ws.instance.fetch_materializations(dg.AssetKey("trained_model"), limit=10).records
    meta = {r.partition_key: r.asset_materialization.metadata for r in records}[WEEKS[1]]
    assert meta["warm_start"].value == f"no: no LightFM state stored for {WEEKS[0]}"
