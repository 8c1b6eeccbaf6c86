"""The weekly_retrain job and its schedule: Monday 03:00 Seoul time, the week that just ended."""

from __future__ import annotations

import dagster as dg

from vodrec_assets.partitions import weekly_partitions

WEEKLY_GROUPS = ("ingestion", "features", "training", "evaluation", "serving")

weekly_retrain = dg.define_asset_job(
    name="weekly_retrain",
    selection=dg.AssetSelection.groups(*WEEKLY_GROUPS) - dg.AssetSelection.assets("metrics_history", "model_selection"),
    partitions_def=weekly_partitions,
    description="Retrain the recommender for one week: ingest, clean, build the matrix, train, evaluate, "
                "gate, publish recommendations.",
    tags={"vodrec/job": "weekly_retrain"},
)

# The partitioned schedule fires at the end of each partition (Monday 00:00 Seoul) plus the offset below,
# and requests the partition of the week that just ended.
weekly_retrain_schedule = dg.build_schedule_from_partitioned_job(
    weekly_retrain,
    name="weekly_retrain_schedule",
    hour_of_day=3,
    minute_of_hour=0,
    description="Every Monday 03:00 Asia/Seoul: materialize the week that just ended.",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)

publish_metrics_history = dg.define_asset_job(
    name="publish_metrics_history",
    selection=dg.AssetSelection.assets("metrics_history"),
    description="Rebuild the metrics history table, plot and dashboard files from every week's metrics.",
)

select_model = dg.define_asset_job(
    name="select_model",
    selection=dg.AssetSelection.assets("model_selection"),
    partitions_def=weekly_partitions,
    description="Search LightFM hyperparameters on a week's holdout; trained_model can then use the winner.",
)
