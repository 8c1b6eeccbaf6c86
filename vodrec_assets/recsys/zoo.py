"""The model zoo: every recommender family behind one interface, pure (no Dagster, no I/O).

`fit_family(family, matrix, params)` fits one family on a week's score matrix and returns a
`ZooModel`: its arrays (stored without pickle: `to_arrays` / `from_arrays`), its hyperparameters and
`scorer()`, a ScoreBlock that `recommend_top_k` ranks through the same top-k code as LightFM. The
families:

- `lightfm`: the weekly hybrid LightFM (`evaluation.fit_on`), factors and biases;
- `ials`: implicit ALS from the `implicit` package (CPU build), confidence `alpha` x watch ratio;
- `ease`: EASE's closed-form item-item weights; a subscriber without history gets popularity;
- `item_knn`: cosine item-kNN, a subscriber without history gets popularity;
- `popularity`: the window's most watched programs;
- `lightfm_ease_blend`: LightFM and EASE scores, each min-max scaled per subscriber over the scored
  programs, mixed `weight` x LightFM + (1 - weight) x EASE.

What a family cannot do it says: EASE (and the blend) refuse catalogues above EASE_MAX_ITEMS with a
ValueError; the item-item families score a program nobody watched in the window 0 (it can only fill a
list behind every program with a positive score); a subscriber outside the window is not in any
model and is served the popularity list by the API, as today.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from vodrec_assets.recsys.baselines import EASE_MAX_ITEMS, ItemItemScorer, PopularityScorer, binary_positives, cosine_neighbours, ease_weights
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import EmbeddingModel, LightFMConfig
from vodrec_assets.recsys.topk import ScoreBlock, embedding_scorer

FAMILIES = ("lightfm", "ease", "ials", "item_knn", "popularity", "lightfm_ease_blend")
DEFAULT_FAMILY = "lightfm"
ZOO_FORMAT = "vodrec-zoo-v1"

# Each family's default hyperparameters; the weekly LightFM's are TrainingConfig's (hybrid, cold shape).
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "lightfm": LightFMConfig(use_features=True).to_dict(),
    "ease": {"l2": 250.0},
    "ials": {"factors": 64, "regularization": 100.0, "alpha": 10.0, "iterations": 15, "random_state": 0,
             "num_threads": 1},
    "item_knn": {"neighbours": 100, "shrink": 0.0},
    "popularity": {},
    "lightfm_ease_blend": {"weight": 0.5, "l2": 250.0, "lightfm": LightFMConfig(use_features=True).to_dict()},
}


def params_for(family: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The family's default hyperparameters updated with `overrides`; unknown families or keys refused."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; known: {', '.join(FAMILIES)}")
    params = dict(DEFAULT_PARAMS[family])
    unknown = set(overrides or {}) - set(params)
    if unknown:
        raise ValueError(f"{family} has no hyperparameter {', '.join(sorted(unknown))}; it has {', '.join(sorted(params)) or 'none'}")
    return params | dict(overrides or {})


# ----------------------------------------------------------------------------------------------- scorers

class WithFallback:
    """`inner`'s scores, except that rows without history get the popularity scores instead."""

    def __init__(self, inner: ScoreBlock, has_history: np.ndarray, popularity: np.ndarray):
        self.inner, self.has_history, self.popularity = inner, has_history, popularity

    def restricted(self, item_index: np.ndarray) -> "WithFallback":
        return WithFallback(self.inner.restricted(item_index), self.has_history, self.popularity[item_index])

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        block = np.array(self.inner(rows), dtype=np.float32)
        empty = ~self.has_history[rows]
        if empty.any():
            block[empty] = self.popularity[None, :]
        return block


