"""Typed reads and writes of the array artifacts (score matrices, models) shared by several assets."""


import numpy as np

from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import EmbeddingModel
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


def load_model(artifacts: ArtifactStore, week: str) -> tuple[EmbeddingModel, np.ndarray, np.ndarray]:
    """The week's model and its user and item id maps; checksum, shapes and dtypes are verified."""
    arrays, manifest = artifacts.read_arrays(f"trained_model/{week}")
    model = EmbeddingModel.from_arrays(arrays, manifest.get("config", {}))
    if len(arrays["user_ids"]) != model.user_factors.shape[0] or len(arrays["item_ids"]) != model.item_factors.shape[0]:
        raise ValueError(f"trained_model/{week}: id maps do not match the factor matrices")
    return model, arrays["user_ids"], arrays["item_ids"]
