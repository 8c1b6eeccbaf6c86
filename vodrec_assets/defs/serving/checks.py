"""The serving assets' checks: the published lists, the champion."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.artifacts import CHAMPION_HISTORY, RECOMMENDATIONS, WEEKLY_METRICS, load_score_matrix  # noqa: E402
from vodrec_assets.check_support import check_result, checked_week, weekly_check  # noqa: E402
from vodrec_assets.publishing import TOP_K  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402

@weekly_check("recommendations", f"Blocking: every subscriber of the window gets {TOP_K} programs (fewer only where "
                                  "fewer are left), none already watched, none excluded by e_bool or the catalogue.",
               blocking=True)
def recommendations_valid(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, RECOMMENDATIONS)
    frame = RECOMMENDATIONS.read(artifacts, week, ["subsr_id", "program_id", "rank"])
    return check_result(rules.recommendations_valid(frame, load_score_matrix(artifacts, week), TOP_K))


@weekly_check("champion_model", "The champion named for the week passed its quality gate, had its recommendations "
                                 "published, and is not a later week.")
def champion_passed_gate(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, WEEKLY_METRICS)  # champion_model stores no file per week
    history = CHAMPION_HISTORY.read(artifacts)
    weeks = WEEKLY_METRICS.stored_weeks(artifacts)
    gate = {w: bool(WEEKLY_METRICS.read(artifacts, w).get("quality_gate_passed")) for w in weeks}
    published = {w for w in weeks if RECOMMENDATIONS.exists(artifacts, w)}
    return check_result(rules.champion_passed_gate(history, week, gate, published))
