"""Evaluation: the week's metrics (next-week and holdout protocols) and their history."""


import base64
import math
import time

import dagster as dg
import numpy as np
import pandas as pd

from vodrec_assets.asset_defaults import OWNERS, TRAINING_POOL, rounded, weekly_asset_kwargs
from vodrec_assets.fused_weeks import summary_body, week_body
from vodrec_assets.reports import legacy_dashboard_files, plot_history, thumbnail
from vodrec_assets.artifacts import (
    LEGACY_DASHBOARD_FILE, METRICS_HISTORY, METRICS_PLOT, SCORE_MATRIX, TRAINED_MODEL, WEEKLY_METRICS, WEEKLY_PAIR_STATS,
    load_model, load_score_matrix, load_weekly_metrics,
)
from vodrec_assets.partitions import previous_week, this_and_previous_week
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.recsys.evaluation import HOLDOUT_MAX_USERS, NEXT_WEEK_MAX_USERS, holdout_protocol, next_week_protocol
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.metrics import legacy_diversity
from vodrec_assets.recsys.model import EmbeddingModel, LightFMConfig
from vodrec_assets.recsys.topk import NO_ITEM, recommend_top_k
from vodrec_assets.recsys.zoo import fit_family
from vodrec_assets.resources import ArtifactStore, SourceDatabase

LEGACY_SAMPLE_USERS = 2000



def _legacy_diversity(model: EmbeddingModel, matrix: ScoreMatrix) -> float:
    """The original's id-cosine "diversity" over (a fixed sample of) all subscribers' top 10."""
    item_ids = matrix.item_ids
    n_users = matrix.shape[0]
    users = np.arange(n_users) if n_users <= LEGACY_SAMPLE_USERS else np.sort(
        np.random.default_rng(0).choice(n_users, LEGACY_SAMPLE_USERS, replace=False))
    top = recommend_top_k(model.scorer(), n_users, 10, exclude=matrix.interactions,
                          allowed_items=matrix.item_allowed, users=users)
    ids = np.where(top.items == NO_ITEM, 0, item_ids[np.maximum(top.items, 0)])
    return legacy_diversity(ids)


@dg.asset(
    group_name="evaluation", kinds={"lightfm", "json"}, code_version="1", pool=TRAINING_POOL,
    deps=[TRAINED_MODEL.dep(this_and_previous_week), SCORE_MATRIX.dep(this_and_previous_week), WEEKLY_PAIR_STATS.dep()],
    **weekly_asset_kwargs(),
)
@week_body
def weekly_metrics(context: dg.AssetExecutionContext, artifacts: ArtifactStore,
                   quality: QualityPolicy) -> dg.MaterializeResult:
    """The week's metrics, each a plain float plotted week by week in the UI.

    - next-week protocol (primary, unprefixed keys): last week's model ranks programs for this week's
      active subscribers, scored against the programs they newly watched this week; `popularity_*` is a
      popularity baseline scored the same way. The first week has no previous model and says so.
    - the original's protocol (`holdout_*`, `holdout_popularity_*`): 25 % of watched pairs held out at
      random (seed 0), a model with the week's hyperparameters (from its trained_model) trained on the rest.
    - `legacy_diversity`: the original dashboard's id-cosine value, kept for continuity only.
    Definitions: docs/metrics.md.
    """
    week = context.partition_key
    metrics: dict[str, float] = {}
    notes: dict[str, str] = {}
    prev = previous_week(week)
    started = time.perf_counter()
    if prev and TRAINED_MODEL.exists(artifacts, prev) and SCORE_MATRIX.exists(artifacts, prev):
        prev_model, _, _ = load_model(artifacts, prev)
        prev_matrix = load_score_matrix(artifacts, prev)
        week_pairs = WEEKLY_PAIR_STATS.read(artifacts, week)
        next_week = next_week_protocol(prev_model, prev_matrix, week_pairs)
        notes["next_week_model_family"] = prev_model.family
        if next_week:
            metrics |= {k: v for k, v in next_week.items() if k != "users" and k != "popularity_users"}
            metrics["next_week_users"] = float(next_week["users"])
            notes["next_week_protocol"] = f"model of {prev} scored on subscribers active in {week}" + (
                f" (a fixed random sample of {NEXT_WEEK_MAX_USERS:,} of them)"
                if next_week["users"] >= NEXT_WEEK_MAX_USERS else "")
        else:
            notes["next_week_protocol"] = f"skipped: no subscriber of {prev}'s model newly watched anything in {week}"
    else:
        notes["next_week_protocol"] = (
            "skipped: this is the first week, there is no previous model" if prev is None
            else f"skipped: no trained model for the previous week {prev}"
        )
    seconds = {"next_week_protocol_seconds": time.perf_counter() - started}
    started = time.perf_counter()
    matrix = load_score_matrix(artifacts, week)
    model, _, _ = load_model(artifacts, week)
    if model.family == "lightfm":
        holdout = holdout_protocol(matrix, LightFMConfig(**model.config))
    else:  # the week's family refitted on the 75 %, with the week's hyperparameters
        holdout = holdout_protocol(matrix, None, fit=lambda m, train, weights: fit_family(
            model.family, m, model.config, train, weights))
    seconds["holdout_protocol_seconds"] = time.perf_counter() - started
    if matrix.shape[0] > HOLDOUT_MAX_USERS:
        notes["holdout_protocol"] = (f"estimated on a fixed random sample of {HOLDOUT_MAX_USERS:,} of the "
                                     f"{matrix.shape[0]:,} subscribers")
    metrics |= {k: v for k, v in holdout.items() if not k.endswith("users")}
    if holdout:
        metrics["holdout_users"] = float(holdout["holdout_users"])
    metrics["legacy_diversity"] = _legacy_diversity(model, matrix)
    metrics = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    gate_passed, gate_reason = quality.gate(metrics)
    WEEKLY_METRICS.write(artifacts, week=week, value={
        "week": week, "model_family": model.family, "metrics": metrics, "notes": notes,
        "quality_gate_passed": gate_passed, "quality_gate_reason": gate_reason,
    })
    # The protocols' seconds are metadata, not metrics: the gate and the history never see them.
    return dg.MaterializeResult(metadata=rounded({**metrics, **notes, **seconds, "quality_gate": gate_reason,
                                                  "model_family": model.family}))


