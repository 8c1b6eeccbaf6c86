"""`vodrec weekly-quality`: the weekly pipeline's model against baselines on the next-week protocol.

Reads what the weekly assets stored (each week's score matrix, trained model and pair statistics) and,
for every week W whose previous week W-1 has a model, ranks programs for W's active subscribers with
W-1's stored weekly model (LightFM, or `weekly_<family>` when another family was trained), popularity, item-kNN and EASE, all fitted on W-1's window only and all scored by
the same code as `weekly_metrics` (`next_week_targets` + `evaluate_scorer`). Run it after `vodrec demo`.
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd

from vodrec_assets import settings
from vodrec_assets.artifacts import TRAINED_MODEL, WEEKLY_PAIR_STATS, load_model, load_score_matrix
from vodrec_assets.recsys.baselines import EASE_MAX_ITEMS, ease_scorer, item_knn_scorer, popularity_scorer
from vodrec_assets.recsys.evaluation import evaluate_scorer, next_week_targets
from vodrec_assets.resources import ArtifactStore, LocalArtifactStore

MODELS = ("lightfm", "popularity", "item_knn", "ease")
METRICS = ("precision_at_10", "recall_at_10", "map_at_10", "ndcg_at_10", "catalog_coverage")


def stored_weeks(artifacts: ArtifactStore) -> list[str]:
    """Weeks that have a trained model, oldest first."""
    return TRAINED_MODEL.stored_weeks(artifacts)


def next_week_comparison(artifacts: ArtifactStore, prev: str, week: str) -> dict[str, dict[str, float]]:
    """Every model's next-week metrics for `week`, fitted on `prev`'s window."""
    matrix = load_score_matrix(artifacts, prev)
    model, _, _ = load_model(artifacts, prev)
    users, relevant = next_week_targets(matrix, WEEKLY_PAIR_STATS.read(artifacts, week))
    if len(users) == 0:
        return {}
    train = matrix.interactions
    # The stored weekly model is LightFM unless a backtest choice or the run config trained another family.
    weekly = "lightfm" if model.family == "lightfm" else f"weekly_{model.family}"
    scorers = {
        weekly: lambda: model.scorer(),
        "popularity": lambda: popularity_scorer(train),
        "item_knn": lambda: item_knn_scorer(train),
    }
    if train.shape[1] <= EASE_MAX_ITEMS:
        scorers["ease"] = lambda: ease_scorer(train)
    out = {}
    for name, build in scorers.items():
        t0 = time.perf_counter()
        metrics = evaluate_scorer(build(), users, relevant, train, matrix.item_allowed)
        out[name] = {k: float(metrics[k]) for k in METRICS} | {"users": float(len(users)),
                                                               "seconds": time.perf_counter() - t0}
    return out


def run(artifacts: ArtifactStore) -> dict:
    weeks = stored_weeks(artifacts)
    per_week = {}
    for prev, week in zip(weeks, weeks[1:]):
        if WEEKLY_PAIR_STATS.exists(artifacts, week):
            result = next_week_comparison(artifacts, prev, week)
            if result:
                per_week[week] = result
    rows = [{"week": w, "model": m, **v} for w, models in per_week.items() for m, v in models.items()]
    means = (pd.DataFrame(rows).groupby("model")[list(METRICS)].mean() if rows else pd.DataFrame())
    return {"weeks": per_week,
            "mean": {m: {k: float(v) for k, v in means.loc[m].items()} for m in means.index}}


def format_table(result: dict) -> str:
    found = {m for models in result["weeks"].values() for m in models}
    names = [m for m in MODELS if m in found] + sorted(found - set(MODELS))
    lines = [f"{'week':<12}" + "".join(f"{m + ' P@10':>17}" for m in names)]
    for week, models in result["weeks"].items():
        lines.append(f"{week:<12}" + "".join(
            f"{models[m]['precision_at_10']:>17.4f}" if m in models else f"{'-':>17}" for m in names))
    lines.append("")
    lines.append(f"{'mean over ' + str(len(result['weeks'])) + ' weeks':<24}" + "".join(f"{k:>12}" for k in
                                                                       ("P@10", "R@10", "MAP@10", "NDCG@10", "coverage")))
    for m in names:
        if m in result["mean"]:
            lines.append(f"{m:<24}" + "".join(f"{result['mean'][m][k]:>12.4f}" for k in METRICS))
    return "\n".join(lines)


def cli_weekly_quality(args: argparse.Namespace) -> int:
    root = args.artifacts or str(settings.artifacts_dir())
    result = run(LocalArtifactStore(root=root))
    if not result["weeks"]:
        raise SystemExit(f"no two consecutive weeks with models under {root}: run `vodrec demo` first")
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0