class MinMaxBlend:
    """weight x minmax(a) + (1 - weight) x minmax(b), min-max per row over the scored columns."""

    def __init__(self, a: ScoreBlock, b: ScoreBlock, weight: float):
        self.a, self.b, self.weight = a, b, float(weight)

    def restricted(self, item_index: np.ndarray) -> "MinMaxBlend":
        return MinMaxBlend(self.a.restricted(item_index), self.b.restricted(item_index), self.weight)

    @staticmethod
    def _scaled(block: np.ndarray, n: int) -> np.ndarray:
        block = np.array(block[:, :n], dtype=np.float32)  # embedding blocks carry -inf padding columns
        low = block.min(axis=1, keepdims=True)
        span = block.max(axis=1, keepdims=True) - low
        span[span == 0] = 1.0
        return (block - low) / span

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        a = self.a(rows)
        n = getattr(self.a, "n_columns", a.shape[1])
        out = self.weight * self._scaled(a, n)
        out += (1.0 - self.weight) * self._scaled(self.b(rows), n)
        return out


# ------------------------------------------------------------------------------------------------ model

@dataclass
class ZooModel:
    """A fitted family: its arrays (all numpy, stored as .npz), hyperparameters and fit time."""

    family: str
    params: dict[str, Any]
    arrays: dict[str, np.ndarray]
    fit_seconds: float = 0.0

    @property
    def config(self) -> dict[str, Any]:
        """What the weekly model's manifest records as its configuration."""
        return self.params

    def to_arrays(self) -> dict[str, np.ndarray]:
        return dict(self.arrays)

    @classmethod
    def from_arrays(cls, family: str, params: dict[str, Any], arrays: dict[str, np.ndarray],
                    fit_seconds: float = 0.0) -> "ZooModel":
        if family not in FAMILIES:
            raise ValueError(f"stored model of unknown family {family!r}")
        model = cls(family, params, arrays, fit_seconds)
        model.scorer()  # validates shapes: a broken artifact fails on load, not while ranking
        return model

    def scorer(self) -> ScoreBlock:
        return _SCORERS[self.family](self.arrays, self.params)


def _history(a: dict[str, np.ndarray]) -> sp.csr_matrix:
    n_users, n_items = (int(v) for v in a["history_shape"])
    return sp.csr_matrix((np.ones(len(a["history_indices"]), np.float32), a["history_indices"], a["history_indptr"]),
                         shape=(n_users, n_items))


def _history_arrays(x: sp.csr_matrix) -> dict[str, np.ndarray]:
    return {"history_indptr": x.indptr.astype(np.int64), "history_indices": x.indices.astype(np.int32),
            "history_shape": np.asarray(x.shape, np.int64), "popularity": np.asarray(x.sum(axis=0), np.float32).ravel()}


def _embedding(a: dict[str, np.ndarray], prefix: str = "") -> EmbeddingModel:
    return EmbeddingModel.from_arrays({k: a[prefix + k] for k in ("user_factors", "user_bias", "item_factors", "item_bias")}, {})


def _item_item(a: dict[str, np.ndarray], weights: np.ndarray | sp.csr_matrix) -> ScoreBlock:
    x = _history(a)
    if weights.shape != (x.shape[1], x.shape[1]):
        raise ValueError(f"item-item weights {weights.shape} do not match {x.shape[1]} items")
    return WithFallback(ItemItemScorer(x, weights), np.diff(x.indptr) > 0, a["popularity"])


def _knn_weights(a: dict[str, np.ndarray]) -> sp.csr_matrix:
    n = int(a["history_shape"][1])
    return sp.csr_matrix((a["knn_data"], a["knn_indices"], a["knn_indptr"]), shape=(n, n))


_SCORERS: dict[str, Callable[[dict[str, np.ndarray], dict[str, Any]], ScoreBlock]] = {
    "lightfm": lambda a, p: _embedding(a).scorer(),
    "ials": lambda a, p: embedding_scorer(a["user_factors"], a["item_factors"]),
    "popularity": lambda a, p: PopularityScorer(a["popularity"]),
    "ease": lambda a, p: _item_item(a, a["ease_weights"]),
    "item_knn": lambda a, p: _item_item(a, _knn_weights(a)),
    "lightfm_ease_blend": lambda a, p: MinMaxBlend(_embedding(a, "lightfm_").scorer(), _item_item(a, a["ease_weights"]),
                                                   p["weight"]),
}


# ------------------------------------------------------------------------------------------------ fits

FitComponent = Callable[[str, dict[str, Any]], "ZooModel"]


