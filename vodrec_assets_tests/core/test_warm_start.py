"""Warm start: last week's LightFM parameters carried to this week's columns, and training continuing from them."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import LightFMConfig, fit_lightfm
from vodrec_assets.recsys.warm_start import (
    ColumnKeys, FeatureParameters, LightFMState, carry_over, column_keys, pairs_watched_in,
)


def _state(ids_users, names_users, ids_items, names_items, d=4, seed=0):
    rng = np.random.RandomState(seed)
    side = lambda n: FeatureParameters(  # noqa: E731
        embeddings=rng.rand(n, d).astype(np.float32), embedding_gradients=rng.rand(n, d).astype(np.float32) + 1,
        biases=rng.rand(n).astype(np.float32), bias_gradients=rng.rand(n).astype(np.float32) + 1)
    users = ColumnKeys(np.asarray(ids_users, np.int64), np.asarray(names_users, dtype="U"))
    items = ColumnKeys(np.asarray(ids_items, np.int64), np.asarray(names_items, dtype="U"))
    return LightFMState(users=side(users.n_columns), items=side(items.n_columns)), users, items


def test_carry_over_copies_rows_of_the_same_id_or_feature_name_and_starts_new_ones_fresh():
    prev, prev_users, prev_items = _state([10, 20, 30], ["gender=F", "region=1"], [7, 8], ["genre=drama"])
    users = ColumnKeys(np.array([20, 25, 30], np.int64), np.array(["region=1", "region=2", "gender=F"]))
    items = ColumnKeys(np.array([8, 9], np.int64), np.array(["genre=drama"]))
    state, counts = carry_over(prev, prev_users, prev_items, users, items, 4, np.random.RandomState(0))
    assert counts == {"carried_user_columns": 4, "new_user_columns": 2, "carried_item_columns": 2, "new_item_columns": 1}
    # users: 20 <- row 1, 30 <- row 2, region=1 <- row 4, gender=F <- row 3; 25 and region=2 are new
    for new_row, old_row in ((0, 1), (2, 2), (3, 4), (5, 3)):
        assert np.array_equal(state.users.embeddings[new_row], prev.users.embeddings[old_row])
        assert np.array_equal(state.users.embedding_gradients[new_row], prev.users.embedding_gradients[old_row])
        assert state.users.biases[new_row] == prev.users.biases[old_row]
        assert state.users.bias_gradients[new_row] == prev.users.bias_gradients[old_row]
    for new_row in (1, 4):  # as LightFM starts a column: small uniform embedding, bias 0, AdaGrad sums 1
        assert np.abs(state.users.embeddings[new_row]).max() <= 0.5 / 4
        assert state.users.biases[new_row] == 0 and state.users.bias_gradients[new_row] == 1
        assert np.all(state.users.embedding_gradients[new_row] == 1)
    assert np.array_equal(state.items.embeddings[0], prev.items.embeddings[1])  # program 8
    assert np.array_equal(state.items.embeddings[2], prev.items.embeddings[2])  # genre=drama


def test_carry_over_refuses_another_number_of_components():
    prev, users, items = _state([1], [], [1], [], d=4)
    with pytest.raises(ValueError, match="same number"):
        carry_over(prev, users, items, users, items, 8, np.random.RandomState(0))


def test_nothing_carried_starts_exactly_where_lightfm_starts():
    from lightfm import LightFM

    prev, prev_users, prev_items = _state([1], [], [1], [], d=5)
    users, items = ColumnKeys(np.arange(2, 9), np.array([], "U1")), ColumnKeys(np.arange(2, 6), np.array([], "U1"))
    state, _ = carry_over(prev, prev_users, prev_items, users, items, 5, np.random.RandomState(3))
    model = LightFM(no_components=5, random_state=3)
    model._initialize(5, items.n_columns, users.n_columns)
    assert np.array_equal(state.items.embeddings, model.item_embeddings)
    assert np.array_equal(state.users.embeddings, model.user_embeddings)
    assert np.array_equal(state.users.embedding_gradients, model.user_embedding_gradients)


def _interactions(seed=0, n_users=60, n_items=25):
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < 0.2
    return sp.csr_matrix(dense.astype(np.float32))


def _cold_fit_and_its_state(inter):
    """A cold fit, and the state a warm start on the same subscribers and programs begins from."""
    cold = fit_lightfm(inter, LightFMConfig(no_components=6, epochs=3))
    keys = ColumnKeys(np.arange(inter.shape[0]), np.array([], "U1")), ColumnKeys(np.arange(inter.shape[1]), np.array([], "U1"))
    state, counts = carry_over(cold.state, *keys, *keys, 6, np.random.RandomState(0))
    assert counts["new_user_columns"] == 0 and counts["new_item_columns"] == 0
    return cold, state


def test_a_warm_fit_of_zero_epochs_reproduces_the_model_it_starts_from():
    inter = _interactions()
    cold, state = _cold_fit_and_its_state(inter)
    warm = fit_lightfm(inter, LightFMConfig(no_components=6, epochs=0), initial_state=state)
    for name in ("user_factors", "user_bias", "item_factors", "item_bias"):
        assert np.array_equal(getattr(warm, name), getattr(cold, name))


def test_a_warm_fit_continues_training_and_keeps_its_state_for_next_week():
    inter = _interactions()
    cold, state = _cold_fit_and_its_state(inter)
    warm = fit_lightfm(inter, LightFMConfig(no_components=6, epochs=2), initial_state=state)
    assert not np.array_equal(warm.item_factors, cold.item_factors)
    # AdaGrad's sums of squared gradients only grow: the warm fit continued them rather than restarting at 1
    assert np.all(warm.state.items.embedding_gradients >= cold.state.items.embedding_gradients)
    assert warm.state.items.embedding_gradients.sum() > cold.state.items.embedding_gradients.sum()
    # the state passed in is not modified in place
    assert np.array_equal(state.items.embeddings, cold.state.items.embeddings)
    assert LightFMState.from_arrays(warm.state.to_arrays()).items.embeddings.shape == (inter.shape[1], 6)


def test_pairs_watched_in_keeps_the_weeks_watched_pairs_with_their_window_weights():
    interactions = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1]], np.float32))
    weights = sp.csr_matrix(np.array([[0.5, 0.9, 0], [0, 0.2, 0.7]], np.float32))
    empty = sp.csr_matrix((2, 0), dtype=np.float32)
    matrix = ScoreMatrix(user_ids=np.array([100, 200]), item_ids=np.array([1, 2, 3]), interactions=interactions,
                         weights=weights, item_allowed=np.ones(3, bool), user_features=empty,
                         item_features=sp.csr_matrix((3, 0), dtype=np.float32),
                         user_feature_names=np.array([], "U1"), item_feature_names=np.array([], "U1"))
    week = pd.DataFrame({"subsr_id": [100, 200, 200, 300, 100], "program_id": [2, 3, 1, 1, 1],
                         "watch_max_ratio": [0.4, 0.7, 0.3, 1.0, np.nan]})  # (200, 1) not in the window; 300 unknown; (100, 1) click only
    inter, w = pairs_watched_in(matrix, week)
    assert inter.toarray().tolist() == [[0, 1, 0], [0, 0, 1]]
    assert np.allclose(w.toarray(), [[0, 0.9, 0], [0, 0, 0.7]])
    users, items = column_keys(matrix, use_features=True)
    assert users.n_columns == 2 and items.n_columns == 3
