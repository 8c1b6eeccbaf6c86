"""The original DAG's steps 3-5 (clean, train, evaluate), reimplemented straightforwardly for
`vodrec bench --compare-original`: a dense pandas pivot of subscribers x programs and per-subscriber
Python loops, as in ../shared/reference/ORIGINAL_SYSTEM.md. Kept only to measure what vodrec replaced;
nothing else uses it.

Two departures, both in the original's favour, so the ratio is not inflated:
- its input is the window's rows already validated by vodrec (typed, dirty rows removed, untimed): the
  original had no validation and would fail on the synthetic dirty rows;
- subscriber and program ids become 0-based codes before LightFM: the original indexed LightFM by raw id
  (`max id + 1` rows), which with the generator's ids (60,000,001 ...) would allocate 60 M embeddings.
  Its final loop covers the subscribers with a pair in the window (every subscriber of `userinfo` in the
  original, which raised for subscribers without logs).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix

# vodrec stages doing what steps 3-5 did (the original had no separate matrix or recommend step).
COMPARED_STAGES = ("clean", "matrix", "train", "evaluate", "recommend")
N = 10


def load_window(folder: str, week: str, window: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The window's usable watch and click rows, validated by vodrec's own code (untimed)."""
    from vodrec_assets.recsys.cleaning import CLICK_COLUMNS, CLICK_NUMERIC, WATCH_COLUMNS, WATCH_NUMERIC, validate_logs
    from vodrec_assets.resources import SourceDatabase

    db = SourceDatabase(url=f"sqlite:///{Path(folder) / 'source.db'}")
    start = datetime.strptime(window[0], "%Y-%m-%d")
    end = datetime.strptime(week, "%Y-%m-%d") + timedelta(days=7)
    users = pd.to_numeric(db.read_table("userinfo", ["subsr_id"])["subsr_id"], errors="coerce").dropna().to_numpy()
    programs = pd.to_numeric(db.read_table("vodinfo", ["program_id"])["program_id"], errors="coerce").dropna().to_numpy()
    common = dict(week_start=pd.Timestamp(start), week_end=pd.Timestamp(end), known_subscribers=users,
                  known_programs=programs)
    vods = validate_logs(db.read_window("vods_sumut", start, end, WATCH_COLUMNS), numeric_columns=WATCH_NUMERIC,
                         check_runtime=True, **common).rows
    conts = validate_logs(db.read_window("contlog", start, end, CLICK_COLUMNS), numeric_columns=CLICK_NUMERIC,
                          check_runtime=False, **common).rows
    return vods, conts


def clean(vods: pd.DataFrame, conts: pd.DataFrame) -> pd.DataFrame:
    """Step 3, as the original wrote it: groupby/merge on ids, 95th-percentile caps, rating = best ratio."""
    vod_log = vods[vods["e_bool"] == 0][["subsr_id", "program_id", "log_dt", "use_tms", "disp_rtm_sec"]].copy()
    cont_log = conts[conts["e_bool"] == 0][["subsr_id", "program_id", "log_dt"]].copy()
    vod_log["use_tms_ratio"] = vod_log["use_tms"] / vod_log["disp_rtm_sec"]
    vod_log["log_dt"] = pd.to_datetime(vod_log["log_dt"])
    cont_log["log_dt"] = pd.to_datetime(cont_log["log_dt"])
    cont_log["recency"] = (cont_log["log_dt"].max() - cont_log["log_dt"]).dt.days
    log = pd.concat([vod_log[["subsr_id", "program_id"]], cont_log[["subsr_id", "program_id"]]]).drop_duplicates().reset_index(drop=True)
    keys = ["subsr_id", "program_id"]
    log = log.merge(cont_log.groupby(keys)[["log_dt"]].count().reset_index().rename(columns={"log_dt": "click_cnt"}), how="left")
    log = log.merge(cont_log.groupby(keys)[["recency"]].min().reset_index().rename(columns={"recency": "click_recency"}), how="left")
    log = log.merge(vod_log.groupby(keys)[["use_tms_ratio"]].max().reset_index().rename(columns={"use_tms_ratio": "watch_tms_max"}), how="left")
    log = log.merge(vod_log.groupby(keys)[["use_tms_ratio"]].count().reset_index().rename(columns={"use_tms_ratio": "watch_cnt"}), how="left")
    cap = log["click_cnt"].quantile(0.95)
    log.loc[log[log["click_cnt"] > cap].index, "click_cnt"] = cap
    log["click_recency"] = log["click_recency"].max() - log["click_recency"]
    cap = log["watch_cnt"].quantile(0.95)
    log.loc[log[log["watch_cnt"] > cap].index, "watch_cnt"] = cap
    log["rating"] = log["watch_tms_max"]
    log.loc[log[log["rating"] > 0].index, "watched"] = 1
    return log[["subsr_id", "program_id", "rating", "watched"]]


def _cosine_diversity(result: pd.DataFrame) -> float:
    from sklearn.metrics.pairwise import cosine_similarity

    sim = cosine_similarity(result.iloc[:, 1:].fillna(0))
    n = len(result)
    return 1 - float(np.sum(sim - np.eye(n)) / (n * (n - 1))) if n > 1 else 0.0


