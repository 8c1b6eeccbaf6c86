"""The weekly_retrain job and its schedule: Monday 03:00 Seoul time, the week that just ended."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from vodrec_assets.partitions import weekly_partitions
from vodrec_assets.settings import TIMEZONE

WEEKLY_GROUPS = ("ingestion", "features", "training", "evaluation", "serving")

weekly_retrain = dg.define_asset_job(
    name="weekly_retrain",
    selection=dg.AssetSelection.groups(*WEEKLY_GROUPS) - dg.AssetSelection.assets("metrics_history"),
    partitions_def=weekly_partitions,
    description="Retrain the recommender for one week: ingest, clean, build the matrix, train, evaluate, "
                "gate, publish recommendations.",
    tags={"vodrec/job": "weekly_retrain"},
)


def week_that_ended(tick: datetime) -> str:
    """The partition key of the week that ended before `tick`: the Monday before the tick's week, in Seoul."""
    day = tick.astimezone(ZoneInfo(TIMEZONE)).date()
    return (day - timedelta(days=day.weekday() + 7)).isoformat()


@dg.schedule(
    name="weekly_retrain_schedule",
    cron_schedule="0 3 * * 1",
    execution_timezone=TIMEZONE,
    job=weekly_retrain,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every Monday 03:00 Asia/Seoul: materialize the week that just ended.",
)
def weekly_retrain_schedule(context: dg.ScheduleEvaluationContext):
    """Requests the week that just ended (run key = the week, so a tick never runs a week twice). Where the
    partitions end before it (the demo pins them to its data) the tick is skipped and says why, rather
    than retraining the last week with data again."""
    week = week_that_ended(context.scheduled_execution_time)
    last = weekly_partitions.get_last_partition_key()
    if last is None or week > last:
        return dg.SkipReason(
            f"the week that just ended, {week}, is after the last weekly partition {last}: the partitions end "
            "where the demo's data ends (VODREC_END_DATE, or .vodrec/local_settings.json written by "
            "`vodrec demo`); in production leave the end unset")
    return dg.RunRequest(run_key=week, partition_key=week)


publish_metrics_history = dg.define_asset_job(
    name="publish_metrics_history",
    selection=dg.AssetSelection.assets("metrics_history"),
    description="Rebuild the metrics history table, plot and dashboard files from every week's metrics.",
)

# Dagster's own automation sensor, running by default (the one Dagster creates itself starts stopped, so
# `metrics_history` would never refresh after UI runs): it evaluates every asset's automation condition,
# i.e. metrics_history after weekly runs, backfills and schedule ticks, and the weekly unassigned-rows audit.
automation_sensor = dg.AutomationConditionSensorDefinition(
    name="vodrec_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materializes the assets whose automation condition is met: metrics_history once the "
                "weekly metrics it reads have changed and no run or backfill is writing them.",
)
