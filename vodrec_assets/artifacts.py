"""The artifact catalogue: every object vodrec keeps in the artifact store (a local folder or S3), once.

Each `Artifact` says its key for a week, how it is read and written (its format), and what produces it
(an asset, or an on-demand job). Every read and write of the store goes through one of them, so no key is
typed twice; an asset's declared dependencies are `Artifact.dep()` of what it reads, and
vodrec_assets_tests/assets/test_artifact_lineage.py checks that the lineage Dagster shows is what the code
reads, except the reads listed in UNDECLARED_READS with their reason. The typed loaders of the array
artifacts (score matrices, models, LightFM state) follow the catalogue."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from vodrec_assets.partitions import weekly_partitions
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.model import EmbeddingModel
from vodrec_assets.recsys.warm_start import STATE_FORMAT, ColumnKeys, LightFMState
from vodrec_assets.recsys.zoo import ZOO_FORMAT, ZooModel
from vodrec_assets.resources import ArtifactStore

FORMATS = ("parquet", "json", "arrays", "png")
_WEEK = r"\d{4}-\d{2}-\d{2}"


@dataclass(frozen=True)
class Artifact:
    """One stored artifact. `template` is its key with `{week}` (or another field) left open; an array
    artifact's key has no extension: the store keeps `<key>.npz` and its manifest copy `<key>.json`."""

    template: str
    format: str
    producer: str  # the asset key that writes it, or "job <name>" for an on-demand job's output
    description: str

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"{self.template}: format {self.format!r} is none of {FORMATS}")

    @property
    def produced_by_asset(self) -> bool:
        return not self.producer.startswith("job ")

    def key(self, week: str | None = None, **fields: str) -> str:
        return self.template.format(week=week, **fields)

    def _file(self, key: str, part: str | None) -> str:
        """The stored file of a key: an array artifact's `.json` manifest copy (written last, so its
        presence means the `.npz` is complete) unless `part="npz"`."""
        return f"{key}.{part or 'json'}" if self.format == "arrays" else key

    def exists(self, store: ArtifactStore, week: str | None = None, part: str | None = None, **fields: str) -> bool:
        return store.exists(self._file(self.key(week, **fields), part))

    def uri(self, store: ArtifactStore, week: str | None = None, **fields: str) -> str:
        return store.uri(self._file(self.key(week, **fields), "npz"))

    def read(self, store: ArtifactStore, week: str | None = None, columns: list[str] | None = None,
             **fields: str) -> Any:
        """A DataFrame (parquet), the payload (json), (arrays, manifest) (arrays) or the bytes (png)."""
        key = self.key(week, **fields)
        if self.format == "parquet":
            return store.read_parquet(key, columns)
        if self.format == "json":
            return store.read_json(key)
        if self.format == "arrays":
            return store.read_arrays(key)
        return store.get_bytes(key)

    def manifest(self, store: ArtifactStore, week: str | None = None, **fields: str) -> dict[str, Any]:
        """An array artifact's manifest alone (shapes, dtypes, config), without loading its arrays."""
        if self.format != "arrays":
            raise TypeError(f"{self.template}: only an array artifact has a manifest")
        return store.read_json(self._file(self.key(week, **fields), None))

    def open(self, store: ArtifactStore, week: str | None = None, **fields: str):
        """A Parquet artifact to read batch by batch (ArtifactStore.open_parquet)."""
        return store.open_parquet(self.key(week, **fields))

    def write(self, store: ArtifactStore, value: Any, week: str | None = None,
              manifest: dict[str, Any] | None = None, **fields: str) -> None:
        """A DataFrame, an Arrow table or Parquet bytes (parquet); a payload (json); a dict of arrays with
        `manifest` (arrays); PNG bytes (png)."""
        key = self.key(week, **fields)
        if self.format == "parquet" and isinstance(value, pd.DataFrame):
            store.write_parquet(key, value)
        elif self.format == "parquet" and isinstance(value, pa.Table):
            store.write_arrow(key, value)
        elif self.format == "json":
            store.write_json(key, value)
        elif self.format == "arrays":
            store.write_arrays(key, value, manifest or {})
        elif isinstance(value, bytes):
            store.put_bytes(key, value)
        else:
            raise TypeError(f"{self.template}: cannot write a {type(value).__name__} as {self.format}")

    @property
    def prefix(self) -> str:
        return self.template.split("{", 1)[0]

    def _pattern(self) -> re.Pattern:
        suffix = ".json" if self.format == "arrays" else ""
        parts = re.split(r"(\{\w+\})", self.template + suffix)
        return re.compile("".join(
            (f"(?P<week>{_WEEK})" if p == "{week}" else r"[^/]+") if p.startswith("{") else re.escape(p)
            for p in parts) + "$")

    def owns(self, key: str) -> bool:
        """Whether a stored key (an array artifact's .npz or .json) is one of this artifact's."""
        if self.format == "arrays":
            key = re.sub(r"\.npz$", ".json", key)
        return bool(self._pattern().match(key))

    def stored_keys(self, store: ArtifactStore) -> list[str]:
        """The keys of every stored instance (an array artifact's manifest copies), sorted."""
        return sorted(k for k in store.list_keys(self.prefix) if self._pattern().match(k))

    def stored_weeks(self, store: ArtifactStore) -> list[str]:
        """The weeks that have this artifact stored, oldest first."""
        return sorted({self._pattern().match(k).group("week") for k in self.stored_keys(store)})

    def dep(self, partition_mapping: dg.PartitionMapping | None = None) -> dg.AssetDep:
        """The dependency on this artifact's producing asset, as an asset that reads it declares it."""
        if not self.produced_by_asset:
            raise ValueError(f"{self.template} is written by {self.producer}: no asset to depend on")
        return dg.AssetDep(self.producer, partition_mapping=partition_mapping)


