"""Serving: every subscriber's top 10 for the week, written to Parquet and the recommendations table."""


from datetime import datetime, timezone

import dagster as dg
import numpy as np
import pandas as pd

from vodrec_assets import schema
from vodrec_assets.fused_weeks import week_body
from vodrec_assets.recsys.promotion import replay_history

from vodrec_assets.asset_defaults import rounded, weekly_asset_kwargs
from vodrec_assets.publishing import (
    TOP_K, compute_recommendations, publish_recommendations, publish_to_redis, serve_champion_from_redis,
)
from vodrec_assets.artifacts import CHAMPION_HISTORY, RECOMMENDATIONS, SCORE_MATRIX, TRAINED_MODEL, WEEKLY_METRICS, load_weekly_metrics
from vodrec_assets.defs.serving.freshness import recommendations_freshness_policy
from vodrec_assets.partitions import all_weeks_so_far
from vodrec_assets.resources import ArtifactStore, ServingRedis, SourceDatabase


@dg.asset(
    group_name="serving", kinds={"parquet", "sql"}, code_version="1",
    deps=[TRAINED_MODEL.dep(), SCORE_MATRIX.dep(), WEEKLY_METRICS.dep()], **weekly_asset_kwargs(),
    freshness_policy=recommendations_freshness_policy(),  # + the per-week check, defs/serving/freshness.py
)
@week_body
def recommendations(context: dg.AssetExecutionContext, artifacts: ArtifactStore, source_db: SourceDatabase,
                    serving_redis: ServingRedis) -> dg.MaterializeResult:
    """Top 10 programs for every subscriber seen in the window, excluding programs already watched and
    programs that may not be recommended (e_bool, not in the catalogue): embedding matmul + argpartition in
    chunks of subscribers. Written to `recommendations/<week>.parquet` and to the `recommendations` table
    of the source database, the week's rows replaced in one transaction; the week's popularity list (for
    subscribers the model has never seen) goes to `popular_programs`. With Redis configured
    (`VODREC_REDIS_URL`) the week is also published there as a fresh version, which replaces the week's
    previous one (at once if the week is being served); `champion_model` switches the served week. Not
    written when the week's quality gate fails."""
    week = context.partition_key
    # The blocking quality_gate check stops this step when both run together; an asset backfill may
    # put weekly_metrics and recommendations in different runs, so the gate's verdict is read here too.
    verdict = WEEKLY_METRICS.read(artifacts, week)
    if not verdict.get("quality_gate_passed", False):
        raise dg.Failure(f"the quality gate of {week} failed, its recommendations are not published: "
                         f"{verdict.get('quality_gate_reason', 'no reason recorded')}", allow_retries=False)
    computed = compute_recommendations(artifacts, week)
    written = publish_recommendations(artifacts, source_db, computed)
    redis_figures = publish_to_redis(serving_redis, source_db, computed) if serving_redis.configured else {}
    frame, n_users = computed.frame, computed.subscribers
    per_user = np.diff(np.r_[0, np.flatnonzero(np.diff(frame["subsr_id"].to_numpy())) + 1, len(frame)]) if len(frame) else []
    return dg.MaterializeResult(metadata=rounded({
        "subscribers": n_users,
        "rows": int(written),
        "short_lists": int(np.sum(np.asarray(per_user) < TOP_K)) if len(frame) else 0,
        "distinct_programs": int(frame["program_id"].nunique()),
        "catalog_coverage": float(frame["program_id"].nunique() / max(computed.recommendable, 1)),
        "model_family": computed.family,
        "path": RECOMMENDATIONS.uri(artifacts, week),
        **{f"redis_{k}": v for k, v in redis_figures.items()},
    }))


@dg.asset(
    group_name="serving", kinds={"sql", "json"}, code_version="1",
    deps=[RECOMMENDATIONS.dep(), WEEKLY_METRICS.dep(all_weeks_so_far)],
    **weekly_asset_kwargs(),
)
@week_body
def champion_model(context: dg.AssetExecutionContext, artifacts: ArtifactStore, source_db: SourceDatabase,
                   serving_redis: ServingRedis) -> dg.MaterializeResult:
    """The model the API serves. Each week's model becomes champion when its quality gate passed, its
    recommendations were published, and its holdout map_at_10 is at least the champion's (a tie goes to
    the newer week); otherwise the champion stays. The decisions are replayed from every evaluated week
    in week order, so re-runs and out-of-order backfills give the same history; they are written to the
    `champion_history` table (one row per week) that the API polls to switch models without a restart.
    With Redis configured, its champion pointer is switched to the same week in one atomic step, and the
    week served before expires after the retired TTL."""
    week = context.partition_key
    records = load_weekly_metrics(artifacts)
    triples = [
        (r["week"], bool(r["quality_gate_passed"]) and RECOMMENDATIONS.exists(artifacts, r["week"]),
         r["metrics"].get("holdout_map_at_10"))
        for r in records
    ]
    decisions = replay_history(triples)
    first_decided = _existing_decision_times(source_db)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = []
    for decision in decisions:
        previous = first_decided.get(decision.week)
        keep_time = previous is not None and previous[0] == decision.champion_week
        row = decision.to_row(previous[1] if keep_time else now)
        if row is not None:
            rows.append(row)
    source_db.replace_all_rows("champion_history", pd.DataFrame(rows, columns=list(schema.champion_history.c.keys())))
    this_week = next((d for d in decisions if d.week == week), None)
    CHAMPION_HISTORY.write(artifacts, rows)
    redis_state = "not configured"
    if serving_redis.configured:
        redis_state = (serve_champion_from_redis(serving_redis, artifacts, source_db,
                                                 max(rows, key=lambda r: r["week"])["champion_week"])
                       if rows else "no champion yet")
        context.log.info(f"Redis: {redis_state}")
    if this_week is None:
        return dg.MaterializeResult(metadata={"champion_week": "none", "reason": f"no metrics for {week}",
                                              "redis": redis_state})
    return dg.MaterializeResult(metadata=rounded({
        "champion_week": this_week.champion_week or "none",
        "promoted": bool(this_week.promoted),
        "worse_than_champion": bool(this_week.got_worse),  # what the alert sensor reports
        "reason": this_week.reason,
        "candidate_map_at_10": float(this_week.candidate_map_at_10 or 0.0),
        "promotions_so_far": int(sum(d.promoted for d in decisions if d.week <= week)),
        "redis": redis_state,
        "history": dg.MetadataValue.md(pd.DataFrame(rows).tail(12).to_markdown(index=False) if rows else "none"),
    }))


def _existing_decision_times(source_db: SourceDatabase) -> dict[str, tuple[str, str]]:
    if not source_db.has_table("champion_history"):
        return {}
    frame = source_db.read_table("champion_history", ["week", "champion_week", "decided_at"])
    return {r.week: (r.champion_week, r.decided_at) for r in frame.itertuples()}
