"""Volume and drift warnings on each week's viewing (the rules and thresholds: recsys/drift.py).

`weekly_pair_stats` puts the week's figures (`drift_*`, plain ints and floats) into its materialization
metadata, so the UI plots them week by week (Catalog -> weekly_pair_stats -> Plots); they compare the week
with the trailing weeks stored before it. The non-blocking check `weekly_pair_stats_drift` judges those
figures against the thresholds and warns; nothing is stopped (the blocking floor for an emptied week is
the `*_volume` checks of the raw logs). The sensor `alert_on_drift_warning` sends one alert per week that
warned."""

import warnings

import dagster as dg
import numpy as np
import pandas as pd

# Partitioned asset checks are "preview" in Dagster 1.13 (as in checks.py, imported after this module).
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.alerts import Alert, AlertNotifier  # noqa: E402
from vodrec_assets.partitions import previous_week, weekly_partitions  # noqa: E402
from vodrec_assets.recsys.drift import DEFAULT_TRAILING_WEEKS, DriftThresholds, WeekSample, drift_warnings, week_drift  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402

DRIFT_COLUMNS = ["subsr_id", "program_id", "watch_max_ratio"]


def _sample(rows: int, pairs: pd.DataFrame) -> WeekSample:
    return WeekSample(rows=int(rows), subscriber_ids=pairs["subsr_id"].to_numpy(np.int64),
                      program_ids=pairs["program_id"].to_numpy(np.int64),
                      watch_ratios=pairs["watch_max_ratio"].to_numpy(np.float64, na_value=np.nan))


def stored_sample(artifacts: ArtifactStore, week: str) -> WeekSample | None:
    """A week's sample from its stored weekly_pair_stats (None when the week was never reduced)."""
    if not artifacts.exists(f"weekly_pair_stats/{week}.parquet"):
        return None
    summary = artifacts.read_json(f"weekly_pair_stats/{week}.json")
    return _sample(summary["raw_watch_rows"] + summary["raw_click_rows"],
                   artifacts.read_parquet(f"weekly_pair_stats/{week}.parquet", DRIFT_COLUMNS))


def week_drift_figures(artifacts: ArtifactStore, week: str, rows: int, pairs: pd.DataFrame,
                       trailing_weeks: int = DEFAULT_TRAILING_WEEKS) -> dict[str, float | int]:
    """The week's figures against the up to `trailing_weeks` weeks before it that are stored."""
    trailing, cursor = [], previous_week(week)
    while cursor and len(trailing) < trailing_weeks:
        sample = stored_sample(artifacts, cursor)
        if sample is not None:
            trailing.insert(0, sample)
        cursor = previous_week(cursor)
    return week_drift(_sample(rows, pairs), trailing)


@dg.asset_check(asset="weekly_pair_stats", name="weekly_pair_stats_drift", partitions_def=weekly_partitions,
                blocking=False,
                description="Warns (never blocks) when the week's log volume, its share of new subscribers or "
                            "programs, or its watch-ratio / per-subscriber activity distribution (PSI) moved "
                            "past the thresholds of recsys/drift.py against the trailing weeks.")
def weekly_pair_stats_drift(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    week = context.partition_key
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("weekly_pair_stats"), asset_partitions=[week]), limit=1).records
    if not records:
        raise dg.Failure(f"weekly_pair_stats {week} has no materialization to judge", allow_retries=False)
    figures = {k: v.value for k, v in records[0].asset_materialization.metadata.items() if k.startswith("drift_")}
    found = drift_warnings(figures, DriftThresholds())
    if not figures.get("drift_trailing_weeks"):
        description = "no trailing week stored before this one: nothing to compare with"
    else:
        description = "; ".join(found) or f"in line with the {figures['drift_trailing_weeks']} weeks before"
    return dg.AssetCheckResult(passed=not found, severity=dg.AssetCheckSeverity.WARN, description=description,
                               metadata=figures)


@dg.sensor(
    name="alert_on_drift_warning",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Alerts once per week whose weekly_pair_stats_drift check warned (volume, new ids or PSI).",
)
def alert_on_drift_warning(context: dg.SensorEvaluationContext, alerts: AlertNotifier):
    """Over the check's evaluations, oldest first; the cursor (an event storage id) moves past each one once
    its alert is delivered (or there was nothing to say), so nothing is sent twice or lost."""
    evaluations = dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    if context.cursor is None:  # a new deployment starts from now: it does not replay old warnings
        newest = context.instance.get_event_records(evaluations, limit=1, ascending=False)
        context.update_cursor(str(newest[0].storage_id if newest else 0))
        return dg.SkipReason("watching drift warnings from now on")
    records = context.instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=int(context.cursor)),
        limit=200, ascending=True)
    if not records:
        return dg.SkipReason("no new check evaluation")
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.check_name == "weekly_pair_stats_drift" and not evaluation.passed and alerts.configured:
            week = evaluation.partition
            alerts.send(Alert(kind="drift", title=f"week {week}'s logs drifted from the weeks before",
                              detail=evaluation.description or "", week=week, run_id=record.event_log_entry.run_id,
                              path="/assets/weekly_pair_stats?view=checks"))  # raises when the target is down
        context.update_cursor(str(record.storage_id))
    return None
