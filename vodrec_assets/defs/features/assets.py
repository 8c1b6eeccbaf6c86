"""Features: weekly pair statistics, the window's cleaned ratings, and the sparse score matrix."""

import io
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import dagster as dg
import numpy as np
import pandas as pd

from vodrec_assets.asset_defaults import data_errors_not_retried, rounded, week_of, weekly_asset_kwargs
from vodrec_assets.artifacts import (
    Artifact, CLEANED_RATINGS, RAW_CLICK_LOGS, RAW_VOD_LOGS, SCORE_MATRIX, SUBSCRIBERS, SUBSCRIBERS_QUARANTINE, VOD_CATALOG,
    VOD_CATALOG_QUARANTINE, WEEK_QUARANTINE, WEEKLY_PAIR_STATS, WEEKLY_PAIR_SUMMARY,
)
from vodrec_assets.defs.features.drift import week_drift_figures
from vodrec_assets.fused_weeks import week_body
from vodrec_assets.partitions import lookback_mapping, window_weeks
from vodrec_assets.recsys.cleaning import (
    CLICK_NUMERIC, CLICK_OTHER_NUMERIC, REASONS, WATCH_NUMERIC, WATCH_OTHER_NUMERIC, validate_logs, weekly_pair_stats as reduce_week, write_window_ratings,
)
from vodrec_assets.recsys.matrix import RatedPairs, build_score_matrix
from vodrec_assets.resources import ArtifactStore


