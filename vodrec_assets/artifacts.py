"""Typed reads and writes of the array artifacts (score matrices, models) shared by several assets."""


import numpy as np

from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import EmbeddingModel
from vodrec_assets.recsys.warm_start import STATE_FORMAT, ColumnKeys, LightFMState
from vodrec_assets.recsys.zoo import ZOO_FORMAT, ZooModel
from vodrec_assets.resources import ArtifactStore


def load_score_matrix(artifacts: ArtifactStore, week: str) -> ScoreMatrix:
    arrays, _ = artifacts.read_arrays(f"score_matrix/{week}")
    return ScoreMatrix.from_arrays(arrays)


def save_model(artifacts: ArtifactStore, week: str, model: EmbeddingModel, matrix: ScoreMatrix, extra: dict) -> str:
    """The model as arrays + JSON (never pickle), self-contained with its id maps."""
    arrays = model.to_arrays() | {"user_ids": matrix.user_ids, "item_ids": matrix.item_ids}
    artifacts.write_arrays(
        f"trained_model/{week}", arrays,
        {"week": week, "format": "vodrec-embedding-v1", "config": model.config, **extra},
    )
    return artifacts.uri(f"trained_model/{week}.npz")


def save_zoo_model(artifacts: ArtifactStore, week: str, model: ZooModel, matrix: ScoreMatrix, extra: dict) -> str:
    """A model of another family than LightFM (recsys/zoo.py), as arrays + JSON naming its family."""
    arrays = model.to_arrays() | {"user_ids": matrix.user_ids, "item_ids": matrix.item_ids}
    artifacts.write_arrays(
        f"trained_model/{week}", arrays,
        {"week": week, "format": ZOO_FORMAT, "family": model.family, "config": model.params, **extra},
    )
    return artifacts.uri(f"trained_model/{week}.npz")


def load_model(artifacts: ArtifactStore, week: str) -> tuple[EmbeddingModel | ZooModel, np.ndarray, np.ndarray]:
    """The week's model (LightFM's EmbeddingModel, or a ZooModel of another family: both have
    `family`, `config` and `scorer()`) and its user and item id maps; checksum, shapes and dtypes are
    verified."""
    arrays, manifest = artifacts.read_arrays(f"trained_model/{week}")
    user_ids, item_ids = arrays.pop("user_ids"), arrays.pop("item_ids")
    if manifest.get("format") == ZOO_FORMAT:
        model = ZooModel.from_arrays(manifest["family"], manifest.get("config", {}), arrays)
        scored = model.scorer()
        n_items = getattr(scored, "n_columns", None) or len(item_ids)
        if n_items != len(item_ids):
            raise ValueError(f"trained_model/{week}: id maps do not match the model's {n_items} items")
        return model, user_ids, item_ids
    model = EmbeddingModel.from_arrays(arrays, manifest.get("config", {}))
    if len(user_ids) != model.user_factors.shape[0] or len(item_ids) != model.item_factors.shape[0]:
        raise ValueError(f"trained_model/{week}: id maps do not match the factor matrices")
    return model, user_ids, item_ids


def save_lightfm_state(artifacts: ArtifactStore, week: str, state: LightFMState, users: ColumnKeys,
                       items: ColumnKeys, config: dict) -> None:
    """LightFM's per-feature parameters of the week's model, what next week's fit warm-starts from.
    Apart from the model so that serving never loads them."""
    arrays = state.to_arrays() | {
        "user_column_ids": users.ids, "user_column_names": users.names.astype("U"),
        "item_column_ids": items.ids, "item_column_names": items.names.astype("U"),
    }
    artifacts.write_arrays(f"lightfm_state/{week}", arrays, {"week": week, "format": STATE_FORMAT, "config": config})


def load_lightfm_state(artifacts: ArtifactStore, week: str) -> tuple[LightFMState, ColumnKeys, ColumnKeys, dict] | None:
    """The week's stored LightFM state, its column keys and config; None when the week has none."""
    if not artifacts.exists(f"lightfm_state/{week}.npz"):
        return None
    arrays, manifest = artifacts.read_arrays(f"lightfm_state/{week}")
    state = LightFMState.from_arrays(arrays)
    if state is None or manifest.get("format") != STATE_FORMAT:
        return None
    return (state, ColumnKeys(arrays["user_column_ids"], arrays["user_column_names"]),
            ColumnKeys(arrays["item_column_ids"], arrays["item_column_names"]), manifest.get("config", {}))


def retire_lightfm_state(artifacts: ArtifactStore, week: str, family: str) -> None:
    """The week's model is not LightFM: replace any LightFM state an earlier run of the week stored by
    a record that holds none, so next week's LightFM fits cold instead of continuing a stale model."""
    artifacts.write_arrays(f"lightfm_state/{week}", {"no_state": np.zeros(0, np.float32)},
                           {"week": week, "format": "none", "family": family})
