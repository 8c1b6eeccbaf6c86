"""The one code location: assets, checks, jobs, schedules, and the resources of the environment."""

from __future__ import annotations

import dagster as dg

from vodrec_assets.assets import evaluation, features, ingestion, serving, training
from vodrec_assets.checks import CHECK_JOBS, CHECKS
from vodrec_assets.environments import resources_for_environment
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.assets.training import select_model
from vodrec_assets.schedules import automation_sensor, publish_metrics_history, weekly_retrain, weekly_retrain_schedule

# Dagster's console logger at INFO rather than DEBUG: `make ui` prints the runs' step events to its terminal,
# and every step's start/output/success there buries what matters. The UI's run logs keep every event.
console_logger = dg.LoggerDefinition(
    dg.colored_console_logger.logger_fn,
    config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO"),
                   "name": dg.Field(str, is_required=False, default_value="dagster")},
    description="Dagster's colored console logger, INFO by default.",
)

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([ingestion, features, training, evaluation, serving]),
    asset_checks=CHECKS,
    jobs=[weekly_retrain, publish_metrics_history, select_model, *CHECK_JOBS],
    schedules=[weekly_retrain_schedule],
    sensors=[automation_sensor],
    resources={**resources_for_environment(), "quality": QualityPolicy()},
    # One process per run: a weekly partition is a short chain of steps, and a process per step would
    # spend more time importing than computing. Parallelism comes from runs (partitions) instead.
    executor=dg.in_process_executor,
    loggers={"console": console_logger},
)
