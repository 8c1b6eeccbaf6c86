"""The features assets' checks: the week's quarantine share, the ratings, the score matrix."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.artifacts import CLEANED_RATINGS, SCORE_MATRIX, WEEKLY_PAIR_SUMMARY, load_score_matrix  # noqa: E402
from vodrec_assets.check_support import check_result, checked_week, weekly_check  # noqa: E402
from vodrec_assets.defs.features.drift import DRIFT_CHECK  # noqa: E402 - its name, which the alert reads
from vodrec_assets.quality import QualityPolicy  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.recsys.drift import DriftThresholds, drift_warnings  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402
from vodrec_assets.schema import ID_COLUMNS  # noqa: E402

@weekly_check("weekly_pair_stats", "Share of the week's raw rows quarantined: WARN above 1 %, ERROR above 20 %.")
def quarantine_share(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, quality: QualityPolicy) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, WEEKLY_PAIR_SUMMARY)
    summary = WEEKLY_PAIR_SUMMARY.read(artifacts, week)
    return check_result(rules.quarantine_share(summary, quality.quarantine_warn_share, quality.quarantine_error_share))


@weekly_check("cleaned_ratings", "Ratings lie in [0, 1] and no (subscriber, program) pair appears twice.")
def ratings_valid(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, CLEANED_RATINGS)
    with CLEANED_RATINGS.open(artifacts, week) as ratings:
        columns = ratings.read(columns=[*ID_COLUMNS, "rating"])
    return check_result(rules.ratings_valid_arrays(*(columns.column(c).to_numpy() for c in columns.column_names)))


@weekly_check("score_matrix", "Every row and column index maps to exactly one id; density and counts reported.")
def score_matrix_consistent(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    try:
        matrix = load_score_matrix(artifacts, checked_week(context, artifacts, SCORE_MATRIX))  # verifies checksum, shapes, unique ids
    except ValueError as exc:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description=str(exc))
    return check_result(rules.score_matrix_consistent(matrix))


@weekly_check("weekly_pair_stats", "Warns (never blocks) when the week's log volume, its share of new subscribers or "
              "programs, or its watch-ratio / per-subscriber activity distribution (PSI) moved past the thresholds "
              "of recsys/drift.py against the trailing weeks (figures: the week's materialization metadata).",
              name=DRIFT_CHECK)
def weekly_pair_stats_drift(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, WEEKLY_PAIR_SUMMARY)
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("weekly_pair_stats"), asset_partitions=[week]), limit=1).records
    if not records:
        raise dg.Failure(f"weekly_pair_stats {week} has no materialization to judge", allow_retries=False)
    figures = {k: v.value for k, v in records[0].asset_materialization.metadata.items() if k.startswith("drift_")}
    found = drift_warnings(figures, DriftThresholds())
    if not figures.get("drift_trailing_weeks"):
        description = "no trailing week stored before this one: nothing to compare with"
    else:
        description = "; ".join(found) or f"in line with the {figures['drift_trailing_weeks']} weeks before"
    return dg.AssetCheckResult(passed=not found, severity=dg.AssetCheckSeverity.WARN, description=description,
                               metadata=figures)
