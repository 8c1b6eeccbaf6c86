"""Ingestion: each week's source rows, read once with bound parameters, stored as Parquet."""


from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vodrec_assets.asset_defaults import OWNERS, data_errors_not_retried, io_retry_policy, week_of, weekly_asset_kwargs
from vodrec_assets.fused_weeks import week_body
from vodrec_assets.partitions import END_DATE, week_bounds, weekly_partitions
from vodrec_assets.settings import TIMEZONE
from vodrec_assets.recsys.cleaning import CATALOG_NUMERIC, CLICK_COLUMNS, WATCH_COLUMNS, validate_reference
from vodrec_assets.recsys.assignment import PLAIN_LENGTH, belongs_to
from vodrec_assets.recsys.parsing import datetime_values
from vodrec_assets import schema
from vodrec_assets.artifacts import (
    RAW_CLICK_LOGS, RAW_VOD_LOGS, SUBSCRIBERS, SUBSCRIBERS_QUARANTINE, UNASSIGNED_ROWS, VOD_CATALOG,
    VOD_CATALOG_QUARANTINE, Artifact,
)
from vodrec_assets.resources import ArtifactStore, SourceDatabase

CATALOG_COLUMNS = schema.column_names("vodinfo")
SUBSCRIBER_COLUMNS = schema.column_names("userinfo")


def parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """SQLite may return a column mixing numbers and text; keep such values, as text."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].astype("string")
    return out


REFERENCE_REASONS = ("null_id", "non_numeric", "non_finite", "out_of_range", "fractional_id", "duplicate_id")


def store_reference(artifacts: ArtifactStore, usable: Artifact, rejected: Artifact, week: str, frame: pd.DataFrame,
                    id_column: str, numeric_columns: list[str] = ()) -> dict:
    """The usable rows of a reference table as `<asset>/<week>.parquet`; rows with a NULL, non-numeric,
    non-finite, out-of-range, fractional or repeated id (or a non-finite number) as
    `<asset>/<week>.quarantined.parquet` (weekly_pair_stats adds them to the week's quarantined_rows).
    Returns the counts for the metadata."""
    with data_errors_not_retried(f"validating {usable.producer} {week}"):
        checked = validate_reference(frame, id_column, numeric_columns)
    usable.write(artifacts, parquet_safe(checked.rows), week)
    rejected.write(artifacts, checked.quarantined, week)
    return {"quarantined_rows": len(checked.quarantined),
            **{f"quarantined_{r}": n for r, n in checked.counts.items() if r in REFERENCE_REASONS}}


def _as_of(frame: pd.DataFrame, column: str, week_end) -> pd.DataFrame:
    """Rows whose `column` (Seoul time; zoned values converted) is before `week_end`, or is no date."""
    with data_errors_not_retried(f"reading {column}"):
        when = datetime_values(frame[column])
    return frame[np.isnat(when) | (when < pd.Timestamp(week_end).to_datetime64())]


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
@week_body
def vod_catalog(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """The VOD catalogue (`vodinfo`) as of the week's end: programs released before next Monday."""
    week = context.partition_key
    _, end = week_of(week)
    catalog = _as_of(source_db.read_table("vodinfo", CATALOG_COLUMNS), "release_date", end)
    quarantine = store_reference(artifacts, VOD_CATALOG, VOD_CATALOG_QUARANTINE, week, catalog, "program_id", CATALOG_NUMERIC)
    released = datetime_values(catalog["release_date"])
    return dg.MaterializeResult(metadata={
        "programs": int(len(catalog)),
        "released_this_week": int((released >= pd.Timestamp(week).to_datetime64()).sum()),
        "e_bool_programs": int((pd.to_numeric(catalog["e_bool"], errors="coerce") == 1).sum()),
        **quarantine,
        "path": VOD_CATALOG.uri(artifacts, week),
    })


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
@week_body
def subscribers(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Subscribers (`userinfo`) as of the week's end: everyone who had joined before next Monday."""
    week = context.partition_key
    start, end = week_of(week)
    users = _as_of(source_db.read_table("userinfo", SUBSCRIBER_COLUMNS), "join_dt", end)
    quarantine = store_reference(artifacts, SUBSCRIBERS, SUBSCRIBERS_QUARANTINE, week, users, "subsr_id")
    churn = datetime_values(users["churn_dt"])
    return dg.MaterializeResult(metadata={
        "subscribers": int(len(users)),
        "churned_before_week": int((churn < pd.Timestamp(start).to_datetime64()).sum()),
        **quarantine,
        "path": SUBSCRIBERS.uri(artifacts, week),
    })


def _own_rows(table: pa.Table, start: datetime, end: datetime) -> pa.Table:
    """The rows of the widened window that belong to the week (assignment.belongs_to); only long
    (zoned) text can belong elsewhere, so a week without any is kept as read."""
    log_dt = table.column("log_dt")
    if not pc.any(pc.greater(pc.utf8_length(log_dt), PLAIN_LENGTH)).as_py():
        return table
    with data_errors_not_retried("assigning zoned log_dt to weeks"):
        keep = belongs_to(log_dt.to_pandas().astype("string"), start, end)
    return table.filter(pa.array(keep))


def _ingest_logs(context: dg.AssetExecutionContext, table: str, columns: list[str], logs: Artifact,
                 source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    week = context.partition_key
    start, end = week_of(week)
    # SQLite (ADBC) and MySQL (connectorx): every value as the text SQLite keeps, in compiled code.
    text = source_db.read_window_text(table, start, end, columns)
    if text is not None:
        text = _own_rows(text, start, end)
        logs.write(artifacts, text, week)
        n = text.num_rows
    else:
        rows = source_db.read_window(table, start, end, columns)
        with data_errors_not_retried("assigning zoned log_dt to weeks"):
            rows = rows[belongs_to(rows["log_dt"], start, end)].reset_index(drop=True)
        logs.write(artifacts, parquet_safe(rows), week)
        n = len(rows)
    context.log.info(f"{table}: {n} rows in [{start}, {end})")
    return dg.MaterializeResult(metadata={
        "rows": int(n),
        "source_table": table,
        "window": f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) Asia/Seoul",
        "path": logs.uri(artifacts, week),
    })


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
@week_body
def raw_vod_logs(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Exactly the week's rows of `vods_sumut` (VOD watch logs): `log_dt` in [Monday 00:00, next Monday 00:00)
    Seoul time, read with bound parameters and stored as they are (cleaning happens downstream). From an
    SQLite file every value is stored as its text (SQLite keeps text in numeric columns; its text reads
    back to the same value); from MySQL as the same text (sources/mysql_arrow.py)."""
    return _ingest_logs(context, "vods_sumut", WATCH_COLUMNS, RAW_VOD_LOGS, source_db, artifacts)


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
@week_body
def raw_click_logs(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Exactly the week's rows of `contlog` (detail-page clicks), read with bound parameters, stored as they are
    (as text from an SQLite file, as raw_vod_logs)."""
    return _ingest_logs(context, "contlog", CLICK_COLUMNS, RAW_CLICK_LOGS, source_db, artifacts)


UNASSIGNED_REASONS = ("null_value", "unparsable_log_dt", "log_dt_before_first_week", "log_dt_after_last_week")


def _log_dt_reasons(log_dt: pd.Series, first: datetime, upper: datetime) -> np.ndarray:
    parsed = datetime_values(log_dt)
    return np.select(
        [log_dt.isna().to_numpy(), np.isnat(parsed), parsed < pd.Timestamp(first).to_datetime64()],
        list(UNASSIGNED_REASONS[:3]), default=UNASSIGNED_REASONS[3],
    ).astype(object)


def partitioned_span() -> tuple[datetime, datetime]:
    """[first partition's Monday, the Monday after the last partition): the time the weekly partitions read."""
    return (week_bounds(weekly_partitions.get_first_partition_key())[0],
            week_bounds(weekly_partitions.get_last_partition_key())[1])


@dg.asset(group_name="data_quality", kinds={"sql", "parquet"}, code_version="1", owners=OWNERS,
          retry_policy=io_retry_policy(),
          # Weekly, after the Monday run has read the week that just ended (the automation sensor).
          automation_condition=dg.AutomationCondition.on_cron("0 4 * * 1", TIMEZONE))
def unassigned_log_rows(context: dg.AssetExecutionContext, source_db: SourceDatabase,
                        artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Log rows that no weekly partition reads, so that none is lost without a trace: `log_dt` NULL
    (`null_value`), text that is no date and sorts outside every week (`unparsable_log_dt`), before the
    first week (`log_dt_before_first_week`, e.g. a box clock reset to 1970) or after the last one
    (`log_dt_after_last_week`: after VODREC_END_DATE, or in the future, e.g. a clock jumped to 2037; rows of
    the week in progress are not counted, its partition will read them). Kept with their reason and table
    in `quarantined_rows/unassigned.parquet`. Not part of weekly_retrain: materialize it on demand."""
    first, last_end = partitioned_span()
    now = datetime.now(ZoneInfo(TIMEZONE)).replace(tzinfo=None, microsecond=0)
    upper = last_end if END_DATE else now
    frames = []
    for table, columns in (("vods_sumut", WATCH_COLUMNS), ("contlog", CLICK_COLUMNS)):
        rows = source_db.read_outside(table, first, upper, columns)
        with data_errors_not_retried("assigning zoned log_dt to weeks"):
            rows = rows[~belongs_to(rows["log_dt"], first, upper)]
        quarantined = rows.astype("string")
        quarantined.insert(0, "reason", _log_dt_reasons(rows["log_dt"], first, upper))
        frames.append(quarantined.assign(source_table=table))
    unassigned = pd.concat(frames, ignore_index=True).astype("string")
    UNASSIGNED_ROWS.write(artifacts, unassigned)
    counts = unassigned.groupby(["source_table", "reason"]).size()
    return dg.MaterializeResult(metadata={
        "rows": int(len(unassigned)),
        "weeks_read": f"[{first:%Y-%m-%d}, {upper:%Y-%m-%d %H:%M})",
        **{f"{table}_{reason}": int(n) for (table, reason), n in counts.items()},
        "path": UNASSIGNED_ROWS.uri(artifacts),
    })
