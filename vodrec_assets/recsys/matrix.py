"""The score matrix: sparse interactions with stable id <-> index maps, plus side features.

Ids become integer codes once, here; everything downstream works on int32/float32 arrays and CSR.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

ITEM_FEATURE_COLUMNS = ("program_genre", "ct_cl", "age_limit")
USER_FEATURE_COLUMNS = ("age_band", "gender", "region")


@dataclass
class ScoreMatrix:
    """Subscribers x programs. Rows are `user_ids` (sorted), columns `item_ids` (sorted)."""

    user_ids: np.ndarray  # int64 [n_users]
    item_ids: np.ndarray  # int64 [n_items]
    interactions: sp.csr_matrix  # float32, 1 where watched
    weights: sp.csr_matrix  # float32, the rating where watched (same pattern)
    item_allowed: np.ndarray  # bool [n_items]: may be recommended (in the catalogue, e_bool = 0)
    user_features: sp.csr_matrix  # float32 [n_users, n_user_features], one-hot
    item_features: sp.csr_matrix  # float32 [n_items, n_item_features], one-hot
    user_feature_names: np.ndarray  # str
    item_feature_names: np.ndarray  # str

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.user_ids), len(self.item_ids)

    def user_index(self, ids: np.ndarray) -> np.ndarray:
        """Row index of each id, -1 where unknown."""
        return lookup(self.user_ids, ids)

    def item_index(self, ids: np.ndarray) -> np.ndarray:
        return lookup(self.item_ids, ids)

    def subscriber_sample(self, max_users: int, seed: int = 0) -> "ScoreMatrix":
        """The rows of a fixed random sample of `max_users` subscribers (in id order), or self when there
        are no more than that. Columns, item features and id order are unchanged."""
        n_users = self.shape[0]
        if n_users <= max_users:
            return self
        rows = np.sort(np.random.default_rng(seed).choice(n_users, max_users, replace=False))
        return replace(self, user_ids=self.user_ids[rows], interactions=self.interactions[rows],
                       weights=self.weights[rows], user_features=self.user_features[rows])

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {
            "user_ids": self.user_ids,
            "item_ids": self.item_ids,
            "item_allowed": self.item_allowed,
            "user_feature_names": self.user_feature_names.astype("U"),
            "item_feature_names": self.item_feature_names.astype("U"),
        }
        for name in ("interactions", "weights", "user_features", "item_features"):
            m: sp.csr_matrix = getattr(self, name)
            out[f"{name}_data"] = m.data.astype(np.float32)
            out[f"{name}_indices"] = m.indices.astype(np.int32)
            out[f"{name}_indptr"] = m.indptr.astype(np.int64)
            out[f"{name}_shape"] = np.asarray(m.shape, dtype=np.int64)
        return out

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> "ScoreMatrix":
        def csr(name: str) -> sp.csr_matrix:
            return sp.csr_matrix(
                (a[f"{name}_data"], a[f"{name}_indices"], a[f"{name}_indptr"]), shape=tuple(a[f"{name}_shape"])
            )

        matrix = cls(
            user_ids=a["user_ids"],
            item_ids=a["item_ids"],
            interactions=csr("interactions"),
            weights=csr("weights"),
            item_allowed=a["item_allowed"].astype(bool),
            user_features=csr("user_features"),
            item_features=csr("item_features"),
            user_feature_names=a["user_feature_names"],
            item_feature_names=a["item_feature_names"],
        )
        matrix.validate()
        return matrix

    def validate(self) -> None:
        n_users, n_items = self.shape
        for name in ("interactions", "weights"):
            if getattr(self, name).shape != (n_users, n_items):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected {(n_users, n_items)}")
        if self.user_features.shape[0] != n_users or self.item_features.shape[0] != n_items:
            raise ValueError("feature matrices do not match the id maps")
        if self.item_allowed.shape != (n_items,):
            raise ValueError("item_allowed does not match the item map")
        if len(np.unique(self.user_ids)) != n_users or len(np.unique(self.item_ids)) != n_items:
            raise ValueError("id maps must not repeat an id")


_MAX_TABLE = 1 << 25  # ids spanning at most this many values are looked up in a table (256 MB at most)


def lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Position of each of `ids` in `sorted_ids` (unique), -1 where absent. Ids within a bounded span
    (subscriber and program ids are) go through a table of positions, one read each, instead of a
    binary search: 30 M watched pairs at a million subscribers (docs/performance.md)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    lo, hi = int(sorted_ids[0]), int(sorted_ids[-1])
    if hi - lo < _MAX_TABLE and len(ids) > len(sorted_ids) // 8:
        table = np.full(hi - lo + 1, -1, np.int64)
        table[sorted_ids - lo] = np.arange(len(sorted_ids))
        inside = (ids >= lo) & (ids <= hi)
        return np.where(inside, table[np.where(inside, ids - lo, 0)], -1)
    pos = np.searchsorted(sorted_ids, ids)
    pos_c = np.minimum(pos, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos_c] == ids, pos_c, -1)


def one_hot(frame: pd.DataFrame, columns: tuple[str, ...], n_rows: int, row_index: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """One-hot features `column=value` (values split on '|' for multi-valued genres)."""
    rows_parts, names_parts = [], []
    for col in columns:
        if col not in frame.columns:
            continue
        text = frame[col].astype("string").fillna("unknown")
        if text.str.contains("|", regex=False).any():
            exploded = text.str.split("|").explode()
        else:  # single-valued (the subscribers' columns): what the explode would give, without lists
            exploded = text
        rows_parts.append(row_index[exploded.index.to_numpy()] if len(exploded) else np.array([], np.int64))
        names_parts.append((col + "=" + exploded.astype("string").str.strip()).to_numpy(dtype=object))
    if not rows_parts:
        return sp.csr_matrix((n_rows, 0), dtype=np.float32), np.array([], dtype="U1")
    rows = np.concatenate(rows_parts)
    names = np.concatenate(names_parts)
    keep = rows >= 0
    vocab, cols = np.unique(names[keep].astype(str), return_inverse=True)
    m = sp.csr_matrix((np.ones(keep.sum(), np.float32), (rows[keep], cols)), shape=(n_rows, len(vocab)))
    m.data[:] = 1.0  # a value listed twice is still one feature
    return m, vocab


@dataclass
class RatedPairs:
    """What the score matrix needs of the cleaned ratings: every subscriber and program with a pair in
    the window (click-only pairs included), and the watched pairs with their rating."""

    user_ids: np.ndarray  # int64, sorted, unique
    program_ids: np.ndarray  # int64, sorted, unique
    watched_subsr_id: np.ndarray  # int64
    watched_program_id: np.ndarray  # int64
    watched_rating: np.ndarray  # float32

    @classmethod
    def from_frame(cls, ratings: pd.DataFrame) -> "RatedPairs":
        watched = ratings[ratings["watched"] == 1]
        return cls(
            user_ids=np.unique(ratings["subsr_id"].to_numpy(np.int64)),
            program_ids=np.unique(ratings["program_id"].to_numpy(np.int64)),
            watched_subsr_id=watched["subsr_id"].to_numpy(np.int64),
            watched_program_id=watched["program_id"].to_numpy(np.int64),
            watched_rating=watched["rating"].to_numpy(np.float32),
        )

    @classmethod
    def read(cls, ratings: pq.ParquetFile, batch_rows: int = 1 << 20) -> "RatedPairs":
        """The same from a cleaned_ratings Parquet file, read batch by batch and only the four columns
        needed: memory for the distinct ids and the watched pairs, not for the whole table."""
        users, programs, subsr_parts, program_parts, rating_parts = [], [], [], [], []
        for batch in ratings.iter_batches(batch_size=batch_rows, columns=["subsr_id", "program_id", "rating", "watched"]):
            subsr = batch.column(0).to_numpy().astype(np.int64, copy=False)
            program = batch.column(1).to_numpy().astype(np.int64, copy=False)
            users.append(pd.unique(subsr))
            programs.append(pd.unique(program))
            watched = batch.column(3).to_numpy() == 1
            subsr_parts.append(subsr[watched])
            program_parts.append(program[watched])
            rating_parts.append(batch.column(2).to_numpy(zero_copy_only=False)[watched].astype(np.float32))

        def joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
            return np.concatenate(parts).astype(dtype, copy=False) if parts else np.empty(0, dtype)

        return cls(
            user_ids=np.unique(joined(users, np.int64)),
            program_ids=np.unique(joined(programs, np.int64)),
            watched_subsr_id=joined(subsr_parts, np.int64),
            watched_program_id=joined(program_parts, np.int64),
            watched_rating=joined(rating_parts, np.float32),
        )


def build_score_matrix(ratings: pd.DataFrame | RatedPairs, catalog: pd.DataFrame, subscribers: pd.DataFrame) -> ScoreMatrix:
    """From cleaned ratings (one row per pair: a frame, or `RatedPairs.read` of its Parquet file), the
    week's catalogue and subscribers.

    Users: every subscriber with a pair in the window. Items: the catalogue plus any rated program,
    so that new programs can be scored; only catalogue programs with e_bool = 0 may be recommended.
    """
    pairs = RatedPairs.from_frame(ratings) if isinstance(ratings, pd.DataFrame) else ratings
    user_ids = pairs.user_ids
    catalog_ids = catalog["program_id"].to_numpy(np.int64)
    item_ids = np.unique(np.concatenate([catalog_ids, pairs.program_ids]))
    n_users, n_items = len(user_ids), len(item_ids)

    rows = lookup(user_ids, pairs.watched_subsr_id)
    cols = lookup(item_ids, pairs.watched_program_id)
    rating = pairs.watched_rating
    interactions = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    weights = sp.csr_matrix((rating, (rows, cols)), shape=(n_users, n_items))
    interactions.sum_duplicates()
    weights.sum_duplicates()

    allowed = np.zeros(n_items, dtype=bool)
    cat_index = lookup(item_ids, catalog_ids)
    e_bool = pd.to_numeric(catalog.get("e_bool", pd.Series(0, index=catalog.index)), errors="coerce").fillna(1)
    allowed[cat_index[e_bool.to_numpy() == 0]] = True

    item_frame = catalog.reset_index(drop=True).copy()
    if "age_limit" in item_frame:
        item_frame["age_limit"] = pd.to_numeric(item_frame["age_limit"], errors="coerce").fillna(0).astype(int).astype(str)
    item_features, item_names = one_hot(item_frame, ITEM_FEATURE_COLUMNS, n_items, cat_index)
    user_frame = subscribers.reset_index(drop=True)
    user_index = lookup(user_ids, user_frame["subsr_id"].to_numpy(np.int64))
    user_features, user_names = one_hot(user_frame, USER_FEATURE_COLUMNS, n_users, user_index)

    matrix = ScoreMatrix(
        user_ids=user_ids,
        item_ids=item_ids,
        interactions=interactions,
        weights=weights,
        item_allowed=allowed,
        user_features=user_features,
        item_features=item_features,
        user_feature_names=user_names,
        item_feature_names=item_names,
    )
    matrix.validate()
    return matrix
