"""Serving: every subscriber's top 10 for the week, written to Parquet and the recommendations table."""


import json
from dataclasses import dataclass
from datetime import datetime, timezone

import dagster as dg
import numpy as np
import pandas as pd

from vodrec_assets import schema
from vodrec_assets.assets.evaluation import load_weekly_metrics
from vodrec_assets.recsys.promotion import replay_history

from vodrec_assets.assets.common import rounded, weekly_asset_kwargs
from vodrec_assets.assets.loaders import load_model, load_score_matrix
from vodrec_assets.recsys.baselines import popularity_scorer
from vodrec_assets.recsys.topk import NO_ITEM, recommend_top_k
from vodrec_assets.freshness import recommendations_freshness_policy
from vodrec_assets.resources import ArtifactStore, ServingRedis, SourceDatabase

TOP_K = 10
CHUNK_USERS = None  # recommend_top_k sizes chunks to keep each score block in cache


def recommendations_frame(week: str, user_ids: np.ndarray, item_ids: np.ndarray, items: np.ndarray,
                          scores: np.ndarray, source: str) -> pd.DataFrame:
    valid = items != NO_ITEM
    rows, ranks = np.nonzero(valid)
    return pd.DataFrame({
        "week": week,
        "subsr_id": user_ids[rows].astype(np.int64),
        "rank": (ranks + 1).astype(np.int32),
        "program_id": item_ids[items[valid]].astype(np.int64),
        "score": scores[valid].astype(np.float64),
        "source": source,
    })


@dg.asset(
    group_name="serving", kinds={"parquet", "sql"}, code_version="1",
    deps=["trained_model", "score_matrix", "weekly_metrics"], **weekly_asset_kwargs(),
    freshness_policy=recommendations_freshness_policy(),  # + the per-week check, vodrec_assets/freshness.py
)
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
    verdict = artifacts.read_json(f"weekly_metrics/{week}.json")
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
        "path": artifacts.uri(f"recommendations/{week}.parquet"),
        **{f"redis_{k}": v for k, v in redis_figures.items()},
    }))


@dataclass
class WeekRecommendations:
    """A week's top-10 lists (`frame`) and popularity list (`popular`), before they are written."""

    week: str
    frame: pd.DataFrame
    popular: pd.DataFrame
    subscribers: int
    recommendable: int
    family: str = "lightfm"
    params: dict | None = None


def compute_recommendations(artifacts: ArtifactStore, week: str) -> WeekRecommendations:
    """The week's model and score matrix -> every subscriber's top 10 and the popularity list.
    Shared by the `recommendations` asset and `vodrec bench` (its `recommend` stage)."""
    model, user_ids, item_ids = load_model(artifacts, week)
    matrix = load_score_matrix(artifacts, week)
    if not (np.array_equal(user_ids, matrix.user_ids) and np.array_equal(item_ids, matrix.item_ids)):
        raise dg.Failure(f"trained_model/{week} and score_matrix/{week} disagree on their id maps: retrain the week")
    top = recommend_top_k(model.scorer(), len(user_ids), TOP_K, exclude=matrix.interactions,
                          allowed_items=matrix.item_allowed, chunk_size=CHUNK_USERS)
    frame = recommendations_frame(week, user_ids, item_ids, top.items, top.scores, "model")
    popular = recommend_top_k(popularity_scorer(matrix.interactions), 1, TOP_K, allowed_items=matrix.item_allowed)
    valid = popular.items[0] != NO_ITEM
    popular_frame = pd.DataFrame({
        "week": week,
        "rank": np.arange(1, valid.sum() + 1, dtype=np.int32),
        "program_id": item_ids[popular.items[0][valid]].astype(np.int64),
        "score": popular.scores[0][valid].astype(np.float64),
    })
    return WeekRecommendations(week, frame, popular_frame, int(len(user_ids)), int(matrix.item_allowed.sum()),
                               model.family, dict(model.config))


def publish_recommendations(artifacts: ArtifactStore, source_db: SourceDatabase, recs: WeekRecommendations) -> int:
    """Parquet artifact plus the week's rows of `recommendations` and `popular_programs`, each table's
    week replaced in one transaction. Returns the recommendation rows written."""
    artifacts.write_parquet(f"recommendations/{recs.week}.parquet", recs.frame)
    written = source_db.replace_week_rows("recommendations", recs.week, recs.frame)
    source_db.replace_week_rows("popular_programs", recs.week, recs.popular)
    source_db.replace_week_rows("model_families", recs.week, pd.DataFrame(
        {"week": [recs.week], "family": [recs.family], "params": [json.dumps(recs.params, sort_keys=True)[:1000]]}))
    return written


def publish_to_redis(serving_redis: ServingRedis, source_db: SourceDatabase, recs: WeekRecommendations,
                     make_champion: bool = False) -> dict:
    """The week's lists, popularity list and their programs' catalogue fields as a fresh Redis version."""
    catalogue = source_db.read_table("vodinfo", ["program_id", "program_name", "ct_cl", "program_genre"])
    return serving_redis.lists().publish_week(recs.week, recs.frame, recs.popular, catalogue, make_champion)


def serve_champion_from_redis(serving_redis: ServingRedis, artifacts: ArtifactStore, source_db: SourceDatabase,
                              week: str) -> str:
    """Point Redis's champion at `week`, publishing the week first (from its Parquet lists and its
    popular_programs rows) when Redis does not hold a complete version of it (published before Redis was
    configured, or expired). Returns what was done."""
    from vodrec_assets.serving.redis_store import VersionMissing

    lists = serving_redis.lists()
    try:
        lists.activate(week)
        return f"champion {week} (version {lists.champion()})"
    except VersionMissing as exc:
        reason = str(exc)
    frame = artifacts.read_parquet(f"recommendations/{week}.parquet")
    popular = source_db.read_table("popular_programs")
    popular = popular[popular["week"].astype(str) == week]
    recs = WeekRecommendations(week, frame, popular, int(frame["subsr_id"].nunique()), 0)
    figures = publish_to_redis(serving_redis, source_db, recs, make_champion=True)
    return f"champion {week} (version {figures['version']}, re-published in {figures['seconds']} s: {reason})"


_all_weeks_so_far = dg.TimeWindowPartitionMapping(
    start_offset=-5199, end_offset=0, allow_nonexistent_upstream_partitions=True
)


@dg.asset(
    group_name="serving", kinds={"sql", "json"}, code_version="1",
    deps=["recommendations", dg.AssetDep("weekly_metrics", partition_mapping=_all_weeks_so_far)],
    **weekly_asset_kwargs(),
)
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
        (r["week"], bool(r["quality_gate_passed"]) and artifacts.exists(f"recommendations/{r['week']}.parquet"),
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
    artifacts.write_json("champion/history.json", rows)
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