# The chart shown inside the UI (Markdown image in the metadata), scaled from the full-size one: small
# enough for the event log.
UI_PLOT_SCALE = 0.6

metrics_history = dg.AssetSpec(
    "metrics_history", group_name="evaluation", kinds={"pandas", "parquet"}, owners=OWNERS,
    deps=[WEEKLY_METRICS.dep()],
    description="Every week's metrics as one table, rebuilt by the weekly step at the end of each run that "
                "materialized a week of weekly_metrics (a range: once, after its last week), and on demand "
                "by the job publish_metrics_history: `metrics_history/metrics_history.parquet`, a PNG plot, "
                "the original dashboard's `model_accuracy/<metric>.json` files and the `metrics_history` table "
                "the dashboard page reads. Not materialized on its own, so a backfill waits for no second run.",
)


@summary_body(metrics_history)
def rebuild_metrics_history(artifacts: ArtifactStore, source_db: SourceDatabase) -> dg.MaterializeResult:
    """`metrics_history` from every stored week's metrics, rebuilt whole each time (a re-run never
    duplicates a week), the failed quality gates included."""
    records = load_weekly_metrics(artifacts)
    history = pd.DataFrame([{"week": r["week"], **r["metrics"], "quality_gate_passed": float(r["quality_gate_passed"])}
                            for r in records])
    if history.empty:
        history = pd.DataFrame({"week": pd.Series(dtype="string")})
    METRICS_HISTORY.write(artifacts, history)
    for name, payload in legacy_dashboard_files(history).items():
        LEGACY_DASHBOARD_FILE.write(artifacts, payload, name=name)
    metadata: dict = {"weeks": int(len(history))}
    if len(history):
        png = plot_history(history)
        METRICS_PLOT.write(artifacts, png)
        long = history.melt(id_vars="week", var_name="metric", value_name="value").dropna(subset=["value"])
        source_db.replace_all_rows("metrics_history", long)
        last = history.iloc[-1]
        chart = base64.b64encode(thumbnail(png, UI_PLOT_SCALE)).decode()
        metadata |= {"last_week": str(last["week"]), "plot_path": METRICS_PLOT.uri(artifacts),
                     "plot": dg.MetadataValue.md(f"![weekly metrics, model against popularity](data:image/png;base64,{chart})"),
                     "preview": dg.MetadataValue.md(history.tail(12).round(4).to_markdown(index=False))}
    return dg.MaterializeResult(metadata=rounded(metadata))