class OriginalModel:
    """The original's LightFM_Model: dense score matrices, one loop iteration per subscriber."""

    def __init__(self, data: pd.DataFrame, components: int = 30, epochs: int = 10):
        self.components, self.epochs = components, epochs
        self.data = data
        self.fit_seconds = 0.0  # inside LightFM's fit, for the comparison without it

    def split_evaluate(self, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        from sklearn.model_selection import train_test_split

        _, test = train_test_split(data[data["watched"].notnull()][["subsr_id", "program_id", "rating"]],
                                   test_size=0.25, random_state=0)
        train = data[["subsr_id", "program_id", "rating", "watched"]].copy()
        train.loc[test.index, "rating"] = np.nan
        return train, test

    @staticmethod
    def create_score_matrix(data: pd.DataFrame) -> pd.DataFrame:
        df = data.copy()
        df.loc[df[(df["watched"] == 1) & df["rating"].notnull()].index, "score_matrix"] = 1
        return df.pivot(columns="program_id", index="subsr_id", values="score_matrix")

    def interactions(self, data: pd.DataFrame) -> tuple[coo_matrix, coo_matrix]:
        rated = data.dropna(subset=["rating"])
        shape = (int(data["subsr_id"].max()) + 1, int(data["program_id"].max()) + 1)
        rows, cols = np.array(rated["subsr_id"], np.int32), np.array(rated["program_id"], np.int32)
        return (coo_matrix((np.ones(len(rated), np.float32), (rows, cols)), shape=shape),
                coo_matrix((np.array(rated["rating"], np.float32), (rows, cols)), shape=shape))

    def fit(self, data: pd.DataFrame):
        from lightfm import LightFM

        inter, weights = self.interactions(data)
        model = LightFM(random_state=0, loss="warp", no_components=self.components)
        t0 = time.perf_counter()
        model.fit(interactions=inter, sample_weight=weights, epochs=self.epochs)
        self.fit_seconds += time.perf_counter() - t0
        return model

    @staticmethod
    def recommend(subsr_id: int, score_matrix: pd.DataFrame, model, n: int) -> pd.DataFrame:
        user_rated = score_matrix.loc[subsr_id].dropna().index.tolist()
        user_unrated = score_matrix.columns.drop(user_rated).tolist()
        predictions = model.predict(int(subsr_id), np.asarray(user_unrated, dtype=np.int32))
        result = pd.DataFrame({"program_id": user_unrated, "pred_rating": predictions})
        return result.sort_values(by="pred_rating", ascending=False)[:n]

    def evaluate(self, train: pd.DataFrame, test: pd.DataFrame, score_matrix: pd.DataFrame) -> dict[str, float]:
        model = self.fit(train)
        result = pd.DataFrame()
        precisions, recalls, maps, mars = [], [], [], []
        for idx, user in enumerate(test["subsr_id"].unique()):
            targets = test[test["subsr_id"] == user]["program_id"].values
            predictions = self.recommend(user, score_matrix, model, N)["program_id"].values
            hits = len(set(predictions) & set(targets))
            precisions.append(hits / len(predictions) if len(predictions) else 0.0)
            recalls.append(hits / len(targets) if len(targets) else 0.0)
            num_hits, p_at_k, r_at_k = 0, 0.0, 0.0
            for i, p in enumerate(predictions[:N]):
                if p in targets:
                    num_hits += 1
                    p_at_k += num_hits / (i + 1)
                    r_at_k += num_hits / len(targets)
            maps.append(p_at_k / min(N, len(targets)))
            mars.append(r_at_k / min(N, len(targets)))
            result.loc[idx, "subsr_id"] = user  # the original grew its result frame cell by cell
            for rank in range(len(predictions)):
                result.loc[idx, f"vod_{rank}"] = predictions[rank]
        return {"precision": float(np.mean(precisions)), "recall": float(np.mean(recalls)),
                "map": float(np.mean(maps)), "mar": float(np.mean(mars)), "test_diversity": _cosine_diversity(result),
                "test_users": len(precisions)}

    def evaluate_all(self, model, users: np.ndarray, score_matrix: pd.DataFrame) -> float:
        result = pd.DataFrame()
        for idx, user in enumerate(users):
            predictions = self.recommend(user, score_matrix, model, N)["program_id"].values
            result.loc[idx, "subsr_id"] = user
            for rank in range(len(predictions)):
                result.loc[idx, f"vod_{rank}"] = predictions[rank]
        return _cosine_diversity(result)


def run_original(folder: str, week: str, window: list[str]) -> dict[str, Any]:
    """Steps 3-5 on the window ending at `week`; seconds per step and the metrics they give."""
    vods, conts = load_window(folder, week, window)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    rating_df = clean(vods, conts)
    seconds["clean"] = time.perf_counter() - t0
    # 0-based codes (see the module docstring), outside the timings.
    coded = rating_df.copy()
    coded["subsr_id"] = pd.factorize(coded["subsr_id"], sort=True)[0]
    coded["program_id"] = pd.factorize(coded["program_id"], sort=True)[0]
    model = OriginalModel(coded)
    t0 = time.perf_counter()
    train, test = model.split_evaluate(coded)
    metrics = model.evaluate(train, test, model.create_score_matrix(train))
    seconds["evaluate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    final = model.fit(coded)
    seconds["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    users = np.sort(coded["subsr_id"].unique())
    metrics["all_diversity"] = model.evaluate_all(final, users, model.create_score_matrix(coded))
    seconds["evaluate_all"] = time.perf_counter() - t0
    from vodrec_assets.benchmarks.scale import peak_rss_mb

    return {
        "stages": {k: round(v, 3) for k, v in seconds.items()},
        "total_s": round(sum(seconds.values()), 3),
        "lightfm_fit_s": round(model.fit_seconds, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "pairs": int(len(rating_df)),
        "subscribers": int(len(users)),
        "metrics": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in metrics.items()},
    }
