"""Baseline recommenders, each a ScoreBlock for `recommend_top_k`.

All three see the training matrix as binary (any non-zero is a positive) and score a block of users
at a time: popularity is one row broadcast, item-kNN a sparse user x item by sparse item x item
product, EASE a sparse user x item by dense item x item product. None of them builds a users x items
array beyond the block asked for. Each scorer also offers `restricted(item_index)`, which
`recommend_top_k` uses to score only the allowed items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from vodrec_assets.recsys.topk import ScoreBlock

# Item x item blocks of this many rows at a time when pruning kNN neighbours (block x items floats).
KNN_BLOCK_ROWS = 1024
# EASE inverts a dense items x items matrix: 20k items is 3.2 GB in float64 and minutes of CPU.
EASE_MAX_ITEMS = 20_000


class CatalogueTooLarge(ValueError):
    """A model that cannot be fitted on this many items (EASE's dense inverse)."""


def binary_positives(train: sp.spmatrix) -> sp.csr_matrix:
    x = sp.csr_matrix(train, dtype=np.float32, copy=True)
    x.eliminate_zeros()
    x.data[:] = 1.0
    return x


class PopularityScorer:
    """Every user gets the same scores: the number of training users of each item."""

    def __init__(self, counts: np.ndarray):
        self.counts = np.asarray(counts, dtype=np.float32)

    def restricted(self, item_index: np.ndarray) -> "PopularityScorer":
        return PopularityScorer(self.counts[item_index])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(rows), len(self.counts))).copy()


def popularity_scorer(train: sp.spmatrix) -> ScoreBlock:
    """Every user gets the items with the most training interactions."""
    counts = np.asarray((sp.csr_matrix(train) != 0).sum(axis=0), dtype=np.float32).ravel()
    return PopularityScorer(counts)


class ItemItemScorer:
    """score(u, j) = sum over the user's training items i of weights[i, j]: a sparse user-item block
    times an item x item matrix (sparse for kNN, dense for EASE)."""

    def __init__(self, train: sp.csr_matrix, weights: np.ndarray | sp.csr_matrix):
        self.train = train
        self.weights = weights

    def restricted(self, item_index: np.ndarray) -> "ItemItemScorer":
        return ItemItemScorer(self.train, self.weights[:, item_index])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        block = self.train[rows] @ self.weights
        if sp.issparse(block):
            block = block.toarray()
        return np.asarray(block, dtype=np.float32)


def cosine_neighbours(train: sp.spmatrix, neighbours: int = 100, shrink: float = 0.0) -> sp.csr_matrix:
    """Item x item cosine similarity of the binary training columns, |U_i ∩ U_j| / (sqrt(|U_i| |U_j|)
    + shrink), diagonal zero, keeping in each row i only its `neighbours` most similar items.

    Built KNN_BLOCK_ROWS item rows at a time, so memory is block x items, not items x items."""
    if neighbours < 1:
        raise ValueError(f"neighbours must be >= 1, got {neighbours}")
    if shrink < 0:
        raise ValueError(f"shrink must be >= 0, got {shrink}")
    x = binary_positives(train)
    n_items = x.shape[1]
    xt = sp.csr_matrix(x.T)
    norms = np.sqrt(np.asarray(x.sum(axis=0), dtype=np.float64).ravel())
    keep = min(neighbours, max(n_items - 1, 0))
    rows_out, cols_out, vals_out = [], [], []
    for start in range(0, n_items, KNN_BLOCK_ROWS):
        stop = min(start + KNN_BLOCK_ROWS, n_items)
        sim = (xt[start:stop] @ x).toarray().astype(np.float64)  # co-occurrence counts
        denom = np.multiply.outer(norms[start:stop], norms)
        denom += shrink
        np.divide(sim, denom, out=sim, where=denom > 0)  # where denom is 0 the count is 0 too
        del denom
        local = np.arange(stop - start)
        sim[local, start + local] = 0.0
        if keep == 0:
            continue
        if keep < n_items:
            top = np.argpartition(-sim, keep - 1, axis=1)[:, :keep]
        else:
            top = np.broadcast_to(np.arange(n_items), sim.shape)
        vals = np.take_along_axis(sim, top, axis=1)
        nz = vals > 0
        rows_out.append(np.broadcast_to((start + local)[:, None], top.shape)[nz])
        cols_out.append(top[nz])
        vals_out.append(vals[nz])
    if rows_out:
        rows, cols, vals = np.concatenate(rows_out), np.concatenate(cols_out), np.concatenate(vals_out)
    else:
        rows = cols = np.zeros(0, np.int64)
        vals = np.zeros(0)
    return sp.csr_matrix((vals.astype(np.float32), (rows, cols)), shape=(n_items, n_items))


def item_knn_scorer(train: sp.spmatrix, neighbours: int = 100, shrink: float = 0.0) -> ItemItemScorer:
    """Item-based kNN: a user's score for item j sums the cosine similarities to j of the items the
    user interacted with, each item contributing only to its `neighbours` nearest items."""
    x = binary_positives(train)
    return ItemItemScorer(x, cosine_neighbours(x, neighbours, shrink))


def ease_weights(train: sp.spmatrix, l2: float = 500.0, max_items: int = EASE_MAX_ITEMS) -> np.ndarray:
    """EASE (Steck 2019) closed form: P = (XᵀX + λI)⁻¹, B = I − P · diag(1/diag(P)), so diag(B) = 0.
    Dense items x items: refuses more than `max_items` items."""
    x = binary_positives(train)
    n_items = x.shape[1]
    if n_items > max_items:
        raise CatalogueTooLarge(
            f"EASE needs a dense {n_items} x {n_items} item matrix and its inverse; refusing more than "
            f"{max_items} items (use item_knn_scorer or LightFM, or raise max_items knowingly)"
        )
    if l2 <= 0:
        raise ValueError(f"l2 must be > 0, got {l2}")
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices(n_items)] += l2
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices(n_items)] = 0.0
    return b.astype(np.float32)


def ease_scorer(train: sp.spmatrix, l2: float = 500.0, max_items: int = EASE_MAX_ITEMS) -> ItemItemScorer:
    """EASE: score(u, ·) = x_u B with B the closed-form item-item weights (see `ease_weights`)."""
    x = binary_positives(train)
    return ItemItemScorer(x, ease_weights(x, l2, max_items))
