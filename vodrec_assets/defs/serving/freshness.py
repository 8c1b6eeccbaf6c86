"""Freshness deadlines of `recommendations`: each week's lists are due `VODREC_RECOMMENDATIONS_DUE_MINUTES`
after the week ends (default Monday 09:00 Asia/Seoul). Three parts, each doing what the others cannot:

- `recommendations_freshness_policy()`: Dagster's own FreshnessPolicy.cron on the asset (judged by the
  daemon's freshness loop, shown on the asset's page): was *any* week written between the week's end and
  the deadline. A backfill of an old week would satisfy it, hence
- the check `recommendations_on_time`: the newest complete week's recommendations written by *its*
  deadline (executable from the UI; the sensor below records it at each change of verdict), and
- the sensor `alert_on_late_week`: one alert per late week, through the same AlertNotifier as the other
  alerts, delivered again on the next tick when the target is down.

Deadlines apply to live partitions. When the partitions are pinned to historical data (the demo's
`.vodrec/local_settings.json`, or VODREC_END_DATE), every deadline lies years back: the check says so and
passes, and the sensor skips.
"""


import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from vodrec_assets import settings
from vodrec_assets.alerts import Alert, AlertNotifier, alert_sensor
from vodrec_assets.partitions import END_DATE, weekly_partitions
from vodrec_assets.recsys.deadlines import WeekDeadline, deadline_cron, judge_week

RECOMMENDATIONS = dg.AssetKey("recommendations")
CHECK_NAME = "recommendations_on_time"


def recommendations_freshness_policy() -> dg.FreshnessPolicy:
    due_after = settings.recommendations_due_after()
    # Written between the week's end and its deadline (Dagster wants at least a minute).
    return dg.FreshnessPolicy.cron(deadline_cron=deadline_cron(due_after),
                                   lower_bound_delta=max(due_after, timedelta(minutes=1)), timezone=settings.TIMEZONE)


def seoul_now() -> datetime:
    return datetime.now(ZoneInfo(settings.TIMEZONE)).replace(tzinfo=None)


def first_written(instance: dg.DagsterInstance, week: str) -> datetime | None:
    """When the week's recommendations were first materialized (Seoul time), or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=RECOMMENDATIONS, asset_partitions=[week]), limit=1, ascending=True).records
    if not records:
        return None
    return datetime.fromtimestamp(records[0].timestamp, ZoneInfo(settings.TIMEZONE)).replace(tzinfo=None)


def newest_week_verdict(instance: dg.DagsterInstance) -> WeekDeadline | None:
    """The newest complete week's verdict now; None when the partitions are pinned to historical data."""
    week = weekly_partitions.get_last_partition_key()
    if END_DATE or week is None:
        return None
    return judge_week(week, seoul_now(), first_written(instance, week), settings.recommendations_due_after())


def _metadata(verdict: WeekDeadline) -> dict:
    return {"week": verdict.week, "due": f"{verdict.due:%Y-%m-%d %H:%M} Asia/Seoul", "state": verdict.state,
            "written": f"{verdict.materialized:%Y-%m-%d %H:%M}" if verdict.materialized else "no"}


def _severity(verdict: WeekDeadline) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if verdict.state == "late" else dg.AssetCheckSeverity.WARN


PINNED = ("the weekly partitions are pinned to historical data (VODREC_END_DATE or the demo's local settings): "
          "deadlines apply to live partitions only")


@dg.asset_check(asset=RECOMMENDATIONS, name=CHECK_NAME, blocking=False,
                description="The newest complete week's recommendations were written by its deadline (the week's "
                            "end + VODREC_RECOMMENDATIONS_DUE_MINUTES, default Monday 09:00 Asia/Seoul). Recorded by "
                            "the alert_on_late_week sensor whenever its verdict changes.")
def recommendations_on_time(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    verdict = newest_week_verdict(context.instance)
    if verdict is None:
        return dg.AssetCheckResult(passed=True, description=PINNED)
    return dg.AssetCheckResult(passed=verdict.passed, severity=_severity(verdict), description=verdict.description,
                               metadata=_metadata(verdict))


@alert_sensor(
    name="alert_on_late_week",
    description="Records the newest complete week's recommendations_on_time verdict when it changes, and alerts "
                "once per week whose recommendations are late.",
)
def alert_on_late_week(context: dg.SensorEvaluationContext, alerts: AlertNotifier):
    """The cursor is the last (week, state) recorded; a late week is alerted before its verdict is recorded,
    so a target that is down gets the alert on a later tick, and once delivered it is never sent again."""
    verdict = newest_week_verdict(context.instance)
    if verdict is None:
        return dg.SkipReason(PINNED)
    seen = json.loads(context.cursor) if context.cursor else {}
    if seen == {"week": verdict.week, "state": verdict.state}:
        return dg.SkipReason(verdict.description)
    if verdict.state == "late" and alerts.configured:
        alerts.send(Alert(kind="late", title=f"week {verdict.week}'s recommendations are late",
                          detail=verdict.description, week=verdict.week,
                          path="/assets/recommendations?view=checks"))  # raises when the target is down
    context.instance.report_runless_asset_event(dg.AssetCheckEvaluation(
        asset_key=RECOMMENDATIONS, check_name=CHECK_NAME, passed=verdict.passed, severity=_severity(verdict),
        description=verdict.description, metadata=_metadata(verdict)))
    context.update_cursor(json.dumps({"week": verdict.week, "state": verdict.state}))
    return dg.SkipReason(verdict.description)