RAW_VOD_LOGS = Artifact("raw_vod_logs/{week}.parquet", "parquet", "raw_vod_logs",
                        "the week's vods_sumut rows as read (text from SQLite)")
RAW_CLICK_LOGS = Artifact("raw_click_logs/{week}.parquet", "parquet", "raw_click_logs",
                          "the week's contlog rows as read (text from SQLite)")
VOD_CATALOG = Artifact("vod_catalog/{week}.parquet", "parquet", "vod_catalog",
                       "the usable vodinfo rows as of the week's end")
VOD_CATALOG_QUARANTINE = Artifact("vod_catalog/{week}.quarantined.parquet", "parquet", "vod_catalog",
                                  "vodinfo rows with an unusable id or number, with their reason")
SUBSCRIBERS = Artifact("subscribers/{week}.parquet", "parquet", "subscribers",
                       "the usable userinfo rows as of the week's end")
SUBSCRIBERS_QUARANTINE = Artifact("subscribers/{week}.quarantined.parquet", "parquet", "subscribers",
                                  "userinfo rows with an unusable id, with their reason")
UNASSIGNED_ROWS = Artifact("quarantined_rows/unassigned.parquet", "parquet", "unassigned_log_rows",
                           "log rows no weekly partition reads, with their reason and table")
WEEKLY_PAIR_STATS = Artifact("weekly_pair_stats/{week}.parquet", "parquet", "weekly_pair_stats",
                             "per (subscriber, program) statistics of the week")
WEEKLY_PAIR_SUMMARY = Artifact("weekly_pair_stats/{week}.json", "json", "weekly_pair_stats",
                               "the week's row and quarantine counts")
WEEK_QUARANTINE = Artifact("quarantined_rows/{week}.parquet", "parquet", "weekly_pair_stats",
                           "every row the week could not use, with its reason and table")
CLEANED_RATINGS = Artifact("cleaned_ratings/{week}.parquet", "parquet", "cleaned_ratings",
                           "the lookback window's cleaned ratings")
SCORE_MATRIX = Artifact("score_matrix/{week}", "arrays", "score_matrix",
                        "CSR interactions and weights, id maps and features")
