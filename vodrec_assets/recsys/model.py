"""LightFM training, reduced to plain arrays (embeddings + biases) that are stored without pickle."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Iterator

import numpy as np
import scipy.sparse as sp

from vodrec_assets.recsys.topk import ScoreBlock, embedding_scorer
from vodrec_assets.recsys.warm_start import FeatureParameters, LightFMState


@dataclass(frozen=True)
class LightFMConfig:
    """Defaults are the original's: WARP, 30 components, 10 epochs, random_state 0."""

    no_components: int = 30
    epochs: int = 10
    loss: str = "warp"
    learning_rate: float = 0.05
    item_alpha: float = 0.0
    user_alpha: float = 0.0
    max_sampled: int = 10
    random_state: int = 0
    num_threads: int = 1  # 1 gives byte-identical re-runs; more threads train faster but not reproducibly
    use_features: bool = False
    use_weights: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EmbeddingModel:
    """A trained factor model as arrays: score(u, i) = user_factors[u] . item_factors[i] + biases."""

    family: ClassVar[str] = "lightfm"  # the zoo's name for it (recsys/zoo.py)

    user_factors: np.ndarray  # float32 [n_users, d]
    user_bias: np.ndarray  # float32 [n_users]
    item_factors: np.ndarray  # float32 [n_items, d]
    item_bias: np.ndarray  # float32 [n_items]
    config: dict[str, Any] = field(default_factory=dict)
    fit_seconds: float = 0.0
    state: LightFMState | None = None  # LightFM's per-feature parameters, what next week warm-starts from

    def scorer(self) -> ScoreBlock:
        return embedding_scorer(self.user_factors, self.item_factors, self.item_bias)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors,
            "user_bias": self.user_bias,
            "item_factors": self.item_factors,
            "item_bias": self.item_bias,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], config: dict[str, Any], fit_seconds: float = 0.0) -> "EmbeddingModel":
        model = cls(
            user_factors=arrays["user_factors"],
            user_bias=arrays["user_bias"],
            item_factors=arrays["item_factors"],
            item_bias=arrays["item_bias"],
            config=config,
            fit_seconds=fit_seconds,
        )
        model.validate()
        return model

    def validate(self) -> None:
        n_users, d = self.user_factors.shape
        n_items, d_items = self.item_factors.shape
        if d != d_items or self.user_bias.shape != (n_users,) or self.item_bias.shape != (n_items,):
            raise ValueError(
                f"inconsistent model arrays: users {self.user_factors.shape}, items {self.item_factors.shape}, "
                f"biases {self.user_bias.shape}/{self.item_bias.shape}"
            )
        for name, a in self.to_arrays().items():
            if a.dtype != np.float32:
                raise ValueError(f"model array {name} has dtype {a.dtype}, expected float32")
            if not np.isfinite(a).all():
                raise ValueError(f"model array {name} has non-finite values")


