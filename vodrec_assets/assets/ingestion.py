"""Ingestion: each week's source rows, read once with bound parameters, stored as Parquet."""


import dagster as dg
import pandas as pd

from vodrec_assets.assets.common import OWNERS, week_of, weekly_asset_kwargs
from vodrec_assets.recsys.cleaning import CLICK_COLUMNS, WATCH_COLUMNS, validate_reference
from vodrec_assets.resources import ArtifactStore, SourceDatabase

CATALOG_COLUMNS = ["program_id", "program_name", "ct_cl", "program_genre", "release_date", "age_limit",
                   "disp_rtm_sec", "episode_count", "e_bool"]
SUBSCRIBER_COLUMNS = ["subsr_id", "age_band", "gender", "region", "join_dt", "churn_dt"]


def parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """SQLite may return a column mixing numbers and text; keep such values, as text."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].astype("string")
    return out


def store_reference(artifacts: ArtifactStore, asset: str, week: str, frame: pd.DataFrame, id_column: str) -> dict:
    """The usable rows of a reference table as `<asset>/<week>.parquet`; rows with a NULL, non-numeric or
    repeated id as `<asset>/<week>.quarantined.parquet` (weekly_pair_stats adds them to the week's
    quarantined_rows). Returns the counts for the metadata."""
    checked = validate_reference(frame, id_column)
    artifacts.write_parquet(f"{asset}/{week}.parquet", parquet_safe(checked.rows))
    artifacts.write_parquet(f"{asset}/{week}.quarantined.parquet", checked.quarantined)
    return {"quarantined_rows": len(checked.quarantined),
            **{f"quarantined_{r}": n for r, n in checked.counts.items() if r in ("null_id", "non_numeric", "duplicate_id")}}


def _as_of(frame: pd.DataFrame, column: str, week_end) -> pd.DataFrame:
    when = pd.to_datetime(frame[column].astype("string"), errors="coerce", format="mixed")
    return frame[when.isna() | (when < pd.Timestamp(week_end))]


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
def vod_catalog(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """The VOD catalogue (`vodinfo`) as of the week's end: programs released before next Monday."""
    week = context.partition_key
    _, end = week_of(week)
    catalog = _as_of(source_db.read_table("vodinfo", CATALOG_COLUMNS), "release_date", end)
    quarantine = store_reference(artifacts, "vod_catalog", week, catalog, "program_id")
    released = pd.to_datetime(catalog["release_date"].astype("string"), errors="coerce", format="mixed")
    return dg.MaterializeResult(metadata={
        "programs": int(len(catalog)),
        "released_this_week": int((released >= pd.Timestamp(week)).sum()),
        "e_bool_programs": int((pd.to_numeric(catalog["e_bool"], errors="coerce") == 1).sum()),
        **quarantine,
        "path": artifacts.uri(f"vod_catalog/{week}.parquet"),
    })


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
def subscribers(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Subscribers (`userinfo`) as of the week's end: everyone who had joined before next Monday."""
    week = context.partition_key
    start, end = week_of(week)
    users = _as_of(source_db.read_table("userinfo", SUBSCRIBER_COLUMNS), "join_dt", end)
    quarantine = store_reference(artifacts, "subscribers", week, users, "subsr_id")
    churn = pd.to_datetime(users["churn_dt"].astype("string"), errors="coerce", format="mixed")
    return dg.MaterializeResult(metadata={
        "subscribers": int(len(users)),
        "churned_before_week": int((churn < pd.Timestamp(start)).sum()),
        **quarantine,
        "path": artifacts.uri(f"subscribers/{week}.parquet"),
    })


def _ingest_logs(context: dg.AssetExecutionContext, table: str, columns: list[str], asset: str,
                 source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    week = context.partition_key
    start, end = week_of(week)
    rows = source_db.read_window(table, start, end, columns)
    key = f"{asset}/{week}.parquet"
    artifacts.write_parquet(key, parquet_safe(rows))
    context.log.info(f"{table}: {len(rows)} rows in [{start}, {end})")
    return dg.MaterializeResult(metadata={
        "rows": int(len(rows)),
        "source_table": table,
        "window": f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) Asia/Seoul",
        "path": artifacts.uri(key),
    })


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
def raw_vod_logs(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Exactly the week's rows of `vods_sumut` (VOD watch logs): `log_dt` in [Monday 00:00, next Monday 00:00)
    Seoul time, read with bound parameters and stored as they are (cleaning happens downstream)."""
    return _ingest_logs(context, "vods_sumut", WATCH_COLUMNS, "raw_vod_logs", source_db, artifacts)


@dg.asset(group_name="ingestion", kinds={"sql", "parquet"}, code_version="1",
          **weekly_asset_kwargs())
def raw_click_logs(context: dg.AssetExecutionContext, source_db: SourceDatabase, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Exactly the week's rows of `contlog` (detail-page clicks), read with bound parameters, stored as they are."""
    return _ingest_logs(context, "contlog", CLICK_COLUMNS, "raw_click_logs", source_db, artifacts)
