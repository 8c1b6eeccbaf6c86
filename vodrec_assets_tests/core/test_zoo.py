"""Every family of the zoo recovers a planted structure, ranks through the shared top-k code, round-trips
through plain arrays, and says what it cannot do."""

import numpy as np
import pytest
import scipy.sparse as sp

from vodrec_assets.recsys import zoo
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.topk import recommend_top_k

CLUSTERS, USERS_PER, ITEMS_PER = 4, 40, 12


def planted(seed: int = 0, empty_users: int = 0) -> ScoreMatrix:
    """Four taste clusters: each subscriber watches ~60 % of its cluster's programs and one stray
    program elsewhere; program 0 of every cluster is watched by all its subscribers. The last
    `empty_users` subscribers have no pair at all."""
    rng = np.random.default_rng(seed)
    n_users, n_items = CLUSTERS * USERS_PER + empty_users, CLUSTERS * ITEMS_PER
    dense = np.zeros((n_users, n_items), np.float32)
    for u in range(CLUSTERS * USERS_PER):
        c = u // USERS_PER
        own = c * ITEMS_PER + np.flatnonzero(rng.random(ITEMS_PER) < 0.6)
        dense[u, own] = 1.0
        dense[u, c * ITEMS_PER] = 1.0
        dense[u, rng.integers(n_items)] = 1.0
    inter = sp.csr_matrix(dense)
    weights = inter.copy()
    weights.data = rng.uniform(0.2, 1.0, inter.nnz).astype(np.float32)
    return ScoreMatrix(
        user_ids=np.arange(n_users, dtype=np.int64) + 100, item_ids=np.arange(n_items, dtype=np.int64) + 900,
        interactions=inter, weights=weights, item_allowed=np.ones(n_items, bool),
        user_features=sp.csr_matrix((n_users, 0), dtype=np.float32),
        item_features=sp.csr_matrix((n_items, 0), dtype=np.float32),
        user_feature_names=np.array([], dtype="U1"), item_feature_names=np.array([], dtype="U1"),
    )


FAST_PARAMS = {
    "lightfm": {"no_components": 8, "epochs": 30, "use_features": False},
    "ials": {"factors": 4, "regularization": 1.0, "iterations": 15},
    "ease": {"l2": 10.0},
    "item_knn": {"neighbours": 20},
    "popularity": {},
    "lightfm_ease_blend": {"l2": 10.0, "lightfm": {**zoo.DEFAULT_PARAMS["lightfm"], "no_components": 8,
                                                   "epochs": 30, "use_features": False}},
}
PERSONAL = [f for f in zoo.FAMILIES if f != "popularity"]


def own_cluster_share(matrix: ScoreMatrix, model: zoo.ZooModel, k: int = 3) -> float:
    users = np.arange(CLUSTERS * USERS_PER)
    top = recommend_top_k(model.scorer(), matrix.shape[0], k, exclude=matrix.interactions, users=users)
    return float(np.mean(top.items // ITEMS_PER == (users // USERS_PER)[:, None]))


@pytest.mark.parametrize("family", PERSONAL)
def test_each_personal_family_recommends_the_subscribers_own_cluster(family):
    matrix = planted()
    model = zoo.fit_family(family, matrix, FAST_PARAMS[family])
    assert model.family == family and model.fit_seconds >= 0
    # Random lists would hit the own cluster 1 time in 4 (less after the seen ones are excluded).
    assert own_cluster_share(matrix, model) >= 0.9


def test_popularity_ranks_the_most_watched_unseen_program_first():
    matrix = planted()
    counts = np.asarray(matrix.interactions.sum(axis=0)).ravel()
    model = zoo.fit_family("popularity", matrix)
    top = recommend_top_k(model.scorer(), matrix.shape[0], 1, exclude=matrix.interactions)
    for u in range(matrix.shape[0]):
        unseen = np.flatnonzero(matrix.interactions[u].toarray().ravel() == 0)
        assert counts[top.items[u, 0]] == counts[unseen].max()


@pytest.mark.parametrize("family", zoo.FAMILIES)
def test_a_stored_model_scores_exactly_as_the_fitted_one(family):
    matrix = planted(seed=1)
    model = zoo.fit_family(family, matrix, FAST_PARAMS[family])
    arrays = model.to_arrays()
    assert all(isinstance(a, np.ndarray) and a.dtype != object for a in arrays.values())  # npz without pickle
    loaded = zoo.ZooModel.from_arrays(family, model.params, {k: a.copy() for k, a in arrays.items()})
    rows = np.arange(matrix.shape[0])
    np.testing.assert_array_equal(np.asarray(loaded.scorer()(rows)), np.asarray(model.scorer()(rows)))


@pytest.mark.parametrize("family", ["ease", "item_knn", "lightfm_ease_blend"])
def test_a_subscriber_without_history_gets_the_popular_programs(family):
    matrix = planted(empty_users=2)
    model = zoo.fit_family(family, matrix, FAST_PARAMS[family])
    counts = np.asarray(matrix.interactions.sum(axis=0)).ravel()
    top = recommend_top_k(model.scorer(), matrix.shape[0], 4, users=np.array([matrix.shape[0] - 1]))
    assert sorted(counts[top.items[0]].tolist(), reverse=True) == sorted(counts, reverse=True)[:4]


def test_ease_and_the_blend_refuse_a_catalogue_above_the_limit(monkeypatch):
    monkeypatch.setattr(zoo, "EASE_MAX_ITEMS", 10)
    for family in ("ease", "lightfm_ease_blend"):
        with pytest.raises(ValueError, match="refusing more than 10 items"):
            zoo.fit_family(family, planted(), FAST_PARAMS[family])


def test_unknown_families_and_hyperparameters_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown model family 'svd'"):
        zoo.params_for("svd")
    with pytest.raises(ValueError, match="ease has no hyperparameter factors"):
        zoo.params_for("ease", {"factors": 3})


def test_the_blend_min_max_scales_each_part_per_subscriber():
    a = lambda rows: np.array([[0.0, 10.0, 5.0]] * len(rows), np.float32)  # noqa: E731
    b = lambda rows: np.array([[2.0, 1.0, 3.0]] * len(rows), np.float32)  # noqa: E731
    blended = zoo.MinMaxBlend(a, b, 0.25)(np.array([0]))
    np.testing.assert_allclose(blended, [[0.25 * 0 + 0.75 * 0.5, 0.25 * 1 + 0.75 * 0, 0.25 * 0.5 + 0.75 * 1]])