TRAINED_MODEL = Artifact("trained_model/{week}", "arrays", "trained_model",
                         "the week's model (embeddings or a zoo family) with its id maps")
LIGHTFM_STATE = Artifact("lightfm_state/{week}", "arrays", "trained_model",
                         "LightFM's per-feature parameters, what next week warm-starts from")
MODEL_SELECTION = Artifact("model_selection/{week}.json", "json", "job select_model",
                           "the hyperparameter search's winner and table for a week")
WEEKLY_METRICS = Artifact("weekly_metrics/{week}.json", "json", "weekly_metrics",
                          "the week's metrics, notes and quality gate verdict")
METRICS_HISTORY = Artifact("metrics_history/metrics_history.parquet", "parquet", "metrics_history",
                           "every week's metrics as one table")
METRICS_PLOT = Artifact("metrics_history/metrics.png", "png", "metrics_history",
                        "the weekly metrics, model against popularity")
LEGACY_DASHBOARD_FILE = Artifact("model_accuracy/{name}.json", "json", "metrics_history",
                                 "the original dashboard's file of one metric")
RECOMMENDATIONS = Artifact("recommendations/{week}.parquet", "parquet", "recommendations",
                           "every subscriber's top 10 of the week")
CHAMPION_HISTORY = Artifact("champion/history.json", "json", "champion_model",
                            "the champion decisions, one row per week")
BACKTEST_CHOICE = Artifact("backtest/choice.json", "json", "job backtest",
                           "the family and hyperparameters the newest backtest chose")
BACKTEST_RUN = Artifact("backtest/runs/{stamp}.json", "json", "job backtest",
                        "the whole result of one backtest run")
BACKTEST_PLOT = Artifact("backtest/comparison.png", "png", "job backtest",
                         "held-out P@10 per week and family")

CATALOGUE: dict[str, Artifact] = {name: value for name, value in list(globals().items())
                                  if isinstance(value, Artifact)}

# Reads of one asset that its declared dependencies deliberately leave out, each with why.
UNDECLARED_READS: dict[tuple[str, str], str] = {
    ("trained_model", "MODEL_SELECTION"):
        "the newest model_selection at or before the week, written by the on-demand job select_model: no "
        "asset produces it, and which week it comes from is only known when the run reads the store",
    ("weekly_pair_stats", "WEEKLY_PAIR_STATS"):
        "the drift figures compare the week with the (up to 4) weeks before it that are stored; declared, the "
        "dependency would make every week wait for the one before it in a backfill",
    ("weekly_pair_stats", "WEEKLY_PAIR_SUMMARY"): "the trailing weeks' log rows, for the same drift figures",
    ("trained_model", "LIGHTFM_STATE"):
        "the previous week's LightFM state, which the warm start continues: the weekly assets run as one fused "
        "step (fused_weeks.py) that orders the weeks itself, and Dagster 1.13 allows a multi-asset one partition "
        "mapping per upstream asset, while weekly_metrics reads trained_model with another (this and last week)",
    ("trained_model", "BACKTEST_CHOICE"):
        "written by the on-demand job backtest, which is no asset; read unless the run config names a family",
}


def artifact_of(key: str) -> tuple[str, Artifact]:
    """The catalogue entry (name, artifact) a stored key belongs to; KeyError for a key of no artifact."""
    for name, artifact in CATALOGUE.items():
        if artifact.owns(key):
            return name, artifact
    raise KeyError(f"{key} belongs to no artifact of the catalogue")


def load_score_matrix(artifacts: ArtifactStore, week: str) -> ScoreMatrix:
    arrays, _ = SCORE_MATRIX.read(artifacts, week)
    return ScoreMatrix.from_arrays(arrays)


def save_model(artifacts: ArtifactStore, week: str, model: EmbeddingModel, matrix: ScoreMatrix, extra: dict) -> str:
    """The model as arrays + JSON (never pickle), self-contained with its id maps."""
    arrays = model.to_arrays() | {"user_ids": matrix.user_ids, "item_ids": matrix.item_ids}
    TRAINED_MODEL.write(artifacts, arrays, week,
                        manifest={"week": week, "format": "vodrec-embedding-v1", "config": model.config, **extra})
    return TRAINED_MODEL.uri(artifacts, week)


