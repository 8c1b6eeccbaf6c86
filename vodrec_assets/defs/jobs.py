"""The jobs of the code location: the weekly retrain, the metrics history, and one job per weekly check.
The on-demand op jobs live beside their op: `select_model` (defs/training/assets.py) and `backtest`
(defs/training/backtest.py)."""

from __future__ import annotations

import dagster as dg

from vodrec_assets.asset_defaults import JOB_TAG
from vodrec_assets.defs.evaluation import assets as evaluation_assets  # noqa: F401 - records the rebuild

# The check modules, not their objects: a definition imported into this module would be found twice.
from vodrec_assets.defs.evaluation import checks as evaluation_checks
from vodrec_assets.defs.features import checks as features_checks
from vodrec_assets.defs.ingestion import checks as ingestion_checks
from vodrec_assets.defs.serving import checks as serving_checks
from vodrec_assets.defs.training import checks as training_checks
from vodrec_assets.fused_weeks import summary_job
from vodrec_assets.partitions import weekly_partitions

WEEKLY_GROUPS = ("ingestion", "features", "training", "evaluation", "serving")

# Materializable assets only: metrics_history (which the weekly step reports) in the selection made each
# run of the job a quarter slower in every stage once the history's materialization (its chart in the
# metadata) existed (12 small weeks in one process: 119-129 s against 88-94 s, docs/performance.md).
weekly_retrain = dg.define_asset_job(
    name="weekly_retrain",
    selection=dg.AssetSelection.groups(*WEEKLY_GROUPS).materializable(),
    partitions_def=weekly_partitions,
    description="Retrain the recommender for one week: ingest, clean, build the matrix, train, evaluate, "
                "gate, publish recommendations.",
    tags={JOB_TAG: "weekly_retrain"},
)


# The weekly step rebuilds metrics_history after each run; this rebuilds it alone (e.g. after a week's
# stored metrics were deleted by hand).
publish_metrics_history = summary_job(
    "metrics_history", "publish_metrics_history",
    "Rebuild the metrics history table, plot and dashboard files from every week's metrics.",
)


def weekly_checks() -> list[dg.AssetChecksDefinition]:
    """Every partitioned check of the domains, in pipeline order."""
    modules = (ingestion_checks, features_checks, training_checks, evaluation_checks, serving_checks)
    return [value for module in modules for value in vars(module).values()
            if isinstance(value, dg.AssetChecksDefinition)
            and all(spec.partitions_def is not None for spec in value.check_specs)]


def check_job_name(check: dg.AssetChecksDefinition) -> str:
    key = next(iter(check.check_keys))
    return f"check_{key.asset_key.to_python_identifier()}__{key.name}"


# Dagster's UI cannot execute one check of a partitioned asset on its own ("not yet supported" on the
# Checks tab's Execute button), so each weekly check has a job of its own: Jobs -> check_<asset>__<check>
# -> pick the week in the Launchpad -> Launch. The unpartitioned checks execute from the Checks tab.
CHECK_JOBS = [
    dg.define_asset_job(
        name=check_job_name(check), selection=dg.AssetSelection.checks(check), partitions_def=weekly_partitions,
        description=f"Run only the check {next(iter(check.check_keys)).name} on "
                    f"{next(iter(check.check_keys)).asset_key.to_user_string()} for one week.",
        tags={JOB_TAG: "check"},
    )
    for check in weekly_checks()
]
