"""Top-k ranking in chunks: score a block of users, mask what must not be recommended, partial sort.

Never materializes a subscribers x programs array: at most `chunk_size` x programs at a time.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

ScoreBlock = Callable[[np.ndarray], np.ndarray]
"""Given user row indices, returns their dense float32 scores over all items (len(rows) x n_items)."""

NO_ITEM = -1
# A chunk's score block is sized to stay in the cache (two workers' blocks fit a 32 MiB L3): scoring,
# masking and the group maxima then read it from cache, not memory. Measured on 30k programs: 64-row
# blocks (8 MB) rank ~3x more users per CPU-second than 8192-row blocks (1 GB). docs/performance.md.
BLOCK_BYTES = 8 << 20
MIN_CHUNK, MAX_CHUNK = 32, 8192
# Above this many columns, top-k first bounds each row's k-th best score with group maxima.
GROUPED_MIN_ITEMS = 4096
GROUP_WIDTH = 32


@dataclass(frozen=True)
class TopK:
    """Item indices (NO_ITEM where fewer than k items were allowed) and scores, best first."""

    items: np.ndarray  # int32 [n_users, k]
    scores: np.ndarray  # float32 [n_users, k]


class EmbeddingScorer:
    """Dot-product scores u . v_i + b_i as one GEMM: the item bias rides along as an extra factor
    column against a constant 1 on the user side. The user bias is left out: it does not change a
    user's ranking. Items are padded to a multiple of GROUP_WIDTH with columns that score -inf, so
    the grouped top-k never copies a block; `n_columns` is the real number of items."""

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray | None = None):
        self.user_factors = user_factors
        bias = np.zeros(len(item_factors), np.float32) if item_bias is None else item_bias.astype(np.float32)
        self._set_items(np.hstack([item_factors.astype(np.float32), bias[:, None]]))

    def _set_items(self, items_with_bias: np.ndarray) -> None:
        self.n_columns = len(items_with_bias)
        pad = -self.n_columns % GROUP_WIDTH
        filler = np.zeros((pad, items_with_bias.shape[1]), np.float32)
        filler[:, -1] = -np.inf  # 0 . u + 1 * -inf: a column no user can be recommended
        self._items_t = np.ascontiguousarray(np.vstack([items_with_bias, filler]).T)
        self._local = threading.local()

    def restricted(self, item_index: np.ndarray) -> "EmbeddingScorer":
        """The same scorer over a subset of items (columns in `item_index` order)."""
        sub = EmbeddingScorer.__new__(EmbeddingScorer)
        sub.user_factors = self.user_factors
        sub._set_items(self._items_t[:, : self.n_columns][:, item_index].T)
        return sub

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        users = np.empty((len(rows), self._items_t.shape[0]), np.float32)
        users[:, :-1] = self.user_factors[rows]
        users[:, -1] = 1.0
        # One output buffer per thread, reused: a fresh 100 MB array per chunk costs more in page
        # faults than the multiplication itself. Callers must consume a block before the next call.
        buf = getattr(self._local, "buf", None)
        if buf is None or buf.shape[0] < len(rows):
            buf = self._local.buf = np.empty((len(rows), self._items_t.shape[1]), np.float32)
        out = buf[: len(rows)]
        np.matmul(users, self._items_t, out=out)
        return out


def embedding_scorer(user_factors: np.ndarray, item_factors: np.ndarray, item_bias: np.ndarray | None = None) -> EmbeddingScorer:
    return EmbeddingScorer(user_factors, item_factors, item_bias)


def _finalize(part: np.ndarray, part_scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort candidate columns by (-score, column) and pad to k."""
    order = np.lexsort((part, -part_scores), axis=1) if part.size else part
    items = np.take_along_axis(part, order, axis=1)[:, :k].astype(np.int32)
    best = np.take_along_axis(part_scores, order, axis=1)[:, :k].astype(np.float32)
    if items.shape[1] < k:
        pad = k - items.shape[1]
        items = np.hstack([items, np.full((items.shape[0], pad), NO_ITEM, np.int32)])
        best = np.hstack([best, np.full((best.shape[0], pad), -np.inf, np.float32)])
    items[~np.isfinite(best)] = NO_ITEM
    return items, best


def _top_k_full(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_items = scores.shape[1]
    kk = min(k, n_items)
    if kk < n_items:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        # argpartition breaks ties arbitrarily: rows with more than kk scores >= their kk-th best
        # take their kk lowest columns among the tied, from a stable sort.
        kth = np.take_along_axis(scores, part, axis=1).min(axis=1)
        tied = (scores >= kth[:, None]).sum(axis=1) > kk
        if tied.any():
            part[tied] = np.argsort(-scores[tied], axis=1, kind="stable")[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_items), scores.shape).copy()
    return _finalize(part, np.take_along_axis(scores, part, axis=1), k)


