"""The one code location: assets, checks, jobs, schedules, and the resources of the environment."""

from __future__ import annotations

import dagster as dg

from vodrec_assets.assets import backtest, evaluation, features, ingestion, serving, training
from vodrec_assets.checks import CHECKS
from vodrec_assets.environments import resources_for_environment
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.schedules import publish_metrics_history, select_model, weekly_retrain, weekly_retrain_schedule

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([ingestion, features, training, evaluation, serving]), backtest.model_zoo_backtest],
    asset_checks=CHECKS,
    jobs=[weekly_retrain, publish_metrics_history, select_model, backtest.backtest_job],
    schedules=[weekly_retrain_schedule],
    resources={**resources_for_environment(), "quality": QualityPolicy()},
    # One process per run: a weekly partition is a short chain of steps, and a process per step would
    # spend more time importing than computing. Parallelism comes from runs (partitions) instead.
    executor=dg.in_process_executor,
)
