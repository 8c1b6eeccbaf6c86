"""Warm start: last week's LightFM parameters carried over to this week's feature columns.

A weekly window shares 11 of its 12 weeks with the previous one, so most of what a cold fit relearns
every week is already in last week's model. LightFM keeps one embedding and one bias per feature
column, and AdaGrad keeps the sum of squared gradients of each; the hybrid model's columns are one
identity column per subscriber (program) followed by the named side features (`with_identity`).
A column is carried over when last week had the same subscriber id (program id) or the same side
feature name; a new column starts as LightFM starts it (uniform in ±0.5 / no_components, bias 0,
accumulator 1).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vodrec_assets.recsys.matrix import ScoreMatrix, lookup

STATE_FORMAT = "vodrec-lightfm-state-v1"


@dataclass
class FeatureParameters:
    """One side (users or items) of a LightFM model: per feature column."""

    embeddings: np.ndarray  # float32 [n_columns, d]
    embedding_gradients: np.ndarray  # float32 [n_columns, d], AdaGrad's sums of squared gradients
    biases: np.ndarray  # float32 [n_columns]
    bias_gradients: np.ndarray  # float32 [n_columns]

    @classmethod
    def fresh(cls, n_columns: int, no_components: int, rng: np.random.RandomState) -> "FeatureParameters":
        """As LightFM's `_initialize` with the AdaGrad schedule."""
        return cls(
            embeddings=((rng.rand(n_columns, no_components) - 0.5) / no_components).astype(np.float32),
            embedding_gradients=np.ones((n_columns, no_components), np.float32),
            biases=np.zeros(n_columns, np.float32),
            bias_gradients=np.ones(n_columns, np.float32),
        )

    def take(self, rows: np.ndarray, into: "FeatureParameters") -> int:
        """Copy row `rows[j]` of self into row j of `into` wherever rows[j] >= 0; how many were copied."""
        known = rows >= 0
        for f in fields(self):
            getattr(into, f.name)[known] = getattr(self, f.name)[rows[known]]
        return int(known.sum())


@dataclass
class ColumnKeys:
    """What identifies the feature columns of one side: identity ids first, then side feature names."""

    ids: np.ndarray  # int64, sorted (a score matrix's user_ids / item_ids)
    names: np.ndarray  # str, the side features' names in column order

    @property
    def n_columns(self) -> int:
        return len(self.ids) + len(self.names)

    def rows_in(self, previous: "ColumnKeys") -> np.ndarray:
        """For each of our columns, its row in `previous`, -1 where new."""
        id_rows = lookup(previous.ids, self.ids)
        name_index = {str(n): len(previous.ids) + j for j, n in enumerate(previous.names)}
        name_rows = np.array([name_index.get(str(n), -1) for n in self.names], dtype=np.int64)
        return np.concatenate([id_rows.astype(np.int64), name_rows])


def column_keys(matrix: ScoreMatrix, use_features: bool) -> tuple[ColumnKeys, ColumnKeys]:
    """The user and item column keys of the features `evaluation.fit_on` gives LightFM for `matrix`."""
    none = np.array([], dtype="U1")
    return (ColumnKeys(matrix.user_ids, matrix.user_feature_names if use_features else none),
            ColumnKeys(matrix.item_ids, matrix.item_feature_names if use_features else none))


def pairs_watched_in(matrix: ScoreMatrix, week_pairs: pd.DataFrame) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The interactions and weights of `matrix` restricted to the pairs watched in one week
    (`weekly_pair_stats` rows with a watch ratio above 0): what a warm start trains on."""
    watched = week_pairs[week_pairs["watch_max_ratio"].fillna(0) > 0]
    u = matrix.user_index(watched["subsr_id"].to_numpy())
    i = matrix.item_index(watched["program_id"].to_numpy())
    keep = (u >= 0) & (i >= 0)
    mask = sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (u[keep], i[keep])), shape=matrix.shape)
    mask.sum_duplicates()
    mask.data[:] = 1.0
    return sp.csr_matrix(matrix.interactions.multiply(mask)), sp.csr_matrix(matrix.weights.multiply(mask))


@dataclass
class LightFMState:
    users: FeatureParameters
    items: FeatureParameters

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f"state_{side}_{f.name}": getattr(getattr(self, side), f.name)
                for side in ("users", "items") for f in fields(FeatureParameters)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "LightFMState | None":
        """The state `to_arrays` wrote, or None when the arrays hold none."""
        names = [f.name for f in fields(FeatureParameters)]
        if not all(f"state_users_{n}" in arrays and f"state_items_{n}" in arrays for n in names):
            return None
        return cls(*(FeatureParameters(**{n: arrays[f"state_{side}_{n}"] for n in names}) for side in ("users", "items")))


def carry_over(previous: LightFMState, prev_users: ColumnKeys, prev_items: ColumnKeys,
               users: ColumnKeys, items: ColumnKeys, no_components: int,
               rng: np.random.RandomState) -> tuple[LightFMState, dict[str, int]]:
    """This week's starting state: last week's rows where the column is the same, fresh rows elsewhere."""
    if previous.users.embeddings.shape[1] != no_components:
        raise ValueError(f"the previous model has {previous.users.embeddings.shape[1]} components, "
                         f"this one {no_components}: a warm start needs the same number")
    # Items first, as LightFM's _initialize draws them, so that a state with nothing carried over
    # starts exactly where a cold fit with the same random_state would.
    new_items = FeatureParameters.fresh(items.n_columns, no_components, rng)
    new_users = FeatureParameters.fresh(users.n_columns, no_components, rng)
    carried_items = previous.items.take(items.rows_in(prev_items), new_items)
    carried_users = previous.users.take(users.rows_in(prev_users), new_users)
    return LightFMState(users=new_users, items=new_items), {
        "carried_user_columns": carried_users, "new_user_columns": users.n_columns - carried_users,
        "carried_item_columns": carried_items, "new_item_columns": items.n_columns - carried_items,
    }