@dg.asset(
    group_name="features", kinds={"pandas", "parquet"}, code_version="1",
    deps=[RAW_VOD_LOGS.dep(), RAW_CLICK_LOGS.dep(), VOD_CATALOG.dep(), SUBSCRIBERS.dep()], **weekly_asset_kwargs(),
)
@week_body
def weekly_pair_stats(context: dg.AssetExecutionContext, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """One week's raw logs validated and reduced to per-(subscriber, program) statistics: best watch ratio,
    watch count, click count, latest click. Rows that cannot be used are kept in
    `quarantined_rows/<week>.parquet` with their reason and counted here; none is dropped silently."""
    week = context.partition_key
    start, end = (pd.Timestamp(t) for t in week_of(week))
    # Stored by vod_catalog / subscribers as validated int64 ids: exact, never through float64.
    known_users = SUBSCRIBERS.read(artifacts, week, ["subsr_id"])["subsr_id"].to_numpy(np.int64)
    known_programs = VOD_CATALOG.read(artifacts, week, ["program_id"])["program_id"].to_numpy(np.int64)
    common = dict(week_start=start, week_end=end, known_subscribers=known_users, known_programs=known_programs)

    def validated(logs: Artifact, numeric: list[str], other: list[str], runtime: bool):
        raw = logs.read(artifacts, week)
        with data_errors_not_retried(f"validating {logs.producer} {week}"):
            return validate_logs(raw, numeric_columns=numeric, other_numeric_columns=other, check_runtime=runtime,
                                 **common)

    # The two tables side by side: their parsing runs in Arrow and numpy, outside the GIL.
    with ThreadPoolExecutor(2) as pool:
        watching = pool.submit(validated, RAW_VOD_LOGS, WATCH_NUMERIC, WATCH_OTHER_NUMERIC, True)
        clicks = validated(RAW_CLICK_LOGS, CLICK_NUMERIC, CLICK_OTHER_NUMERIC, False)
        watches = watching.result()
    with data_errors_not_retried(f"weekly_pair_stats {week}"):
        stats = reduce_week(watches.rows, clicks.rows)
    # Reference rows quarantined by vod_catalog and subscribers (a NULL, non-numeric or repeated id) join
    # the week's quarantine too, so that one file holds everything the week could not use.
    reference = [rejected.read(artifacts, week).assign(source_table=table)
                 for rejected, table in ((VOD_CATALOG_QUARANTINE, "vodinfo"), (SUBSCRIBERS_QUARANTINE, "userinfo"))
                 if rejected.exists(artifacts, week)]
    quarantined = pd.concat(
        [watches.quarantined.assign(source_table="vods_sumut"), clicks.quarantined.assign(source_table="contlog"),
         *reference],
        ignore_index=True,
    ).astype("string")
    WEEKLY_PAIR_STATS.write(artifacts, stats.pairs, week)
    WEEK_QUARANTINE.write(artifacts, quarantined, week)
    raw_rows = len(watches.rows) + len(watches.quarantined) + len(clicks.rows) + len(clicks.quarantined)
    log_quarantined = len(watches.quarantined) + len(clicks.quarantined)
    counts = {f"quarantined_{r}": int((quarantined["reason"] == r).sum()) for r in REASONS}
    summary = {
        "raw_watch_rows": len(watches.rows) + len(watches.quarantined),
        "raw_click_rows": len(clicks.rows) + len(clicks.quarantined),
        "quarantined_rows": len(quarantined),  # = the sum of the quarantined_<reason> counts
        "quarantined_reference_rows": len(quarantined) - log_quarantined,
        "quarantined_share": float(log_quarantined / raw_rows) if raw_rows else 0.0,  # of the log rows
        **counts,
        **stats.counts,
    }
    WEEKLY_PAIR_SUMMARY.write(artifacts, summary, week)
    # Volume and drift figures against the trailing weeks (defs/features/drift.py), plotted by partition.
    drift = week_drift_figures(artifacts, week, raw_rows, stats.pairs)
    return dg.MaterializeResult(metadata=rounded({**summary, **drift,
                                                  "quarantine_path": WEEK_QUARANTINE.uri(artifacts, week)}))


@dg.asset(
    group_name="features", kinds={"pandas", "parquet"}, code_version="1",
    deps=[WEEKLY_PAIR_STATS.dep(lookback_mapping())], **weekly_asset_kwargs(),
)
@week_body
def cleaned_ratings(context: dg.AssetExecutionContext, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """The original's cleaning over the lookback window (VODREC_LOOKBACK_WEEKS, default 12; `all` = from
    the first week): e_bool filter, watch ratio clipped to [0, 1], click and watch counts capped at their
    95th percentile, click recency (larger = newer), rating = best watch ratio, watched = rating > 0.
    A merge of the window's weekly pair statistics, range of subscribers by range (memory bounded by
    the range, not the window); the source is never read again."""
    week = context.partition_key
    weeks = [w for w in window_weeks(week) if WEEKLY_PAIR_STATS.exists(artifacts, w)]
    if week not in weeks:
        raise dg.Failure(f"weekly_pair_stats for {week} is missing: materialize it first", allow_retries=False)
    buffer = io.BytesIO()
    with ExitStack() as stack:
        sources = [stack.enter_context(WEEKLY_PAIR_STATS.open(artifacts, w)) for w in weeks]
        ratings = write_window_ratings(sources, buffer)
    CLEANED_RATINGS.write(artifacts, buffer.getvalue(), week)
    quarantine = {r: 0 for r in REASONS}
    for w in weeks:
        summary = WEEKLY_PAIR_SUMMARY.read(artifacts, w)
        for r in REASONS:
            quarantine[r] += int(summary.get(f"quarantined_{r}", 0))
    return dg.MaterializeResult(metadata=rounded({
        "window_weeks": len(weeks),
        "window": f"{weeks[0]} .. {week}",
        "pairs": ratings.pairs,
        "watched_pairs": ratings.watched_pairs,
        "click_only_pairs": ratings.click_only_pairs,
        "subscribers": ratings.subscribers,
        "programs": ratings.programs,
        "mean_rating": ratings.mean_rating,
        **{f"window_quarantined_{r}": int(v) for r, v in quarantine.items()},
    }))


@dg.asset(
    group_name="features", kinds={"scipy", "numpy"}, code_version="1",
    deps=[CLEANED_RATINGS.dep(), VOD_CATALOG.dep(), SUBSCRIBERS.dep()], **weekly_asset_kwargs(),
)
@week_body
def score_matrix(context: dg.AssetExecutionContext, artifacts: ArtifactStore) -> dg.MaterializeResult:
    """Sparse CSR subscribers x programs interactions (1 where watched) and weights (the rating), with stable
    sorted id <-> index maps, item features (genre, content class, age limit) and user features (age band,
    gender, region). Stored as arrays (.npz, no pickle) with a checksummed manifest. The cleaned ratings
    are read batch by batch, four columns, keeping only the distinct ids and the watched pairs."""
    week = context.partition_key
    with CLEANED_RATINGS.open(artifacts, week) as ratings:
        pairs = RatedPairs.read(ratings)
    matrix = build_score_matrix(
        pairs,
        VOD_CATALOG.read(artifacts, week),
        SUBSCRIBERS.read(artifacts, week),
    )
    SCORE_MATRIX.write(artifacts, matrix.to_arrays(), week, manifest={"week": week})
    n_users, n_items = matrix.shape
    nnz = int(matrix.interactions.nnz)
    return dg.MaterializeResult(metadata=rounded({
        "subscribers": n_users,
        "programs": n_items,
        "recommendable_programs": int(matrix.item_allowed.sum()),
        "interactions": nnz,
        "density": float(nnz / (n_users * n_items)) if n_users and n_items else 0.0,
        "user_features": int(matrix.user_features.shape[1]),
        "item_features": int(matrix.item_features.shape[1]),
        "mean_weight": float(matrix.weights.data.mean()) if nnz else 0.0,
        "path": SCORE_MATRIX.uri(artifacts, week),
    }))

