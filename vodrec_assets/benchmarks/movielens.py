"""`vodrec movielens-benchmark DIR`: LightFM against baselines on MovieLens-100K `ua.base` / `ua.test`.

Protocol: every rating is a positive; each user with a test rating gets a top-10 list of the items
they did not rate in `ua.base`; the relevant set is the user's `ua.test` items. The metrics are
`ranking_metrics` from `vodrec_assets.recsys.metrics`, the same code the weekly assets use. Results
and the tuned configuration are discussed in docs/quality.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from vodrec_assets.recsys.baselines import ease_scorer, item_knn_scorer, popularity_scorer
from vodrec_assets.recsys.metrics import ranking_metrics
from vodrec_assets.recsys.model import LightFMConfig, fit_lightfm, with_identity
from vodrec_assets.recsys.topk import ScoreBlock, embedding_scorer, recommend_top_k
from vodrec_assets.recsys.zoo import DEFAULT_PARAMS, MinMaxBlend, fit_ials, params_for

K = 10
TRAIN_FILE, TEST_FILE, ITEM_FILE, USER_FILE = "ua.base", "ua.test", "u.item", "u.user"
N_GENRES = 19
# u.item release years -> bucket labels (upper bounds exclusive); MovieLens-100K was rated in 1997-98.
YEAR_BUCKETS = ((1960, "<1960"), (1970, "1960s"), (1980, "1970s"), (1990, "1980s"), (1994, "1990-93"),
                (1995, "1994"), (1996, "1995"), (1997, "1996"), (10_000, "1997+"))
# MovieLens-1M's age bands, applied to u.user's exact ages.
AGE_BANDS = ((18, "<18"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (50, "45-49"), (56, "50-55"), (1_000, "56+"))

EASE_L2 = 500.0
KNN_NEIGHBOURS = 100
KNN_SHRINK = 0.0


@dataclass(frozen=True)
class HybridSetup:
    """How `lightfm_best` is fed: LightFM hyperparameters plus which side features, at what weight
    relative to the identity column (`with_identity` then normalizes each row to sum 1)."""

    config: LightFMConfig
    item_features: bool = True
    user_features: bool = True
    item_feature_weight: float = 1.0
    user_feature_weight: float = 1.0
    rating_weights: bool = False  # the rating as LightFM sample weight (else every positive weighs 1)


# Tuned on a validation split of ua.base (10 random ratings of each user held out), then checked on
# ua.test over seeds 0-4; the search and its results are in docs/quality.md. Side features at a quarter
# of the identity's weight; every rating weighs 1 (the rating as sample weight did not help).
BEST_MOVIELENS_CONFIG = HybridSetup(
    config=LightFMConfig(no_components=64, epochs=60, loss="warp", learning_rate=0.05, max_sampled=50,
                         item_alpha=0.0, user_alpha=0.0, num_threads=1, use_features=True, use_weights=False),
    item_features=True,
    user_features=True,
    item_feature_weight=0.25,
    user_feature_weight=0.25,
    rating_weights=False,
)


class MovieLensFormatError(ValueError):
    """A MovieLens file is missing or does not have the expected layout; the message names the file."""


@dataclass
class MovieLensData:
    """ua.base/ua.test as users x items CSR of ratings, plus one-hot side features."""

    train: sp.csr_matrix  # float32 ratings
    test: sp.csr_matrix  # float32 ratings
    user_features: sp.csr_matrix
    item_features: sp.csr_matrix
    user_feature_names: list[str]
    item_feature_names: list[str]

    @property
    def shape(self) -> tuple[int, int]:
        return self.train.shape


def _read_table(path: Path, sep: str, names: list[str], int_columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise MovieLensFormatError(f"{path}: file not found")
    try:
        df = pd.read_csv(path, sep=sep, header=None, dtype=str, encoding="latin-1", keep_default_na=False,
                         engine="python" if len(sep) > 1 else "c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MovieLensFormatError(f"{path}: cannot be parsed ({exc})") from exc
    if df.shape[1] != len(names):
        raise MovieLensFormatError(f"{path}: expected {len(names)} {sep!r}-separated fields per line, found {df.shape[1]}")
    if df.empty:
        raise MovieLensFormatError(f"{path}: no rows")
    df.columns = names
    for col in int_columns:
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            line = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise MovieLensFormatError(f"{path}: line {line}: field {col!r} is not an integer: {df[col].iloc[line - 1]!r}")
        df[col] = values.astype(np.int64)
    return df


def _read_ratings(path: Path) -> pd.DataFrame:
    df = _read_table(path, "\t", ["user", "item", "rating", "timestamp"], ["user", "item", "rating", "timestamp"])
    if (df["rating"] <= 0).any():
        raise MovieLensFormatError(f"{path}: ratings must be positive")
    return df


def _bucket(values: np.ndarray, bands: tuple[tuple[int, str], ...]) -> np.ndarray:
    edges = np.array([upper for upper, _ in bands])
    labels = np.array([label for _, label in bands], dtype=object)
    return labels[np.minimum(np.searchsorted(edges, values, side="right"), len(labels) - 1)]


def _one_hot(rows: np.ndarray, labels: np.ndarray, n_rows: int, names: list[str]) -> sp.csr_matrix:
    """One column per name; (rows[j], column of labels[j]) set to 1."""
    column = {name: c for c, name in enumerate(names)}
    cols = np.array([column[label] for label in labels], dtype=np.int64)
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_rows, len(names)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


GENRE_COLUMNS = [f"g{j}" for j in range(N_GENRES)]


def _read_items(path: Path) -> pd.DataFrame:
    df = _read_table(path, "|", ["item", "title", "release", "video_release", "url", *GENRE_COLUMNS], ["item", *GENRE_COLUMNS])
    if not np.isin(df[GENRE_COLUMNS].to_numpy(), (0, 1)).all():
        raise MovieLensFormatError(f"{path}: genre flags must be 0 or 1")
    return df


def _read_users(path: Path) -> pd.DataFrame:
    return _read_table(path, "|", ["user", "age", "gender", "occupation", "zip"], ["user", "age"])


def _item_features(df: pd.DataFrame, item_index: Callable[[np.ndarray], np.ndarray], n_items: int) -> tuple[sp.csr_matrix, list[str]]:
    genre_cols = GENRE_COLUMNS
    rows = item_index(df["item"].to_numpy())
    known = rows >= 0
    df, rows = df[known], rows[known]
    genres = df[genre_cols].to_numpy()
    g_rows, g_cols = np.nonzero(genres)
    genre_m = sp.csr_matrix((np.ones(len(g_rows), np.float32), (rows[g_rows], g_cols)), shape=(n_items, N_GENRES))
    years = pd.to_datetime(df["release"], format="%d-%b-%Y", errors="coerce").dt.year
    labels = np.where(years.isna(), "unknown", _bucket(years.fillna(0).to_numpy(np.int64), YEAR_BUCKETS)).astype(object)
    year_names = [label for _, label in YEAR_BUCKETS] + ["unknown"]
    year_m = _one_hot(rows, labels, n_items, year_names)
    names = [f"genre={j}" for j in range(N_GENRES)] + [f"year={y}" for y in year_names]
    return sp.hstack([genre_m, year_m], format="csr"), names


def _user_features(df: pd.DataFrame, user_index: Callable[[np.ndarray], np.ndarray], n_users: int) -> tuple[sp.csr_matrix, list[str]]:
    rows = user_index(df["user"].to_numpy())
    known = rows >= 0
    df, rows = df[known], rows[known]
    parts, names = [], []
    age_names = [label for _, label in AGE_BANDS]
    parts.append(_one_hot(rows, _bucket(df["age"].to_numpy(), AGE_BANDS), n_users, age_names))
    names += [f"age={a}" for a in age_names]
    for col in ("gender", "occupation"):
        values = df[col].str.strip().str.lower().to_numpy().astype(object)
        distinct = sorted(set(values))
        parts.append(_one_hot(rows, values, n_users, distinct))
        names += [f"{col}={v}" for v in distinct]
    return sp.hstack(parts, format="csr"), names


def load_movielens(directory: str | Path) -> MovieLensData:
    """Read ua.base, ua.test, u.item and u.user. Users and items are the union of ids in the four files,
    numbered in id order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise MovieLensFormatError(f"{directory}: not a directory")
    train_df = _read_ratings(directory / TRAIN_FILE)
    test_df = _read_ratings(directory / TEST_FILE)
    items_df = _read_items(directory / ITEM_FILE)
    users_df = _read_users(directory / USER_FILE)
    user_ids = np.unique(np.concatenate([train_df["user"], test_df["user"], users_df["user"]]))
    item_ids = np.unique(np.concatenate([train_df["item"], test_df["item"], items_df["item"]]))
    shape = (len(user_ids), len(item_ids))

    def index(ids: np.ndarray, known: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(known, ids)
        pos = np.minimum(pos, len(known) - 1)
        return np.where(known[pos] == ids, pos, -1)

    def ratings(df: pd.DataFrame) -> sp.csr_matrix:
        df = df.drop_duplicates(["user", "item"], keep="last")  # a re-rated pair keeps its last rating
        return sp.csr_matrix((df["rating"].to_numpy(np.float32), (index(df["user"].to_numpy(), user_ids),
                                                                  index(df["item"].to_numpy(), item_ids))), shape=shape)

    item_features, item_names = _item_features(items_df, lambda ids: index(ids, item_ids), shape[1])
    user_features, user_names = _user_features(users_df, lambda ids: index(ids, user_ids), shape[0])
    return MovieLensData(ratings(train_df), ratings(test_df), user_features, item_features, user_names, item_names)


def evaluate(scorer: ScoreBlock, data: MovieLensData, k: int = K) -> dict[str, float]:
    """Top-k for every user with a test rating, training items excluded, scored on the test items."""
    users = np.flatnonzero(np.diff(data.test.indptr) > 0)
    top = recommend_top_k(scorer, data.shape[0], k, exclude=data.train, users=users)
    return ranking_metrics(top.items, data.test[users], k)


def fit_hybrid(data: MovieLensData, setup: HybridSetup, seed: int = 0):
    """`setup` on the training ratings, with random_state `seed`; returns the EmbeddingModel."""
    n_users, n_items = data.shape
    config = replace(setup.config, random_state=seed)
    interactions = data.train.copy()
    interactions.data[:] = 1.0
    uf = itf = None
    if config.use_features:
        uf = with_identity(data.user_features if setup.user_features else None, n_users, setup.user_feature_weight)
        itf = with_identity(data.item_features if setup.item_features else None, n_items, setup.item_feature_weight)
    weights = data.train if setup.rating_weights else None
    return fit_lightfm(interactions, replace(config, use_weights=setup.rating_weights), weights=weights,
                       user_features=uf, item_features=itf)


MODELS = ("popularity", "item_knn", "ease", "ials", "lightfm_default", "lightfm_best", "lightfm_ease_blend")
SEEDED = ("lightfm_default", "lightfm_best", "lightfm_ease_blend")  # the others are deterministic
METRIC_KEYS = ("precision_at_10", "recall_at_10", "map_at_10", "ndcg_at_10")


def _fit_and_score(name: str, data: MovieLensData, seed: int) -> tuple[dict[str, float], float]:
    binary = data.train.copy()
    binary.data[:] = 1.0
    started = time.perf_counter()
    if name == "popularity":
        scorer = popularity_scorer(binary)
    elif name == "item_knn":
        scorer = item_knn_scorer(binary, neighbours=KNN_NEIGHBOURS, shrink=KNN_SHRINK)
    elif name == "ease":
        scorer = ease_scorer(binary, l2=EASE_L2)
    elif name == "lightfm_default":
        # The weekly pipeline's defaults: LightFMConfig() with the rating as sample weight.
        scorer = fit_lightfm(binary, replace(LightFMConfig(), random_state=seed), weights=data.train).scorer()
    elif name == "lightfm_best":
        scorer = fit_hybrid(data, BEST_MOVIELENS_CONFIG, seed).scorer()
    elif name == "ials":
        # The zoo's iALS with its default (untuned here) hyperparameters; confidence from the rating / 5.
        params = params_for("ials")
        arrays = fit_ials(binary, data.train / np.float32(5.0), params)
        scorer = embedding_scorer(arrays["user_factors"], arrays["item_factors"])
    elif name == "lightfm_ease_blend":
        # The zoo's blend of the two best models here, at its default weight 0.5.
        weight = DEFAULT_PARAMS["lightfm_ease_blend"]["weight"]
        scorer = MinMaxBlend(fit_hybrid(data, BEST_MOVIELENS_CONFIG, seed).scorer(), ease_scorer(binary, l2=EASE_L2),
                             weight)
    else:
        raise ValueError(f"unknown model {name!r}")
    fit_s = time.perf_counter() - started
    return evaluate(scorer, data), fit_s


def run_benchmark(directory: str | Path, seeds: int = 1, models: tuple[str, ...] = MODELS) -> dict:
    """Every model on ua.base/ua.test. LightFM models run with random_state 0..seeds-1: their metrics
    are the mean over seeds, with `<metric>_std` the standard deviation. `fit_s` is the mean wall-clock
    time to build the model (the baselines' similarity matrices included, ranking excluded)."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    data = load_movielens(directory)
    out: dict = {"models": {}, "directory": str(directory), "seeds": seeds, "k": K, "users": int((np.diff(data.test.indptr) > 0).sum()),
                 "items": data.shape[1], "train_ratings": int(data.train.nnz), "test_ratings": int(data.test.nnz)}
    for name in models:
        runs = [_fit_and_score(name, data, seed) for seed in (range(seeds) if name in SEEDED else [0])]
        row: dict[str, float] = {}
        for key in METRIC_KEYS:
            values = np.array([metrics[key] for metrics, _ in runs])
            row[key] = float(values.mean())
            if name in SEEDED:
                row[f"{key}_std"] = float(values.std())
        row["fit_s"] = float(np.mean([fit_s for _, fit_s in runs]))
        row["runs"] = len(runs)
        out["models"][name] = row
    out["lightfm_best_config"] = {
        **BEST_MOVIELENS_CONFIG.config.to_dict(),
        "item_features": BEST_MOVIELENS_CONFIG.item_features,
        "user_features": BEST_MOVIELENS_CONFIG.user_features,
        "item_feature_weight": BEST_MOVIELENS_CONFIG.item_feature_weight,
        "user_feature_weight": BEST_MOVIELENS_CONFIG.user_feature_weight,
        "rating_weights": BEST_MOVIELENS_CONFIG.rating_weights,
    }
    return out


def format_table(result: dict) -> str:
    header = f"{'model':<16} {'P@10':>13} {'R@10':>13} {'MAP@10':>13} {'NDCG@10':>13} {'fit s':>7}"
    lines = [f"{result['directory']}: ua.base/ua.test, k={result['k']}, {result['users']} users, "
             f"{result['items']} items, LightFM seeds: {result['seeds']}", header, "-" * len(header)]
    for name, row in result["models"].items():
        cells = []
        for key in METRIC_KEYS:
            std = row.get(f"{key}_std")
            cells.append(f"{row[key]:.4f}" + (f" ±{std:.4f}" if std is not None and result["seeds"] > 1 else ""))
        lines.append(f"{name:<16} " + " ".join(f"{c:>13}" for c in cells) + f" {row['fit_s']:>7.1f}")
    return "\n".join(lines)


def cli_benchmark(args: argparse.Namespace) -> int:
    try:
        result = run_benchmark(args.directory, seeds=args.seeds)
    except (MovieLensFormatError, ValueError) as exc:
        print(f"vodrec movielens-benchmark: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else format_table(result))
    return 0
