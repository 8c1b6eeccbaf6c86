"""The training asset's check: the model is finite and matches its week's score matrix."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.artifacts import SCORE_MATRIX, TRAINED_MODEL  # noqa: E402
from vodrec_assets.check_support import check_result, checked_week, weekly_check  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402

@weekly_check("trained_model", "Blocking: every factor and bias finite, and the model's subscriber and program ids "
                                "exactly those of the week's score matrix.", blocking=True)
def model_matches_matrix(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, TRAINED_MODEL)
    arrays, _ = TRAINED_MODEL.read(artifacts, week)
    matrix_ids, _ = SCORE_MATRIX.read(artifacts, week)
    return check_result(rules.model_matches_matrix(arrays, matrix_ids["user_ids"], matrix_ids["item_ids"]))
