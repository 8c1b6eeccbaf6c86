import numpy as np
import scipy.sparse as sp

from vodrec_assets.recsys.topk import NO_ITEM, embedding_scorer, recommend_top_k, top_k_of_block


def brute_force(scores: np.ndarray, k: int) -> np.ndarray:
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.where(np.isfinite(np.take_along_axis(scores, order, 1)), order, NO_ITEM)


def test_top_k_matches_full_sort_with_masks_and_chunks():
    rng = np.random.default_rng(0)
    users, items = rng.normal(size=(257, 16)).astype(np.float32), rng.normal(size=(300, 16)).astype(np.float32)
    bias = rng.normal(size=300).astype(np.float32)
    seen = sp.random(257, 300, density=0.05, format="csr", random_state=1)
    allowed = rng.random(300) > 0.1
    top = recommend_top_k(embedding_scorer(users, items, bias), 257, 10, exclude=seen, allowed_items=allowed, chunk_size=50)
    full = users @ items.T + bias
    full[seen.toarray() != 0] = -np.inf
    full[:, ~allowed] = -np.inf
    np.testing.assert_array_equal(top.items, brute_force(full, 10))
    np.testing.assert_allclose(top.scores, np.take_along_axis(full, top.items, 1), rtol=1e-5)
    assert not np.isin(top.items, np.flatnonzero(~allowed)).any()


def test_short_lists_are_padded_when_too_few_items_remain():
    scores = np.array([[3.0, -np.inf, 1.0, -np.inf]], dtype=np.float32)
    items, best = top_k_of_block(scores, 3)
    assert items.tolist() == [[0, 2, NO_ITEM]]
    assert best[0, 0] == 3.0 and best[0, 1] == 1.0


def test_ties_break_by_lower_item_index_like_a_stable_sort():
    scores = np.array([[1.0, 2.0, 2.0, 2.0, 0.5]], dtype=np.float32)
    items, _ = top_k_of_block(scores, 3)
    assert items.tolist() == [[1, 2, 3]]


def test_sampled_threshold_path_equals_full_sort_on_wide_blocks_with_ties_and_masks():
    rng = np.random.default_rng(5)
    n_users, n_items = 300, 20000
    scores = rng.normal(size=(n_users, n_items)).astype(np.float32)
    scores[:, 100:140] = 3.0  # ties at the top
    scores[0, :] = -np.inf  # a row with nothing allowed
    scores[1, : n_items - 5] = -np.inf  # a row with fewer than k allowed items
    scores[2, ::2] = -np.inf  # half the columns masked
    items, best = top_k_of_block(scores, 10)
    np.testing.assert_array_equal(items, brute_force(scores, 10))


def test_restricted_embedding_scorer_and_exclusions_match_brute_force_on_wide_catalogues():
    rng = np.random.default_rng(6)
    users, items = rng.normal(size=(500, 8)).astype(np.float32), rng.normal(size=(4000, 8)).astype(np.float32)
    bias = rng.normal(size=4000).astype(np.float32)
    seen = sp.random(500, 4000, density=0.01, format="csr", random_state=3)
    allowed = rng.random(4000) > 0.3
    top = recommend_top_k(embedding_scorer(users, items, bias), 500, 10, exclude=seen, allowed_items=allowed, chunk_size=128)
    full = users @ items.T + bias
    full[seen.toarray() != 0] = -np.inf
    full[:, ~allowed] = -np.inf
    np.testing.assert_array_equal(top.items, brute_force(full, 10))
