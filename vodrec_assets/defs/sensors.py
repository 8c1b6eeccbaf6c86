"""The sensors that tell the on-call team, once per incident, through the AlertNotifier:

- `alert_on_failed_run`: every failed run (the weekly job, a backfill's runs, a schedule tick's run), said as "blocked" (a week with no usable logs), "gated" (the quality gate or
  another blocking check refused to publish it) or "failed" (something broke). A blocking check that
  fails also fails its run: the run is the one incident, named with the check's own words.
- `alert_on_model_not_promoted`: every week whose model passed its gate but was not promoted because its
  holdout MAP@10 fell below the champion's.

Both run by default and send nothing while no target is configured. When the target is down the tick
fails and the next tick sends the same alert again (each sensor's cursor moves only once its alert is
delivered).
"""

from __future__ import annotations

import dagster as dg

from vodrec_assets.alerts import Alert, AlertNotifier, alert_sensor, FailedCheck, classify_failed_run
from vodrec_assets.fused_weeks import stops_its_week

FAILED_RUN_TITLES = {
    "blocked": "week {week} blocked at ingestion",
    "gated": "week {week} not published: a blocking check failed",
    "failed": "run failed{of_week}",
}


def run_weeks(run: dg.DagsterRun) -> str | None:
    """The week of a run, or the range of weeks of a run over a range (a backfill's one run)."""
    if week := run.tags.get("dagster/partition"):
        return week
    first, last = run.tags.get("dagster/asset_partition_range_start"), run.tags.get("dagster/asset_partition_range_end")
    return f"{first}..{last}" if first and last else None


def describe_failed_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> Alert:
    """The alert for one failed run, read from its event log."""
    failures = [r.event_log_entry.dagster_event
                for r in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records]
    step_errors = [event.event_specific_data.error.cls_name for event in failures]
    checks, stopped_weeks = [], set()
    for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if stops_its_week(evaluation.passed, evaluation.blocking, evaluation.severity):
            checks.append(FailedCheck(evaluation.asset_key.to_python_identifier(), evaluation.check_name,
                                      evaluation.description or ""))
            stopped_weeks.add(evaluation.partition)
    kind = classify_failed_run(step_errors, checks)
    # The weeks a blocking check stopped (a run over a range names them), else the run's week or range.
    week = ", ".join(sorted(w for w in stopped_weeks if w)) if kind != "failed" and any(stopped_weeks) \
        else run_weeks(run)
    if kind == "failed":
        messages = [f"{event.step_key}: {event.event_specific_data.error.message.strip()[:300]}"
                    for event in failures] or ["the run failed before any step (see its logs)"]
        detail = "; ".join(messages)
    else:
        detail = "; ".join(f"{c.asset} {c.check}: {c.description}" for c in checks)
    title = FAILED_RUN_TITLES[kind].format(week=week, of_week=f" for week {week}" if week else "")
    return Alert(kind=kind, title=f"{title} ({run.job_name})", detail=detail, week=week, run_id=run.run_id,
                 path=f"/runs/{run.run_id}")


def _failure_records(context: dg.SensorEvaluationContext, after: int | None, limit: int = 50):
    return context.instance.fetch_run_status_changes(
        dg.RunStatusChangeRecordsFilter(event_type=dg.DagsterEventType.RUN_FAILURE, after_storage_id=after),
        limit=limit, ascending=True).records


@alert_sensor(
    name="alert_on_failed_run",
    description="Alerts once per failed run: a week blocked at ingestion, a week gated, or a run that broke.",
)
def alert_on_failed_run(context: dg.SensorEvaluationContext, alerts: AlertNotifier):
    """A plain sensor over the RUN_FAILURE events rather than Dagster's run_failure_sensor, which moves its
    cursor past a run even when the alert could not be delivered: here the cursor moves only after it was.
    Its first tick starts from the newest failure, so a new deployment does not replay old ones."""
    if context.cursor is None:
        newest = context.instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=1).records
        context.update_cursor(str(newest[0].storage_id if newest else 0))
        return dg.SkipReason("watching failed runs from now on")
    records = _failure_records(context, int(context.cursor))
    if not records:
        return dg.SkipReason("no failed run since the last tick")
    for record in records:
        run = context.instance.get_run_by_id(record.event_log_entry.run_id)
        if alerts.configured and run is not None:
            alerts.send(describe_failed_run(context.instance, run))  # raises when the target is down
        context.update_cursor(str(record.storage_id))
    return None


@alert_sensor(
    name="alert_on_model_not_promoted",
    description="Alerts once per week whose model passed its gate but was worse than the champion.",
)
def alert_on_model_not_promoted(context: dg.SensorEvaluationContext, alerts: AlertNotifier):
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("champion_model"), after_storage_id=after), limit=100,
        ascending=True).records
    if not records:
        return dg.SkipReason("no new champion decision")
    for record in records:
        materialization = record.asset_materialization
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        if alerts.configured and metadata.get("worse_than_champion"):
            week = materialization.partition
            alerts.send(Alert(
                kind="not_promoted", title=f"week {week}'s model not promoted: worse than the champion",
                detail=str(metadata.get("reason", "")), week=week, run_id=record.run_id,
                path=f"/assets/champion_model?partition={week}"))
        context.update_cursor(str(record.storage_id))  # delivered (or nothing to say): never sent twice
    return None


# Dagster's own automation sensor, running by default (the one Dagster creates itself starts stopped, so
# the weekly unassigned-rows audit would never run): it evaluates every asset's automation condition.
automation_sensor = dg.AutomationConditionSensorDefinition(
    name="vodrec_automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Materializes the assets whose automation condition is met: the weekly audit of the log "
                "rows no week reads (unassigned_log_rows).",
)
