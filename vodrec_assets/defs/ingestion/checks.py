"""The ingestion assets' checks: the raw logs' shape and volume, the reference tables' ids, the unassigned rows."""

import warnings

import dagster as dg

# Partitioned asset checks are "preview" in Dagster 1.13; they are what gives a check result per week.
warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")

import pandas as pd  # noqa: E402

from vodrec_assets.artifacts import RAW_CLICK_LOGS, RAW_VOD_LOGS, SUBSCRIBERS, UNASSIGNED_ROWS, VOD_CATALOG, Artifact  # noqa: E402
from vodrec_assets.check_support import check_result, checked_week, weekly_check  # noqa: E402
from vodrec_assets.defs.ingestion.assets import UNASSIGNED_REASONS, partitioned_span  # noqa: E402
from vodrec_assets.partitions import previous_week, week_bounds  # noqa: E402
from vodrec_assets.quality import QualityPolicy  # noqa: E402
from vodrec_assets.recsys import rules  # noqa: E402
from vodrec_assets.recsys.cleaning import CLICK_COLUMNS, WATCH_COLUMNS  # noqa: E402
from vodrec_assets.recsys.volume import week_far_smaller  # noqa: E402
from vodrec_assets.resources import ArtifactStore  # noqa: E402

def _raw_logs_check(logs: Artifact, expected: list[str]):
    asset = logs.producer

    @weekly_check(asset, f"Blocking: the week's {asset} has rows and the expected columns and types. A week "
                          "without logs stops here: nothing downstream is computed for it.",
                   blocking=True, name=f"{asset}_shape")
    def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
        week = checked_week(context, artifacts, logs)
        return check_result(rules.raw_logs_shape(logs.read(artifacts, week), expected))

    return check


raw_vod_logs_shape = _raw_logs_check(RAW_VOD_LOGS, WATCH_COLUMNS)
raw_click_logs_shape = _raw_logs_check(RAW_CLICK_LOGS, CLICK_COLUMNS)


def _volume_check(logs: Artifact):
    asset = logs.producer

    @weekly_check(asset, f"Blocking: the week's {asset} is not far smaller than the weeks before it (below the "
                          "quality policy's share of their median: an emptied or half-lost week is never trained "
                          "on, published or promoted).", blocking=True, name=f"{asset}_volume")
    def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore,
              quality: QualityPolicy) -> dg.AssetCheckResult:
        week = checked_week(context, artifacts, logs)
        earlier, cursor = [], previous_week(week)
        while cursor and len(earlier) < quality.volume_trailing_weeks:
            earlier.insert(0, cursor)
            cursor = previous_week(cursor)
        counts = _rows_by_week(context.instance, artifacts, logs, [*earlier, week])
        trailing = [counts[w] for w in earlier if w in counts]
        verdict = week_far_smaller(counts[week], trailing, quality.volume_floor_share, quality.volume_trailing_weeks)
        return dg.AssetCheckResult(
            passed=not verdict.too_small, severity=dg.AssetCheckSeverity.ERROR, description=verdict.reason,
            metadata={"rows": verdict.rows, "trailing_median": float(verdict.reference or 0.0),
                      "floor": float(verdict.floor or 0.0), "trailing_weeks": len(trailing)})

    return check


def _rows_by_week(instance: dg.DagsterInstance, artifacts: ArtifactStore, logs: Artifact, weeks: list[str]) -> dict[str, int]:
    """Each week's row count, from its latest materialization's `rows` (no download), else from the stored
    Parquet file's footer; weeks never ingested are left out."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(logs.producer), asset_partitions=weeks), limit=100).records
    counts: dict[str, int] = {}
    for record in records:  # newest first: the first one seen of a week is its latest
        rows = record.asset_materialization.metadata.get("rows")
        if record.partition_key not in counts and rows is not None:
            counts[record.partition_key] = int(rows.value)
    for week in weeks:
        if week not in counts and logs.exists(artifacts, week):
            with logs.open(artifacts, week) as parquet:
                counts[week] = int(parquet.metadata.num_rows)
    return counts


raw_vod_logs_volume = _volume_check(RAW_VOD_LOGS)
raw_click_logs_volume = _volume_check(RAW_CLICK_LOGS)


def _reference_check(reference: Artifact, id_column: str, since_column: str, what: str):
    asset = reference.producer

    @weekly_check(asset, f"Blocking: every {what} id once, and no {what} dated on or after the week's end.",
                   blocking=True, name=f"{asset}_unique_as_of_week")
    def check(context: dg.AssetCheckExecutionContext, artifacts: ArtifactStore) -> dg.AssetCheckResult:
        week = checked_week(context, artifacts, reference)
        frame = reference.read(artifacts, week, [id_column, since_column])
        return check_result(rules.unique_ids_as_of(frame[id_column].to_numpy(), frame[since_column],
                                              pd.Timestamp(week_bounds(week)[1]), what))

    return check


subscribers_unique_as_of_week = _reference_check(SUBSCRIBERS, "subsr_id", "join_dt", "subscriber")
vod_catalog_unique_as_of_week = _reference_check(VOD_CATALOG, "program_id", "release_date", "program")


@dg.asset_check(asset="unassigned_log_rows",
                description="Every unassigned log row has a known reason and lies outside the partitioned weeks.")
def unassigned_rows_outside_weeks(artifacts: ArtifactStore) -> dg.AssetCheckResult:
    rows = UNASSIGNED_ROWS.read(artifacts, columns=["reason", "log_dt"])
    first, end = partitioned_span()
    return check_result(rules.unassigned_rows_outside_weeks(rows["reason"], rows["log_dt"], pd.Timestamp(first),
                                                       pd.Timestamp(end), UNASSIGNED_REASONS))
