import numpy as np
import pytest
import scipy.sparse as sp

from vodrec_assets.recsys import baselines
from vodrec_assets.recsys.baselines import (
    cosine_neighbours,
    ease_scorer,
    ease_weights,
    item_knn_scorer,
    popularity_scorer,
)
from vodrec_assets.recsys.topk import recommend_top_k


def random_binary(n_users: int, n_items: int, density: float, seed: int) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    return sp.csr_matrix((rng.random((n_users, n_items)) < density).astype(np.float32))


def test_popularity_ranks_the_most_frequent_unseen_item_first_for_everyone():
    # item 2 has 3 users, item 0 two, item 1 one, item 3 none
    train = sp.csr_matrix(np.array([[1, 0, 1, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=np.float32))
    scorer = popularity_scorer(train)
    np.testing.assert_array_equal(scorer(np.array([3, 0])), [[2, 1, 3, 0], [2, 1, 3, 0]])
    top = recommend_top_k(scorer, 4, 2, exclude=train)
    assert top.items[3].tolist() == [2, 0]  # nothing seen: the two most popular
    assert top.items[0].tolist() == [1, 3]  # items 0 and 2 seen
    assert top.items[2].tolist() == [0, 3]


def test_popularity_counts_users_not_rating_values():
    train = sp.csr_matrix(np.array([[5, 1], [0, 1], [0, 1]], dtype=np.float32))
    assert popularity_scorer(train)(np.array([0])).tolist() == [[1, 3]]


def brute_force_cosine(x: np.ndarray, shrink: float) -> np.ndarray:
    users_of = [set(np.flatnonzero(x[:, i])) for i in range(x.shape[1])]
    n = x.shape[1]
    sim = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            if i != j and users_of[i] and users_of[j]:
                sim[i, j] = len(users_of[i] & users_of[j]) / (np.sqrt(len(users_of[i]) * len(users_of[j])) + shrink)
    return sim


@pytest.mark.parametrize("shrink", [0.0, 2.5])
def test_item_knn_scores_equal_a_brute_force_sum_of_cosines(shrink):
    x = random_binary(30, 12, 0.3, seed=1)
    dense = x.toarray()
    sim = brute_force_cosine(dense, shrink)
    scorer = item_knn_scorer(x * 4.0, neighbours=11, shrink=shrink)  # ratings are binarized
    rows = np.arange(30)
    expected = np.array([[sum(sim[i, j] for i in np.flatnonzero(dense[u])) for j in range(12)] for u in rows])
    np.testing.assert_allclose(scorer(rows), expected, rtol=1e-5, atol=1e-6)


def test_item_knn_keeps_only_the_top_neighbours_of_each_item(monkeypatch):
    x = random_binary(60, 40, 0.2, seed=2)
    full = brute_force_cosine(x.toarray(), 0.0)
    monkeypatch.setattr(baselines, "KNN_BLOCK_ROWS", 7)  # several blocks, the last one short
    pruned = cosine_neighbours(x, neighbours=5).toarray()
    assert ((pruned > 0).sum(axis=1) <= 5).all()
    assert np.all(np.diag(pruned) == 0)
    for i in range(40):
        kept = np.sort(pruned[i][pruned[i] > 0])[::-1]
        np.testing.assert_allclose(kept, np.sort(full[i])[::-1][: len(kept)], rtol=1e-6)
        assert len(kept) == min(5, (full[i] > 0).sum())
        # every kept value is a true similarity of that pair
        np.testing.assert_allclose(pruned[i][pruned[i] > 0], full[i][pruned[i] > 0], rtol=1e-6)


def test_item_knn_recommends_the_co_occurring_item():
    # items 0 and 1 always go together; items 2 and 3 together; item 4 is popular with everyone else
    train = np.zeros((8, 5), np.float32)
    train[[0, 1, 2], 0] = train[[0, 1, 2], 1] = 1
    train[[3, 4], 2] = train[[3, 4], 3] = 1
    train[[5, 6, 7, 3], 4] = 1
    train[5, 0] = 1  # user 5 has seen item 0 only (and 4): item 1 is 0's neighbour
    train[6, 2] = 1  # user 6 has seen item 2 (and 4): item 3 is 2's neighbour
    top = recommend_top_k(item_knn_scorer(sp.csr_matrix(train), neighbours=2), 8, 1, exclude=sp.csr_matrix(train))
    assert top.items[5, 0] == 1
    assert top.items[6, 0] == 3


def brute_force_ease(x: np.ndarray, l2: float) -> np.ndarray:
    """Column by column: ridge regression of item j on all the other items (diag(B) = 0 by construction)."""
    n = x.shape[1]
    b = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        b[others, j] = np.linalg.solve(a.T @ a + l2 * np.eye(n - 1), a.T @ x[:, j])
    return b


def test_ease_equals_per_item_ridge_regressions_and_has_a_zero_diagonal():
    x = random_binary(50, 15, 0.3, seed=3)
    b = ease_weights(x * 3.0, l2=5.0)
    assert b.dtype == np.float32 and b.shape == (15, 15)
    assert np.all(np.diag(b) == 0)
    np.testing.assert_allclose(b, brute_force_ease(x.toarray().astype(np.float64), 5.0), rtol=1e-4, atol=1e-6)
    scorer = ease_scorer(x, l2=5.0)
    np.testing.assert_allclose(scorer(np.arange(50)), x.toarray() @ b, rtol=1e-5, atol=1e-6)


def test_ease_recommends_the_co_occurring_item():
    train = np.zeros((6, 4), np.float32)
    train[:4, 0] = train[:4, 1] = 1  # 0 and 1 together
    train[4:, 2] = 1
    train[:, 3] = 1
    train[4, 0] = 1  # user 4 saw item 0: next is item 1
    top = recommend_top_k(ease_scorer(sp.csr_matrix(train), l2=1.0), 6, 1, exclude=sp.csr_matrix(train))
    assert top.items[4, 0] == 1


def test_ease_refuses_too_many_items_with_a_clear_message():
    x = sp.csr_matrix((3, 50), dtype=np.float32)
    with pytest.raises(ValueError, match="refusing more than 40 items"):
        ease_scorer(x, max_items=40)
    with pytest.raises(ValueError, match="l2"):
        ease_scorer(x, l2=0.0)


@pytest.mark.parametrize("make", [popularity_scorer, item_knn_scorer, ease_scorer])
def test_restricted_scorers_match_masking_all_items(make):
    x = random_binary(40, 25, 0.2, seed=4)
    allowed = np.random.default_rng(5).random(25) > 0.3
    scorer = make(x)
    restricted = scorer.restricted(np.flatnonzero(allowed))
    np.testing.assert_allclose(restricted(np.arange(40)), scorer(np.arange(40))[:, allowed], rtol=1e-6)
    via_restricted = recommend_top_k(scorer, 40, 5, exclude=x, allowed_items=allowed, chunk_size=16)
    full = scorer(np.arange(40))
    full[:, ~allowed] = -np.inf
    full[x.toarray() > 0] = -np.inf
    via_mask = recommend_top_k(lambda rows: full[rows], 40, 5, chunk_size=16)
    np.testing.assert_array_equal(via_restricted.items, via_mask.items)
