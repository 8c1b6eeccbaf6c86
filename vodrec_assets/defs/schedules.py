"""The schedule of the weekly_retrain job (defs/jobs.py): Monday 03:00 Seoul time, the week that just ended."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from vodrec_assets.defs import jobs
from vodrec_assets.partitions import weekly_partitions
from vodrec_assets.settings import TIMEZONE


def week_that_ended(tick: datetime) -> str:
    """The partition key of the week that ended before `tick`: the Monday before the tick's week, in Seoul."""
    day = tick.astimezone(ZoneInfo(TIMEZONE)).date()
    return (day - timedelta(days=day.weekday() + 7)).isoformat()


@dg.schedule(
    name="weekly_retrain_schedule",
    cron_schedule="0 3 * * 1",
    execution_timezone=TIMEZONE,
    job=jobs.weekly_retrain,
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
