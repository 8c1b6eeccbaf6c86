"""Evaluation protocols, pure: the original's random holdout and the next-week protocol.

Both score the model and a popularity baseline the same way, so the two are comparable.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vodrec_assets.recsys.baselines import popularity_scorer
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.metrics import catalog_coverage, personalization, ranking_metrics
from vodrec_assets.recsys.model import EmbeddingModel, LightFMConfig, fit_lightfm, with_identity
from vodrec_assets.recsys.topk import ScoreBlock, recommend_top_k
from vodrec_assets.recsys.warm_start import LightFMState

K = 10
# The holdout protocol fits a second LightFM model; above this many subscribers it is estimated on a fixed
# random sample of them (a 1M-subscriber week would otherwise spend as long evaluating as training). At
# 1M subscribers, 50,000 gave the same holdout MAP@10 as 100,000 within the seed-to-seed spread, at a
# third of the CPU time (docs/metrics.md).
HOLDOUT_MAX_USERS = 50_000
# Likewise the next-week protocol ranks programs for at most this many of the week's active subscribers
# (a fixed random sample): at a million subscribers, scoring all of them twice cost a third of a minute.
NEXT_WEEK_MAX_USERS = 100_000


def evaluate_scorer(
    scorer: ScoreBlock,
    users: np.ndarray,
    relevant: sp.csr_matrix,
    exclude: sp.csr_matrix,
    allowed: np.ndarray,
    k: int = K,
    novelty_of: sp.csr_matrix | None = None,
) -> dict[str, float]:
    """Accuracy and beyond-accuracy metrics of `scorer` for `users` (rows of `relevant`/`exclude`);
    with `novelty_of` (the training matrix) also `novelty`, measured against its popularity."""
    top = recommend_top_k(scorer, exclude.shape[0], k, exclude=exclude, allowed_items=allowed, users=users)
    out = ranking_metrics(top.items, relevant, k)
    out["catalog_coverage"] = catalog_coverage(top.items, int(allowed.sum()))
    out["personalization"] = personalization(top.items, relevant.shape[1], k)
    if novelty_of is not None:
        out["novelty"] = novelty(top.items, novelty_of)
    return out


def novelty(items: np.ndarray, train: sp.spmatrix) -> float:
    """Mean self-information −log2(share of the training subscribers who watched it) of the recommended
    programs; a program nobody watched counts as watched by one."""
    valid = items >= 0
    if not valid.any():
        return 0.0
    counts = np.asarray((sp.csr_matrix(train) != 0).sum(axis=0), np.float64).ravel()
    share = np.maximum(counts[items[valid]], 1.0) / max(train.shape[0], 1)
    return float(np.mean(-np.log2(share)))


def _prefixed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    return {f"{prefix}{key}": value for key, value in metrics.items()}


def holdout_split(matrix: ScoreMatrix, test_size: float = 0.25, seed: int = 0) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """The original's protocol: 25 % of watched pairs held out at random. Returns train
    interactions, train weights and the test matrix."""
    inter = matrix.interactions.tocoo()
    weights = matrix.weights.tocoo()
    n = inter.nnz
    test_mask = np.zeros(n, dtype=bool)
    test_mask[np.random.default_rng(seed).permutation(n)[: int(round(n * test_size))]] = True
    shape = matrix.shape

    def part(m: sp.coo_matrix, mask: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((m.data[mask], (m.row[mask], m.col[mask])), shape=shape)

    return part(inter, ~test_mask), part(weights, ~test_mask), part(inter, test_mask)


def fit_on(matrix: ScoreMatrix, interactions: sp.csr_matrix, weights: sp.csr_matrix | None, config: LightFMConfig,
           initial_state: LightFMState | None = None) -> EmbeddingModel:
    """LightFM on `matrix`'s subscribers and programs; with the side features as `with_identity` columns
    when `config.use_features` (warm_start.column_keys names those columns)."""
    return fit_lightfm(
        interactions,
        config,
        weights=weights,
        user_features=with_identity(matrix.user_features, matrix.shape[0]) if config.use_features else None,
        item_features=with_identity(matrix.item_features, matrix.shape[1]) if config.use_features else None,
        initial_state=initial_state,
    )


def holdout_protocol(matrix: ScoreMatrix, config: LightFMConfig | None, test_size: float = 0.25, seed: int = 0,
                     max_users: int = HOLDOUT_MAX_USERS,
                     fit: Callable[[ScoreMatrix, sp.csr_matrix, sp.csr_matrix], Any] | None = None) -> dict[str, float]:
    """`holdout_*` and `holdout_popularity_*` metrics, on a model trained on the other 75 %; on a fixed
    sample of `max_users` subscribers (seed `seed`) when the matrix has more. The model is LightFM with
    `config`, or what `fit(matrix, train_interactions, train_weights)` returns (a zoo family)."""
    matrix = matrix.subscriber_sample(max_users, seed)
    train, train_weights, test = holdout_split(matrix, test_size, seed)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if len(users) == 0:
        return {}
    model = fit_on(matrix, train, train_weights, config) if fit is None else fit(matrix, train, train_weights)
    relevant = test[users]
    out = _prefixed(evaluate_scorer(model.scorer(), users, relevant, train, matrix.item_allowed), "holdout_")
    pop = evaluate_scorer(popularity_scorer(train), users, relevant, train, matrix.item_allowed)
    out |= _prefixed(pop, "holdout_popularity_")
    return out


def next_week_targets(prev: ScoreMatrix, week_pairs: pd.DataFrame, max_users: int = NEXT_WEEK_MAX_USERS,
                      seed: int = 0) -> tuple[np.ndarray, sp.csr_matrix]:
    """Rows of `prev` active in the new week, and the programs each newly watched that week
    (watched then, not watched in the previous window, known to the previous model); a fixed random
    sample (`seed`) of `max_users` of those subscribers when there are more."""
    watched = week_pairs[week_pairs["watch_max_ratio"].fillna(0) > 0]
    u = prev.user_index(watched["subsr_id"].to_numpy())
    i = prev.item_index(watched["program_id"].to_numpy())
    known = (u >= 0) & (i >= 0)
    u, i = u[known], i[known]
    if len(u) == 0:  # nobody the previous model knows watched anything (an empty week, say)
        return np.empty(0, np.int64), sp.csr_matrix((0, prev.shape[1]), dtype=np.float32)
    seen_before = np.asarray(prev.interactions[u, i]).ravel() > 0
    u, i = u[~seen_before], i[~seen_before]
    users = np.unique(u)
    if len(users) > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, max_users, replace=False))
        sampled = np.isin(u, users)
        u, i = u[sampled], i[sampled]
    rows = np.searchsorted(users, u)
    relevant = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, i)), shape=(len(users), prev.shape[1]))
    relevant.sum_duplicates()
    relevant.data[:] = 1.0
    return users, relevant


def next_week_protocol(prev_model: EmbeddingModel, prev: ScoreMatrix, week_pairs: pd.DataFrame,
                       max_users: int = NEXT_WEEK_MAX_USERS) -> dict[str, float]:
    """The primary protocol: last week's model ranks programs for this week's active subscribers (at most
    `max_users` of them, a fixed sample: next_week_targets)."""
    users, relevant = next_week_targets(prev, week_pairs, max_users)
    if len(users) == 0:
        return {}
    out = evaluate_scorer(prev_model.scorer(), users, relevant, prev.interactions, prev.item_allowed)
    out |= _prefixed(evaluate_scorer(popularity_scorer(prev.interactions), users, relevant, prev.interactions,
                                     prev.item_allowed), "popularity_")
    return out

