"""Asset checks, thin wrappers over the rules in recsys/rules.py: at least one per asset, each testing a
property that can really fail for it. Blocking checks stop the run's downstream steps (the raw logs of an
empty week, a model or lists that must not be served, the quality gate); the others warn.

Every check is its own `@asset_check`, so the UI's Checks tab can execute any one of them alone for a
week (partitioned checks) or for the asset."""

import warnings

import dagster as dg
import numpy as np
import pandas as pd

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

from vodrec_assets.assets.ingestion import UNASSIGNED_REASONS, partitioned_span  # noqa: E402
from vodrec_assets.assets.loaders import load_score_matrix  # noqa: E402
from vodrec_assets.assets.serving import TOP_K  # noqa: E402
from vodrec_assets.partitions import previous_week, week_bounds, weekly_partitions  # noqa: E402
from vodrec_assets.quality import QualityPolicy  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.recsys.cleaning import CLICK_COLUMNS, WATCH_COLUMNS  # noqa: E402
from vodrec_assets.recsys.volume import week_far_smaller  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402


def _result(verdict: rules.Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=verdict.passed,
        severity=dg.AssetCheckSeverity.ERROR if verdict.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
        description=verdict.description,
        metadata=verdict.metadata,
    )


def checked_week(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, asset: str) -> str:
    """The run's week; in a run without a partition (the Checks tab's "Execute all" on a partitioned asset
    launches one) the newest week that `asset` has stored, so the button checks something real."""
    if context.has_partition_key:
        return context.partition_key
    weeks = sorted({k.split("/", 1)[1][:10] for k in artifacts.list_keys(f"{asset}/")})
    if not weeks:
        raise dg.Failure(f"{asset} has no stored week to check: materialize a week first", allow_retries=False)
    context.log.info(f"no partition in this run: checking the newest stored week of {asset}, {weeks[-1]}")
    return weeks[-1]


def _weekly_check(asset: str, description: str, blocking: bool = False, name: str | None = None):
    return dg.asset_check(asset=asset, name=name, partitions_def=weekly_partitions, blocking=blocking,
                          description=description)


def _raw_logs_check(asset: str, expected: list[str]):
    @_weekly_check(asset, f"Blocking: the week's {asset} has rows and the expected columns and types. A week "
                          "without logs stops here: nothing downstream is computed for it.",
                   blocking=True, name=f"{asset}_shape")
    def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
        week = checked_week(context, artifacts, asset)
        return _result(rules.raw_logs_shape(artifacts.read_parquet(f"{asset}/{week}.parquet"), expected))

    return check


raw_vod_logs_shape = _raw_logs_check("raw_vod_logs", WATCH_COLUMNS)
raw_click_logs_shape = _raw_logs_check("raw_click_logs", CLICK_COLUMNS)


def _volume_check(asset: str):
    @_weekly_check(asset, f"Blocking: the week's {asset} is not far smaller than the weeks before it (below the "
                          "quality policy's share of their median: an emptied or half-lost week is never trained "
                          "on, published or promoted).", blocking=True, name=f"{asset}_volume")
    def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore,
              quality: QualityPolicy) -> dg.AssetCheckResult:
        week = checked_week(context, artifacts, asset)
        earlier, cursor = [], previous_week(week)
        while cursor and len(earlier) < quality.volume_trailing_weeks:
            earlier.insert(0, cursor)
            cursor = previous_week(cursor)
        counts = _rows_by_week(context.instance, artifacts, asset, [*earlier, week])
        trailing = [counts[w] for w in earlier if w in counts]
        verdict = week_far_smaller(counts[week], trailing, quality.volume_floor_share, quality.volume_trailing_weeks)
        return dg.AssetCheckResult(
            passed=not verdict.too_small, severity=dg.AssetCheckSeverity.ERROR, description=verdict.reason,
            metadata={"rows": verdict.rows, "trailing_median": float(verdict.reference or 0.0),
                      "floor": float(verdict.floor or 0.0), "trailing_weeks": len(trailing)})

    return check


