"""The week's recommendations as the `recommendations` and `champion_model` assets publish them, and as
`vodrec bench` times them: scoring every subscriber's top 10, writing the Parquet file and the serving
tables, publishing to Redis and switching its champion."""

from __future__ import annotations

import json
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd

from vodrec_assets.artifacts import RECOMMENDATIONS, load_model, load_score_matrix
from vodrec_assets.recsys.baselines import popularity_scorer
from vodrec_assets.recsys.topk import NO_ITEM, recommend_top_k
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
    RECOMMENDATIONS.write(artifacts, recs.frame, recs.week)
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
    frame = RECOMMENDATIONS.read(artifacts, week)
    popular = source_db.read_table("popular_programs")
    popular = popular[popular["week"].astype(str) == week]
    recs = WeekRecommendations(week, frame, popular, int(frame["subsr_id"].nunique()), 0)
    figures = publish_to_redis(serving_redis, source_db, recs, make_champion=True)
    return f"champion {week} (version {figures['version']}, re-published in {figures['seconds']} s: {reason})"
