"""Asset checks, thin wrappers over the rules in recsys/rules.py. The quality gate is blocking: a week
whose model does not beat popularity on the holdout protocol gets no recommendations (downstream is
skipped, visibly in the UI)."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.assets.loaders import load_score_matrix  # noqa: E402
from vodrec_assets.partitions import previous_week, weekly_partitions  # noqa: E402
from vodrec_assets.quality import QualityPolicy  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.recsys.cleaning import CLICK_COLUMNS, WATCH_COLUMNS  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402


def _result(verdict: rules.Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR if verdict.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata=verdict.metadata,
    )


def _raw_logs_check(asset: str, expected: list[str]):
    @dg.asset_check(asset=asset, name=f"{asset}_shape", partitions_def=weekly_partitions,
                    description=f"The week's {asset} is not empty and has the expected columns and types.")
    def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
        return _result(rules.raw_logs_shape(artifacts.read_parquet(f"{asset}/{context.partition_key}.parquet"), expected))

    return check


raw_vod_logs_shape = _raw_logs_check("raw_vod_logs", WATCH_COLUMNS)
raw_click_logs_shape = _raw_logs_check("raw_click_logs", CLICK_COLUMNS)


@dg.asset_check(asset="weekly_pair_stats", partitions_def=weekly_partitions,
                description="Share of the week's raw rows quarantined: WARN above 1 %, ERROR above 20 %.")
def quarantine_share(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, quality: QualityPolicy) -> dg.AssetCheckResult:
    summary = artifacts.read_json(f"weekly_pair_stats/{context.partition_key}.json")
    return _result(rules.quarantine_share(summary, quality.quarantine_warn_share, quality.quarantine_error_share))


@dg.asset_check(asset="cleaned_ratings", partitions_def=weekly_partitions,
                description="Ratings lie in [0, 1] and no (subscriber, program) pair appears twice.")
def ratings_valid(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    with artifacts.open_parquet(f"cleaned_ratings/{context.partition_key}.parquet") as ratings:
        columns = ratings.read(columns=[*rules.ID_COLUMNS, "rating"])
    return _result(rules.ratings_valid_arrays(*(columns.column(c).to_numpy() for c in columns.column_names)))


@dg.asset_check(asset="score_matrix", partitions_def=weekly_partitions,
                description="Every row and column index maps to exactly one id; density and counts reported.")
def score_matrix_consistent(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    try:
        matrix = load_score_matrix(artifacts, context.partition_key)  # verifies checksum, shapes, unique ids
    except ValueError as exc:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description=str(exc))
    return _result(rules.score_matrix_consistent(matrix))


@dg.asset_check(asset="weekly_metrics", blocking=True, partitions_def=weekly_partitions,
                description="Quality gate: the week's model beats the popularity baseline on the holdout protocol "
                            "by the configured margin; otherwise recommendations are not written.")
def quality_gate(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore,
                 quality: QualityPolicy) -> dg.AssetCheckResult:
    metrics = artifacts.read_json(f"weekly_metrics/{context.partition_key}.json")["metrics"]
    return _result(rules.quality_gate(metrics, quality.gate_metric, quality.gate_margin))


@dg.asset_check(asset="weekly_metrics", partitions_def=weekly_partitions,
                description="Week-over-week regression: WARN when map_at_10 drops by more than the tolerance.")
def map_regression(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, quality: QualityPolicy) -> dg.AssetCheckResult:
    week = context.partition_key
    current = artifacts.read_json(f"weekly_metrics/{week}.json")["metrics"]
    prev = previous_week(week)
    previous = (artifacts.read_json(f"weekly_metrics/{prev}.json")["metrics"]
                if prev and artifacts.exists(f"weekly_metrics/{prev}.json") else None)
    return _result(rules.map_regression(previous, current, quality.regression_tolerance))


CHECKS = [raw_vod_logs_shape, raw_click_logs_shape, quarantine_share, ratings_valid, score_matrix_consistent,
          quality_gate, map_regression]