def _rows_by_week(instance: dg.DagsterInstance, artifacts: ArtifactStore, asset: str, weeks: list[str]) -> dict[str, int]:
    """Each week's row count, from its latest materialization's `rows` (no download), else from the stored
    Parquet file's footer; weeks never ingested are left out."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=weeks), limit=100).records
    counts: dict[str, int] = {}
    for record in records:  # newest first: the first one seen of a week is its latest
        rows = record.asset_materialization.metadata.get("rows")
        if record.partition_key not in counts and rows is not None:
            counts[record.partition_key] = int(rows.value)
    for week in weeks:
        if week not in counts and artifacts.exists(f"{asset}/{week}.parquet"):
            with artifacts.open_parquet(f"{asset}/{week}.parquet") as parquet:
                counts[week] = int(parquet.metadata.num_rows)
    return counts


raw_vod_logs_volume = _volume_check("raw_vod_logs")
raw_click_logs_volume = _volume_check("raw_click_logs")


def _reference_check(asset: str, id_column: str, since_column: str, what: str):
    @_weekly_check(asset, f"Blocking: every {what} id once, and no {what} dated on or after the week's end.",
                   blocking=True, name=f"{asset}_unique_as_of_week")
    def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
        week = checked_week(context, artifacts, asset)
        frame = artifacts.read_parquet(f"{asset}/{week}.parquet", [id_column, since_column])
        return _result(rules.unique_ids_as_of(frame[id_column].to_numpy(), frame[since_column],
                                              pd.Timestamp(week_bounds(week)[1]), what))

    return check


subscribers_unique_as_of_week = _reference_check("subscribers", "subsr_id", "join_dt", "subscriber")
vod_catalog_unique_as_of_week = _reference_check("vod_catalog", "program_id", "release_date", "program")


@dg.asset_check(asset="unassigned_log_rows",
                description="Every unassigned log row has a known reason and lies outside the partitioned weeks.")
def unassigned_rows_outside_weeks(artifacts: ArtifactStore) -> dg.AssetCheckResult:
    rows = artifacts.read_parquet("quarantined_rows/unassigned.parquet", ["reason", "log_dt"])
    first, end = partitioned_span()
    return _result(rules.unassigned_rows_outside_weeks(rows["reason"], rows["log_dt"], pd.Timestamp(first),
                                                       pd.Timestamp(end), UNASSIGNED_REASONS))


@_weekly_check("weekly_pair_stats", "Share of the week's raw rows quarantined: WARN above 1 %, ERROR above 20 %.")
def quarantine_share(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, quality: QualityPolicy) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, "weekly_pair_stats")
    summary = artifacts.read_json(f"weekly_pair_stats/{week}.json")
    return _result(rules.quarantine_share(summary, quality.quarantine_warn_share, quality.quarantine_error_share))


@_weekly_check("cleaned_ratings", "Ratings lie in [0, 1] and no (subscriber, program) pair appears twice.")
def ratings_valid(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, "cleaned_ratings")
    with artifacts.open_parquet(f"cleaned_ratings/{week}.parquet") as ratings:
        columns = ratings.read(columns=[*rules.ID_COLUMNS, "rating"])
    return _result(rules.ratings_valid_arrays(*(columns.column(c).to_numpy() for c in columns.column_names)))


@_weekly_check("score_matrix", "Every row and column index maps to exactly one id; density and counts reported.")
def score_matrix_consistent(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    try:
        matrix = load_score_matrix(artifacts, checked_week(context, artifacts, "score_matrix"))  # verifies checksum, shapes, unique ids
    except ValueError as exc:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description=str(exc))
    return _result(rules.score_matrix_consistent(matrix))


@_weekly_check("trained_model", "Blocking: every factor and bias finite, and the model's subscriber and program ids "
                                "exactly those of the week's score matrix.", blocking=True)
def model_matches_matrix(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, "trained_model")
    arrays, _ = artifacts.read_arrays(f"trained_model/{week}")
    matrix_ids, _ = artifacts.read_arrays(f"score_matrix/{week}")
    return _result(rules.model_matches_matrix(arrays, matrix_ids["user_ids"], matrix_ids["item_ids"]))


@_weekly_check("weekly_metrics", "Quality gate: the week's model beats the popularity baseline on the holdout "
                                 "protocol by the configured margin; otherwise recommendations are not written.",
               blocking=True)
def quality_gate(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore,
                 quality: QualityPolicy) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, "weekly_metrics")
    metrics = artifacts.read_json(f"weekly_metrics/{week}.json")["metrics"]
    return _result(rules.quality_gate(metrics, quality.gate_metric, quality.gate_margin))


@_weekly_check("weekly_metrics", "Week-over-week regression: WARN when map_at_10 drops by more than the tolerance.")
def map_regression(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore, quality: QualityPolicy) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, "weekly_metrics")
    current = artifacts.read_json(f"weekly_metrics/{week}.json")["metrics"]
    prev = previous_week(week)
    previous = (artifacts.read_json(f"weekly_metrics/{prev}.json")["metrics"]
                if prev and artifacts.exists(f"weekly_metrics/{prev}.json") else None)
    return _result(rules.map_regression(previous, current, quality.regression_tolerance))


@_weekly_check("recommendations", f"Blocking: every subscriber of the window gets {TOP_K} programs (fewer only where "
                                  "fewer are left), none already watched, none excluded by e_bool or the catalogue.",
               blocking=True)
def recommendations_valid(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, "recommendations")
    frame = artifacts.read_parquet(f"recommendations/{week}.parquet", ["subsr_id", "program_id", "rank"])
    return _result(rules.recommendations_valid(frame, load_score_matrix(artifacts, week), TOP_K))


@_weekly_check("champion_model", "The champion named for the week passed its quality gate, had its recommendations "
                                 "published, and is not a later week.")
def champion_passed_gate(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
    week = checked_week(context, artifacts, "weekly_metrics")  # champion_model stores no file per week
    history = artifacts.read_json("champion/history.json")
    weeks = [k.removeprefix("weekly_metrics/").removesuffix(".json")
             for k in artifacts.list_keys("weekly_metrics/") if k.endswith(".json")]
    gate = {w: bool(artifacts.read_json(f"weekly_metrics/{w}.json").get("quality_gate_passed")) for w in weeks}
    published = {w for w in weeks if artifacts.exists(f"recommendations/{w}.parquet")}
    return _result(rules.champion_passed_gate(history, week, gate, published))


@dg.asset_check(asset="metrics_history", description="One row per week with stored metrics, and no other week.")
def metrics_history_one_row_per_week(artifacts: ArtifactStore) -> dg.AssetCheckResult:
    from vodrec_assets.assets.evaluation import load_weekly_metrics

    history = artifacts.read_parquet("metrics_history/metrics_history.parquet", ["week"])
    stored = [r["week"] for r in load_weekly_metrics(artifacts)]
    return _result(rules.one_row_per_week([str(w) for w in history["week"]], stored))


WEEKLY_CHECKS = [raw_vod_logs_shape, raw_click_logs_shape, raw_vod_logs_volume, raw_click_logs_volume,
                 subscribers_unique_as_of_week, vod_catalog_unique_as_of_week,
                 quarantine_share, ratings_valid, score_matrix_consistent, model_matches_matrix, quality_gate,
                 map_regression, recommendations_valid, champion_passed_gate]
CHECKS = [*WEEKLY_CHECKS, unassigned_rows_outside_weeks, metrics_history_one_row_per_week]


def check_job_name(check: dg.AssetChecksDefinition) -> str:
    key = next(iter(check.check_keys))
    return f"check_{key.asset_key.to_python_identifier()}__{key.name}"


# Dagster's UI cannot execute one check of a partitioned asset on its own ("not yet supported" on the
# Checks tab's Execute button), so each weekly check has a job of its own: Jobs -> check_<asset>__<check>
# -> pick the week in the Launchpad -> Launch. The unpartitioned checks execute from the Checks tab.
def check_job(check: dg.AssetChecksDefinition):
    key = next(iter(check.check_keys))
    return dg.define_asset_job(
        name=check_job_name(check), selection=dg.AssetSelection.checks(check), partitions_def=weekly_partitions,
        description=f"Run only the check {key.name} on {key.asset_key.to_user_string()} for one week.",
        tags={"vodrec/job": "check"},
    )


CHECK_JOBS = [check_job(check) for check in WEEKLY_CHECKS]