def fit_family(family: str, matrix: ScoreMatrix, params: dict[str, Any] | None = None,
               interactions: sp.csr_matrix | None = None, weights: sp.csr_matrix | None = None,
               component: FitComponent | None = None) -> ZooModel:
    """Fit `family` on `matrix` (or on `interactions`/`weights`, a subset of its pairs, as the holdout
    protocol does). `component(family, params)` fits the blend's parts (default: fit them here; the
    backtest passes a cache). LightFM is fitted cold here: the weekly warm start stays in trained_model."""
    params = params_for(family, params)
    inter = matrix.interactions if interactions is None else interactions
    wts = matrix.weights if weights is None else weights
    started = time.perf_counter()
    parts_seconds = 0.0  # a blend's parts count at their own fit time, whether fitted now or cached
    if family == "lightfm":
        from vodrec_assets.recsys.evaluation import fit_on

        arrays = fit_on(matrix, inter, wts, LightFMConfig(**params)).to_arrays()
    elif family == "ials":
        arrays = fit_ials(inter, wts, params)
    elif family == "popularity":
        arrays = {"popularity": np.asarray((sp.csr_matrix(inter) != 0).sum(axis=0), np.float32).ravel()}
    elif family == "ease":
        x = binary_positives(inter)
        arrays = _history_arrays(x) | {"ease_weights": ease_weights(x, params["l2"], EASE_MAX_ITEMS)}
    elif family == "item_knn":
        x = binary_positives(inter)
        knn = cosine_neighbours(x, int(params["neighbours"]), float(params["shrink"]))
        arrays = _history_arrays(x) | {"knn_data": knn.data.astype(np.float32), "knn_indices": knn.indices.astype(np.int32),
                                       "knn_indptr": knn.indptr.astype(np.int64)}
    else:  # lightfm_ease_blend
        if component is None:
            def component(f: str, p: dict[str, Any]) -> ZooModel:
                return fit_family(f, matrix, p, inter, wts)
        t0 = time.perf_counter()
        lf = component("lightfm", params["lightfm"])
        ease = component("ease", {"l2": params["l2"]})
        started += time.perf_counter() - t0
        parts_seconds = lf.fit_seconds + ease.fit_seconds
        arrays = {f"lightfm_{k}": v for k, v in lf.arrays.items()} | ease.arrays
    return ZooModel(family, params, arrays, time.perf_counter() - started + parts_seconds)


def fit_ials(interactions: sp.csr_matrix, weights: sp.csr_matrix, params: dict[str, Any]) -> dict[str, np.ndarray]:
    """implicit's CPU ALS on confidence = alpha x watch ratio of each watched pair (at least a small
    positive, so a zero ratio still counts as watched)."""
    from implicit.cpu.als import AlternatingLeastSquares  # imported here: only this family needs it

    inter = sp.csr_matrix(interactions, dtype=np.float32)
    conf = sp.csr_matrix(weights, dtype=np.float32).multiply(inter != 0).tocsr() if weights is not None else inter
    conf = sp.csr_matrix(conf + 1e-3 * (inter != 0), dtype=np.float32)  # keep the pattern where the ratio is 0
    conf.sort_indices()
    with threadpool_limits(limits=1, user_api="blas"):  # implicit parallelizes itself; BLAS threads fight it
        model = AlternatingLeastSquares(
            factors=int(params["factors"]), regularization=float(params["regularization"]),
            alpha=float(params["alpha"]), iterations=int(params["iterations"]),
            random_state=int(params["random_state"]), num_threads=int(params["num_threads"]),
            calculate_training_loss=False,
        )
        model.fit(conf, show_progress=False)
    user_factors = np.ascontiguousarray(model.user_factors, np.float32)
    item_factors = np.ascontiguousarray(model.item_factors, np.float32)
    if user_factors.shape[0] != inter.shape[0] or item_factors.shape[0] != inter.shape[1]:
        raise ValueError(f"implicit returned {user_factors.shape[0]} x {item_factors.shape[0]} factors for a "
                         f"{inter.shape} matrix")
    return {"user_factors": user_factors, "item_factors": item_factors}
