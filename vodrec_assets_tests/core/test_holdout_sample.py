"""The holdout protocol on a fixed subscriber sample when a week has more than HOLDOUT_MAX_USERS."""

import numpy as np
import scipy.sparse as sp

from vodrec_assets.recsys.evaluation import HOLDOUT_MAX_USERS, holdout_protocol
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import LightFMConfig

CONFIG = LightFMConfig(no_components=4, epochs=2)


def random_matrix(n_users: int = 400, n_items: int = 60, seed: int = 0) -> ScoreMatrix:
    rng = np.random.default_rng(seed)
    interactions = sp.random(n_users, n_items, density=0.1, random_state=seed, format="csr", dtype=np.float32)
    interactions.data[:] = 1.0
    weights = interactions.copy()
    weights.data = rng.uniform(0.1, 1.0, interactions.nnz).astype(np.float32)
    user_features = sp.csr_matrix(np.eye(n_users, 3, dtype=np.float32))
    return ScoreMatrix(
        user_ids=np.arange(n_users, dtype=np.int64) * 7 + 1000, item_ids=np.arange(n_items, dtype=np.int64) + 5000,
        interactions=interactions, weights=weights, item_allowed=np.ones(n_items, dtype=bool),
        user_features=user_features, item_features=sp.csr_matrix((n_items, 0), dtype=np.float32),
        user_feature_names=np.array(["a", "b", "c"]), item_feature_names=np.array([], dtype="U1"),
    )


def test_subscriber_sample_keeps_whole_rows_of_a_fixed_sorted_sample():
    matrix = random_matrix()
    assert matrix.subscriber_sample(400) is matrix and matrix.subscriber_sample(10_000) is matrix
    sample = matrix.subscriber_sample(150, seed=3)
    sample.validate()
    assert sample.shape == (150, 60) and np.all(np.diff(sample.user_ids) > 0)
    rows = matrix.user_index(sample.user_ids)
    assert np.all(rows >= 0)
    for name in ("interactions", "weights", "user_features"):
        assert (getattr(sample, name) != getattr(matrix, name)[rows]).nnz == 0
    assert np.array_equal(sample.user_ids, matrix.subscriber_sample(150, seed=3).user_ids)  # deterministic
    assert not np.array_equal(sample.user_ids, matrix.subscriber_sample(150, seed=4).user_ids)


def test_holdout_above_the_limit_is_the_protocol_on_the_sample_and_unchanged_below_it():
    matrix = random_matrix()
    sampled = holdout_protocol(matrix, CONFIG, max_users=150)
    assert sampled == holdout_protocol(matrix.subscriber_sample(150, 0), CONFIG, max_users=10**9)
    assert 0 < sampled["holdout_users"] <= 150
    full = holdout_protocol(matrix, CONFIG)  # 400 users, far below HOLDOUT_MAX_USERS
    assert HOLDOUT_MAX_USERS >= 50_000 and full == holdout_protocol(matrix, CONFIG, max_users=400)
    assert full["holdout_users"] > sampled["holdout_users"]


def test_next_week_targets_above_the_limit_are_whole_rows_of_a_fixed_sample_of_the_active_subscribers():
    import pandas as pd

    from vodrec_assets.recsys.evaluation import NEXT_WEEK_MAX_USERS, next_week_targets

    matrix = random_matrix()
    rng = np.random.default_rng(1)
    week = pd.DataFrame({"subsr_id": rng.choice(matrix.user_ids, 3000), "program_id": rng.choice(matrix.item_ids, 3000),
                         "watch_max_ratio": rng.uniform(0, 1, 3000)})
    users, relevant = next_week_targets(matrix, week)
    assert NEXT_WEEK_MAX_USERS >= 100_000 and len(users) > 150  # below the limit: every active subscriber
    s_users, s_relevant = next_week_targets(matrix, week, max_users=150)
    assert len(s_users) == 150 and set(s_users) < set(users)
    rows = np.searchsorted(users, s_users)
    assert (s_relevant != relevant[rows]).nnz == 0  # each sampled subscriber keeps all their targets
    again, _ = next_week_targets(matrix, week, max_users=150)
    assert np.array_equal(again, s_users)
