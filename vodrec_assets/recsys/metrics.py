"""Ranking metrics at k, vectorized over users. Definitions are written down in docs/metrics.md.

`recommended` is an int array [n_users, k] of item indices (NO_ITEM = -1 pads short lists);
`relevant` a sparse [n_users, n_items] matrix whose non-zeros are each user's relevant items.
Users with no relevant item are left out of the means (they cannot be scored).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from vodrec_assets.recsys.topk import NO_ITEM

PERSONALIZATION_SAMPLE = 2000


def hit_matrix(recommended: np.ndarray, relevant: sp.csr_matrix) -> np.ndarray:
    """hits[u, j] is True when the j-th recommendation of user u is relevant to u."""
    relevant = sp.csr_matrix(relevant)
    relevant.sort_indices()
    n_items = relevant.shape[1]
    rel_rows = np.repeat(np.arange(relevant.shape[0], dtype=np.int64), np.diff(relevant.indptr))
    rel_keys = rel_rows * n_items + relevant.indices.astype(np.int64)  # sorted: rows, then columns
    rec_keys = np.arange(recommended.shape[0], dtype=np.int64)[:, None] * n_items + recommended.astype(np.int64)
    pos = np.searchsorted(rel_keys, rec_keys)
    pos = np.minimum(pos, max(len(rel_keys) - 1, 0))
    hits = (rel_keys[pos] == rec_keys) if len(rel_keys) else np.zeros(rec_keys.shape, bool)
    return hits & (recommended != NO_ITEM)


def ranking_metrics(recommended: np.ndarray, relevant: sp.csr_matrix, k: int = 10) -> dict[str, float]:
    """precision, recall, MAP, MAR and binary NDCG at k, averaged over users with a relevant item."""
    relevant = sp.csr_matrix(relevant)
    n_rel = np.diff(relevant.indptr)
    keep = n_rel > 0
    recommended = recommended[:, :k]
    if not keep.any():
        return {f"{m}_at_{k}": 0.0 for m in ("precision", "recall", "map", "mar", "ndcg")} | {"users": 0}
    hits = hit_matrix(recommended[keep], relevant[keep]).astype(np.float64)
    n_rel = n_rel[keep].astype(np.float64)
    denom = np.minimum(n_rel, k)
    cum_hits = np.cumsum(hits, axis=1)
    ranks = np.arange(1, k + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discounts)[denom.astype(int) - 1]
    per_user = {
        "precision": hits.sum(axis=1) / k,
        "recall": hits.sum(axis=1) / n_rel,
        "map": (hits * cum_hits / ranks).sum(axis=1) / denom,
        # The original's MAR@k: each hit adds the recall reached at its rank.
        "mar": (hits * cum_hits / n_rel[:, None]).sum(axis=1) / denom,
        "ndcg": (hits * discounts).sum(axis=1) / ideal,
    }
    out = {f"{name}_at_{k}": float(values.mean()) for name, values in per_user.items()}
    out["users"] = int(keep.sum())
    return out


def catalog_coverage(recommended: np.ndarray, n_items: int) -> float:
    """Share of the candidate catalogue that appears in at least one list."""
    if n_items == 0:
        return 0.0
    items = np.unique(recommended[recommended != NO_ITEM])
    return float(len(items) / n_items)


def _sample_rows(n: int, sample: int, seed: int = 0) -> np.ndarray:
    if n <= sample:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))


def personalization(recommended: np.ndarray, n_items: int, k: int = 10, sample: int = PERSONALIZATION_SAMPLE) -> float:
    """1 - mean pairwise overlap of two users' top-k lists / k (over a fixed sample of users)."""
    rows = _sample_rows(recommended.shape[0], sample)
    recs = recommended[rows, :k]
    n = recs.shape[0]
    if n < 2:
        return 0.0
    valid = recs != NO_ITEM
    r = np.repeat(np.arange(n), valid.sum(axis=1))
    lists = sp.csr_matrix((np.ones(len(r), np.float32), (r, recs[valid])), shape=(n, max(n_items, 1)))
    overlap = (lists @ lists.T).toarray()
    off_diagonal = overlap.sum() - np.trace(overlap)
    return float(1.0 - off_diagonal / (n * (n - 1)) / k)


def legacy_diversity(recommended_ids: np.ndarray, sample: int = PERSONALIZATION_SAMPLE) -> float:
    """The original dashboard's "diversity": 1 - mean pairwise cosine similarity of the vectors of
    recommended program *ids* taken as numbers. Kept for continuity only: it is not a diversity measure."""
    rows = _sample_rows(recommended_ids.shape[0], sample)
    x = recommended_ids[rows].astype(np.float64)
    n = x.shape[0]
    if n < 2:
        return 0.0
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit = x / norms
    gram = unit @ unit.T
    return float(1.0 - (gram.sum() - np.trace(gram)) / (n * (n - 1)))