def save_zoo_model(artifacts: ArtifactStore, week: str, model: ZooModel, matrix: ScoreMatrix, extra: dict) -> str:
    """A model of another family than LightFM (recsys/zoo.py), as arrays + JSON naming its family."""
    arrays = model.to_arrays() | {"user_ids": matrix.user_ids, "item_ids": matrix.item_ids}
    TRAINED_MODEL.write(artifacts, arrays, week, manifest={"week": week, "format": ZOO_FORMAT, "family": model.family,
                                                           "config": model.params, **extra})
    return TRAINED_MODEL.uri(artifacts, week)


def load_model(artifacts: ArtifactStore, week: str) -> tuple[EmbeddingModel | ZooModel, np.ndarray, np.ndarray]:
    """The week's model (LightFM's EmbeddingModel, or a ZooModel of another family: both have
    `family`, `config` and `scorer()`) and its user and item id maps; checksum, shapes and dtypes are
    verified."""
    arrays, manifest = TRAINED_MODEL.read(artifacts, week)
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
    LIGHTFM_STATE.write(artifacts, arrays, week, manifest={"week": week, "format": STATE_FORMAT, "config": config})


def load_lightfm_state(artifacts: ArtifactStore, week: str) -> tuple[LightFMState, ColumnKeys, ColumnKeys, dict] | None:
    """The week's stored LightFM state, its column keys and config; None when the week has none."""
    if not LIGHTFM_STATE.exists(artifacts, week, part="npz"):
        return None
    arrays, manifest = LIGHTFM_STATE.read(artifacts, week)
    state = LightFMState.from_arrays(arrays)
    if state is None or manifest.get("format") != STATE_FORMAT:
        return None
    return (state, ColumnKeys(arrays["user_column_ids"], arrays["user_column_names"]),
            ColumnKeys(arrays["item_column_ids"], arrays["item_column_names"]), manifest.get("config", {}))


def retire_lightfm_state(artifacts: ArtifactStore, week: str, family: str) -> None:
    """The week's model is not LightFM: replace any LightFM state an earlier run of the week stored by
    a record that holds none, so next week's LightFM fits cold instead of continuing a stale model."""
    LIGHTFM_STATE.write(artifacts, {"no_state": np.zeros(0, np.float32)}, week,
                        manifest={"week": week, "format": "none", "family": family})


def load_weekly_metrics(artifacts: ArtifactStore) -> list[dict]:
    """Every stored week's metrics, oldest first (one record per week: re-runs replace, never append)."""
    valid = set(weekly_partitions.get_partition_keys())
    records = [WEEKLY_METRICS.read(artifacts, w) for w in WEEKLY_METRICS.stored_weeks(artifacts)]
    return sorted((r for r in records if r["week"] in valid), key=lambda r: r["week"])


def catalogue_table() -> str:
    """The catalogue as the Markdown table of docs/architecture.md (a test keeps the two equal)."""
    def key(artifact: Artifact) -> str:
        shown = artifact.template.replace("{week}", "<week>").replace("{name}", "<metric>").replace("{stamp}", "<time>")
        return f"`{shown}.npz` + `.json`" if artifact.format == "arrays" else f"`{shown}`"

    rows = ["| artifact | key | format | written by | what it holds |", "|---|---|---|---|---|"]
    rows += [f"| `{name}` | {key(a)} | {a.format} | {a.producer if not a.produced_by_asset else f'`{a.producer}`'} "
             f"| {a.description} |" for name, a in CATALOGUE.items()]
    rows += ["", "Read without a declared dependency (`UNDECLARED_READS`):", ""]
    rows += [f"- `{asset}` reads `{name}`: {reason}." for (asset, name), reason in UNDECLARED_READS.items()]
    return "\n".join(rows) + "\n"
