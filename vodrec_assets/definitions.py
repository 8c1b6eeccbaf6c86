"""The one code location: assets, checks, jobs, schedules, and the resources of the environment."""

from __future__ import annotations

import dagster as dg

from vodrec_assets.assets import backtest, evaluation, features, ingestion, serving, training
from vodrec_assets.checks import CHECK_JOBS, CHECKS, check_job
from vodrec_assets.drift import alert_on_drift_warning, weekly_pair_stats_drift
from vodrec_assets.freshness import alert_on_late_week, recommendations_on_time
from vodrec_assets.environments import alert_notifier, resources_for_environment
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.range_job import weekly_retrain_range
from vodrec_assets.assets.training import select_model
from vodrec_assets.schedules import automation_sensor, publish_metrics_history, weekly_retrain, weekly_retrain_schedule
from vodrec_assets.sensors import alert_on_failed_run, alert_on_model_not_promoted

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([ingestion, features, training, evaluation, serving]), backtest.model_zoo_backtest],
    asset_checks=[*CHECKS, weekly_pair_stats_drift, recommendations_on_time],
    jobs=[weekly_retrain, weekly_retrain_range, publish_metrics_history, select_model, backtest.backtest_job, *CHECK_JOBS, check_job(weekly_pair_stats_drift)],
    schedules=[weekly_retrain_schedule],
    sensors=[automation_sensor, alert_on_failed_run, alert_on_model_not_promoted, alert_on_late_week,
             alert_on_drift_warning],
    resources={**resources_for_environment(), "quality": QualityPolicy(), "alerts": alert_notifier()},
    # One process per run: a weekly partition is a short chain of steps, and a process per step would
    # spend more time importing than computing. Parallelism comes from runs (partitions) instead.
    executor=dg.in_process_executor,
)
