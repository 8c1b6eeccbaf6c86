import numpy as np
import pytest
import scipy.sparse as sp

from vodrec_assets.recsys.metrics import catalog_coverage, legacy_diversity, personalization, ranking_metrics
from vodrec_assets.recsys.topk import NO_ITEM


def rel(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [i for i, items in enumerate(rows) for _ in items]
    c = [j for items in rows for j in items]
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_items))


def test_hand_computed_user():
    # hits at ranks 1 and 3; 4 relevant items; k = 3
    recommended = np.array([[5, 1, 7]])
    metrics = ranking_metrics(recommended, rel([[5, 7, 8, 9]], 10), k=3)
    assert metrics["precision_at_3"] == pytest.approx(2 / 3)
    assert metrics["recall_at_3"] == pytest.approx(2 / 4)
    assert metrics["map_at_3"] == pytest.approx((1 / 1 + 2 / 3) / 3)  # normalised by min(k, |rel|)
    assert metrics["mar_at_3"] == pytest.approx((1 / 4 + 2 / 4) / 3)
    dcg = 1 + 1 / np.log2(4)
    idcg = 1 + 1 / np.log2(3) + 1 / np.log2(4)
    assert metrics["ndcg_at_3"] == pytest.approx(dcg / idcg)


def test_users_without_relevant_items_are_left_out_and_padding_never_hits():
    recommended = np.array([[0, 1], [2, NO_ITEM], [3, 4]])
    relevant = rel([[1], [], [9]], 10)
    metrics = ranking_metrics(recommended, relevant, k=2)
    assert metrics["users"] == 2
    assert metrics["precision_at_2"] == pytest.approx((0.5 + 0.0) / 2)
    assert metrics["map_at_2"] == pytest.approx((0.5 + 0) / 2)
    assert metrics["ndcg_at_2"] == pytest.approx((1 / np.log2(3)) / 2)


def test_matches_the_original_loop_definitions_on_random_data():
    rng = np.random.default_rng(3)
    n_users, n_items, k = 40, 25, 10
    recommended = np.array([rng.choice(n_items, k, replace=False) for _ in range(n_users)])
    targets = [rng.choice(n_items, rng.integers(1, 8), replace=False) for _ in range(n_users)]
    got = ranking_metrics(recommended, rel([list(t) for t in targets], n_items), k)

    def ap(target, prediction):  # the original DAG's map_at_k
        hits, score = 0, 0.0
        for i, p in enumerate(prediction[:k]):
            if p in target:
                hits += 1
                score += hits / (i + 1)
        return score / min(k, len(target))

    def ar(target, prediction):  # the original DAG's mar_at_k
        hits, score = 0, 0.0
        for p in prediction[:k]:
            if p in target:
                hits += 1
                score += hits / len(target)
        return score / min(k, len(target))

    assert got["map_at_10"] == pytest.approx(np.mean([ap(t, r) for t, r in zip(targets, recommended)]))
    assert got["mar_at_10"] == pytest.approx(np.mean([ar(t, r) for t, r in zip(targets, recommended)]))
    assert got["precision_at_10"] == pytest.approx(np.mean([len(set(t) & set(r)) / k for t, r in zip(targets, recommended)]))


def test_coverage_and_personalization():
    same = np.array([[0, 1, 2]] * 4)
    assert personalization(same, 10, k=3) == pytest.approx(0.0)
    disjoint = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    assert personalization(disjoint, 10, k=3) == pytest.approx(1.0)
    half = np.array([[0, 1], [0, 2]])
    assert personalization(half, 3, k=2) == pytest.approx(0.5)
    assert catalog_coverage(disjoint, 10) == pytest.approx(0.9)


def test_legacy_diversity_is_the_originals_id_cosine_value():
    from sklearn.metrics.pairwise import cosine_similarity

    rng = np.random.default_rng(0)
    lists = rng.integers(1, 1000, size=(50, 10))
    sim = cosine_similarity(lists)  # the original: cosine of the vectors of recommended ids
    expected = 1 - np.sum(sim - np.eye(50)) / (50 * 49)
    assert legacy_diversity(lists) == pytest.approx(expected)
    assert legacy_diversity(np.tile(np.arange(100, 110), (50, 1))) == pytest.approx(0.0, abs=1e-9)