def fit_lightfm(
    interactions: sp.spmatrix,
    config: LightFMConfig = LightFMConfig(),
    weights: sp.spmatrix | None = None,
    user_features: sp.spmatrix | None = None,
    item_features: sp.spmatrix | None = None,
    initial_state: LightFMState | None = None,
) -> EmbeddingModel:
    """Fit LightFM on a users x items matrix of positives; `weights` (same pattern) are sample weights.

    With `config.use_features`, `user_features`/`item_features` (which should include identity
    columns) make it the hybrid model; the stored factors are then the feature-based representations.
    With `initial_state` (warm_start.carry_over), training continues from it for `config.epochs`
    instead of starting from LightFM's random initialisation.
    """
    from lightfm import LightFM  # imported here: the compiled extension is only needed to train

    model = LightFM(
        no_components=config.no_components,
        loss=config.loss,
        learning_rate=config.learning_rate,
        item_alpha=config.item_alpha,
        user_alpha=config.user_alpha,
        max_sampled=config.max_sampled,
        random_state=config.random_state,
    )
    inter = sp.coo_matrix(interactions, dtype=np.float32)
    sample_weight = None
    if config.use_weights and weights is not None:
        sample_weight = sp.coo_matrix(weights, dtype=np.float32)
        if sample_weight.nnz != inter.nnz:
            raise ValueError("weights must have the same non-zero pattern as interactions")
    uf = sp.csr_matrix(user_features, dtype=np.float32) if config.use_features and user_features is not None else None
    itf = sp.csr_matrix(item_features, dtype=np.float32) if config.use_features and item_features is not None else None
    started = time.perf_counter()
    if initial_state is not None:
        _load_state(model, initial_state)
    (model.fit_partial if initial_state is not None else model.fit)(
        inter,
        user_features=uf,
        item_features=itf,
        sample_weight=sample_weight,
        epochs=config.epochs,
        num_threads=config.num_threads,
    )
    seconds = time.perf_counter() - started
    for record in _fit_records:
        record.append(seconds)
    user_bias, user_factors = model.get_user_representations(uf)
    item_bias, item_factors = model.get_item_representations(itf)
    return EmbeddingModel(
        user_factors=np.ascontiguousarray(user_factors, dtype=np.float32),
        user_bias=np.ascontiguousarray(user_bias, dtype=np.float32),
        item_factors=np.ascontiguousarray(item_factors, dtype=np.float32),
        item_bias=np.ascontiguousarray(item_bias, dtype=np.float32),
        config=config.to_dict(),
        fit_seconds=seconds,
        state=_state_of(model),
    )


_SIDES = (("users", "user"), ("items", "item"))

_fit_records: list[list[float]] = []


@contextmanager
def recorded_fit_seconds() -> Iterator[list[float]]:
    """The seconds of every LightFM fit made inside the block, in order (what `vodrec bench` reports per fit:
    the weekly model's and the holdout protocol's, which the assets make deep inside their own calls)."""
    record: list[float] = []
    _fit_records.append(record)
    try:
        yield record
    finally:
        _fit_records.remove(record)


def _load_state(model: Any, state: LightFMState) -> None:
    for side, prefix in _SIDES:
        params: FeatureParameters = getattr(state, side)
        setattr(model, f"{prefix}_embeddings", np.ascontiguousarray(params.embeddings, np.float32).copy())
        setattr(model, f"{prefix}_embedding_gradients", np.ascontiguousarray(params.embedding_gradients, np.float32).copy())
        setattr(model, f"{prefix}_embedding_momentum", np.zeros_like(params.embeddings, np.float32))  # adadelta only
        setattr(model, f"{prefix}_biases", np.ascontiguousarray(params.biases, np.float32).copy())
        setattr(model, f"{prefix}_bias_gradients", np.ascontiguousarray(params.bias_gradients, np.float32).copy())
        setattr(model, f"{prefix}_bias_momentum", np.zeros_like(params.biases, np.float32))


def _state_of(model: Any) -> LightFMState:
    return LightFMState(*(FeatureParameters(
        embeddings=getattr(model, f"{prefix}_embeddings"),
        embedding_gradients=getattr(model, f"{prefix}_embedding_gradients"),
        biases=getattr(model, f"{prefix}_biases"),
        bias_gradients=getattr(model, f"{prefix}_bias_gradients"),
    ) for _, prefix in _SIDES))


def with_identity(features: sp.spmatrix | None, n: int, feature_weight: float = 1.0) -> sp.csr_matrix:
    """Identity columns first (each user/item keeps its own embedding), side features after,
    rows normalized to sum 1 as LightFM's documentation recommends for hybrid models."""
    identity = sp.identity(n, dtype=np.float32, format="csr")
    if features is None or features.shape[1] == 0:
        return identity
    side = sp.csr_matrix(features, dtype=np.float32) * np.float32(feature_weight)
    stacked = sp.hstack([identity, side], format="csr")
    row_sums = np.asarray(stacked.sum(axis=1)).ravel()
    row_sums[row_sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / row_sums).astype(np.float32) @ stacked)
