"""The evaluation assets' checks: the quality gate, the week-over-week regression, the history's rows."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.artifacts import METRICS_HISTORY, WEEKLY_METRICS  # noqa: E402
from vodrec_assets.check_support import check_result, checked_week, summary_check, weekly_check  # noqa: E402
from vodrec_assets.partitions import previous_week  # noqa: E402
from vodrec_assets.quality import QualityPolicy  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402

@weekly_check("weekly_metrics", "Quality gate: the week's model beats the popularity baseline on the holdout "
                                 "protocol by the configured margin; otherwise recommendations are not written.",
               blocking=True)
def quality_gate(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore,
                 quality: QualityPolicy) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, WEEKLY_METRICS)
    metrics = WEEKLY_METRICS.read(artifacts, week)["metrics"]
    return check_result(rules.quality_gate(metrics, quality.gate_metric, quality.gate_margin))


@weekly_check("weekly_metrics", "Week-over-week regression: WARN when map_at_10 drops by more than the tolerance.")
def map_regression(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, quality: QualityPolicy) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, WEEKLY_METRICS)
    current = WEEKLY_METRICS.read(artifacts, week)["metrics"]
    prev = previous_week(week)
    previous = (WEEKLY_METRICS.read(artifacts, prev)["metrics"]
                if prev and WEEKLY_METRICS.exists(artifacts, prev) else None)
    return check_result(rules.map_regression(previous, current, quality.regression_tolerance))


@summary_check("metrics_history", "One row per week with stored metrics, and no other week.")
def metrics_history_one_row_per_week(artifacts: ArtifactStore) -> dg.AssetCheckResult:
    from vodrec_assets.artifacts import load_weekly_metrics

    history = METRICS_HISTORY.read(artifacts, columns=["week"])
    stored = [r["week"] for r in load_weekly_metrics(artifacts)]
    return check_result(rules.one_row_per_week([str(w) for w in history["week"]], stored))