def _top_k_grouped(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of wide rows without partitioning every column.

    Columns are dealt into groups (column c goes to group c mod n_groups). The k-th largest group
    maximum is a lower bound of the row's k-th best score (k different groups hold k scores at least
    that high), so the true top k lie in the groups whose maximum reaches it: only those groups are
    gathered and sorted. Dealing columns round-robin makes the group maxima one element-wise
    reduction over contiguous rows. Ties keep the lowest column, as a stable full sort would."""
    n_rows, n_items = scores.shape
    n_groups = -(-n_items // GROUP_WIDTH)
    padded = n_groups * GROUP_WIDTH
    if padded != n_items:
        scores = np.hstack([scores, np.full((n_rows, padded - n_items), -np.inf, scores.dtype)])
    dealt = scores.reshape(n_rows, GROUP_WIDTH, n_groups)  # dealt[r, w, g] = scores[r, w * n_groups + g]
    group_max = dealt.max(axis=1)
    threshold = -np.partition(-group_max, k - 1, axis=1)[:, k - 1]
    bounded = np.isfinite(threshold)
    items = np.empty((n_rows, k), np.int32)
    best = np.empty((n_rows, k), np.float32)
    if bounded.any():
        rows = np.flatnonzero(bounded)
        reach = (group_max[rows] >= threshold[rows, None]).sum(axis=1)
        width = int(reach.max())
        top_groups = (np.argpartition(-group_max[rows], width - 1, axis=1)[:, :width] if width < n_groups
                      else np.broadcast_to(np.arange(n_groups), (len(rows), n_groups)))
        cols = (top_groups[:, :, None] + n_groups * np.arange(GROUP_WIDTH)).reshape(len(rows), -1)
        cand = scores[rows[:, None], cols]
        part = np.argpartition(-cand, k - 1, axis=1)[:, :k]
        # argpartition breaks ties arbitrarily; widen to every candidate tied with the k-th score.
        kth = np.take_along_axis(cand, part, axis=1).min(axis=1)
        ties = (cand >= kth[:, None]).sum(axis=1)
        if (ties > k).any():
            part = np.argsort(-cand, axis=1, kind="stable")[:, : int(ties.max())]
        part_cols = np.take_along_axis(cols, part, axis=1)
        part_scores = np.take_along_axis(cand, part, axis=1)
        part_cols[~np.isfinite(part_scores)] = padded  # never chosen over a real column
        items[rows], best[rows] = _finalize(part_cols, part_scores, k)
    if (~bounded).any():  # fewer than k groups hold a finite score: a full partition of those rows
        items[~bounded], best[~bounded] = _top_k_full(scores[~bounded, :n_items], k)
    items[items >= n_items] = NO_ITEM
    return items, best


def top_k_of_block(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best k columns of every row of a dense block, best first; ties go to the lower column."""
    if scores.shape[1] == 0:
        return (np.full((scores.shape[0], k), NO_ITEM, np.int32), np.full((scores.shape[0], k), -np.inf, np.float32))
    if scores.shape[1] >= GROUPED_MIN_ITEMS and k * 8 <= scores.shape[1] // GROUP_WIDTH:
        return _top_k_grouped(scores, k)
    return _top_k_full(scores, k)


def _mask_seen(block: np.ndarray, seen: sp.csr_matrix) -> None:
    """Set the (row, item) entries present in `seen` (rows aligned with `block`) to -inf, in place."""
    if seen.nnz:
        rows = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
        block[rows, seen.indices] = -np.inf


def recommend_top_k(
    score_block: ScoreBlock,
    n_users: int,
    k: int = 10,
    *,
    exclude: sp.csr_matrix | None = None,
    allowed_items: np.ndarray | None = None,
    users: np.ndarray | None = None,
    chunk_size: int | None = None,
    workers: int = 2,
) -> TopK:
    """Top-k items for `users` (default all `n_users`), skipping each user's `exclude` row and items
    outside `allowed_items` (a boolean mask over items). Returned indices are over all items.
    `chunk_size` users are scored at a time; by default as many as fit a BLOCK_BYTES score block."""
    rows_all = np.arange(n_users) if users is None else np.asarray(users)
    exclude_csr = None if exclude is None else sp.csr_matrix(exclude)
    column_map = None  # scored column -> item index, when only allowed items are scored
    disallowed = None
    if allowed_items is not None:
        allowed = np.asarray(allowed_items, dtype=bool)
        if hasattr(score_block, "restricted"):
            column_map = np.flatnonzero(allowed)
            score_block = score_block.restricted(column_map)
            if exclude_csr is not None:
                # Keep only excluded items that are scored, renumbered to scored columns.
                position = np.full(len(allowed), -1, np.int64)
                position[column_map] = np.arange(len(column_map))
                coo = exclude_csr.tocoo()
                keep = position[coo.col] >= 0
                exclude_csr = sp.csr_matrix((coo.data[keep], (coo.row[keep], position[coo.col[keep]])),
                                            shape=(exclude_csr.shape[0], len(column_map)))
        else:
            disallowed = ~allowed
    items_out = np.empty((len(rows_all), k), np.int32)
    scores_out = np.empty((len(rows_all), k), np.float32)
    if chunk_size is None:
        width = getattr(score_block, "n_columns", None) or (len(allowed_items) if allowed_items is not None else 1)
        chunk_size = int(np.clip(BLOCK_BYTES // (4 * max(int(width), 1)), MIN_CHUNK, MAX_CHUNK))

    def run_chunk(start: int) -> None:
        rows = rows_all[start : start + chunk_size]
        block = np.asarray(score_block(rows), dtype=np.float32)
        n_columns = getattr(score_block, "n_columns", block.shape[1])
        if disallowed is not None:
            block[:, disallowed] = -np.inf
        if exclude_csr is not None:
            _mask_seen(block, exclude_csr[rows])
        items, scores = top_k_of_block(block, k)
        items[items >= n_columns] = NO_ITEM  # padding columns
        if column_map is not None:
            items = np.where(items == NO_ITEM, NO_ITEM, column_map[np.maximum(items, 0)]).astype(np.int32)
        items_out[start : start + len(rows)], scores_out[start : start + len(rows)] = items, scores

    starts = range(0, len(rows_all), chunk_size)
    if workers > 1 and len(starts) > 1:
        # numpy releases the GIL in the heavy steps; one BLAS thread per worker avoids oversubscription.
        with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run_chunk, starts))
    else:
        for start in starts:
            run_chunk(start)
    return TopK(items=items_out, scores=scores_out)
