"""Volume and drift warnings on each week's viewing (the rules and thresholds: recsys/drift.py).

`weekly_pair_stats` puts the week's figures (`drift_*`, plain ints and floats) into its materialization
metadata, so the UI plots them week by week (Catalog -> weekly_pair_stats -> Plots); they compare the week
with the trailing weeks stored before it. The non-blocking check `weekly_pair_stats_drift`
(defs/features/checks.py) judges those figures against the thresholds and warns; nothing is stopped (the
blocking floor for an emptied week is the `*_volume` checks of the raw logs). The sensor
`alert_on_drift_warning` below sends one alert per week that warned."""

import time

import dagster as dg
import numpy as np
import pandas as pd

from vodrec_assets.alerts import Alert, AlertNotifier, alert_sensor
from vodrec_assets.artifacts import WEEKLY_PAIR_STATS, WEEKLY_PAIR_SUMMARY
from vodrec_assets.partitions import previous_week
from vodrec_assets.recsys.drift import DEFAULT_TRAILING_WEEKS, WeekSample, week_drift
from vodrec_assets.resources import ArtifactStore

DRIFT_COLUMNS = ["subsr_id", "program_id", "watch_max_ratio"]


def _sample(rows: int, pairs: pd.DataFrame) -> WeekSample:
    return WeekSample(rows=int(rows), subscriber_ids=pairs["subsr_id"].to_numpy(np.int64),
                      program_ids=pairs["program_id"].to_numpy(np.int64),
                      watch_ratios=pairs["watch_max_ratio"].to_numpy(np.float64, na_value=np.nan))


def stored_sample(artifacts: ArtifactStore, week: str) -> WeekSample | None:
    """A week's sample from its stored weekly_pair_stats (None when the week was never reduced)."""
    if not WEEKLY_PAIR_STATS.exists(artifacts, week):
        return None
    summary = WEEKLY_PAIR_SUMMARY.read(artifacts, week)
    return _sample(summary["raw_watch_rows"] + summary["raw_click_rows"],
                   WEEKLY_PAIR_STATS.read(artifacts, week, DRIFT_COLUMNS))


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


DRIFT_CHECK = "weekly_pair_stats_drift"
# A run still "started" this long after the materialization is taken as dead (a killed in-process run
# keeps that status for ever): the sensor goes on with what the run recorded rather than stop there.
UNFINISHED_RUN_WAIT_SECONDS = 3600
WEEKLY_PAIR_STATS_KEY = dg.AssetKey(WEEKLY_PAIR_STATS.producer)


@alert_sensor(
    name="alert_on_drift_warning",
    description="Alerts once per week whose weekly_pair_stats_drift check warned (volume, new ids or PSI).",
)
def alert_on_drift_warning(context: dg.SensorEvaluationContext, alerts: AlertNotifier):
    """Over weekly_pair_stats' materializations, oldest first, each with the drift check's verdict from the
    same run. Read this way, not as a query of every check evaluation: the local SQLite instance keeps one
    event log per run and answers cross-run queries only for asset events. The cursor (a materialization's
    storage id) moves past one once its run has ended and its alert, if any, was delivered, so nothing is
    sent twice or lost; a check executed alone (its own job) re-shows its verdict in the UI, not here."""
    if context.cursor is None:  # a new deployment starts from now: it does not replay old warnings
        newest = context.instance.fetch_materializations(WEEKLY_PAIR_STATS_KEY, limit=1).records
        context.update_cursor(str(newest[0].storage_id if newest else 0))
        return dg.SkipReason("watching drift warnings from now on")
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=WEEKLY_PAIR_STATS_KEY, after_storage_id=int(context.cursor)),
        limit=100, ascending=True).records
    if not records:
        return dg.SkipReason("no new weekly_pair_stats")
    for record in records:
        run = context.instance.get_run_by_id(record.run_id)
        if run is not None and not run.is_finished and time.time() - record.timestamp < UNFINISHED_RUN_WAIT_SECONDS:
            break  # its check may still come: look again at the next tick
        if alerts.configured:
            for evaluation in _drift_warnings(context.instance, record.run_id, record.partition_key):
                week = evaluation.partition
                alerts.send(Alert(kind="drift", title=f"week {week}'s logs drifted from the weeks before",
                                  detail=evaluation.description or "", week=week, run_id=record.run_id,
                                  path="/assets/weekly_pair_stats?view=checks"))  # raises when the target is down
        context.update_cursor(str(record.storage_id))
    return None


def _drift_warnings(instance: dg.DagsterInstance, run_id: str, week: str | None) -> list:
    """The failed evaluations of the drift check for `week` in that run."""
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in
                   instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records]
    return [e for e in evaluations if e.check_name == DRIFT_CHECK and e.partition == week and not e.passed]
