"""Does warm-starting the weekly LightFM fit keep its quality? Next-week P@10 / MAP@10, week by week.

`python -m vodrec_assets.benchmarks.warm_start_study --scale small [--variants ...]` reads the weekly
pair statistics, catalogues and subscribers that `vodrec bench --scale <scale>` prepared
(`VODREC_HOME/bench/<scale>-12w-seed0/artifacts`, every week ingested), rebuilds each week's score
matrix with the assets' own functions, and trains a chain of weekly models per variant:

- `cold`: every week from scratch, `epochs` (the weekly asset without a warm start);
- `warm-window-K`: from last week's state, K epochs over the whole window's watched pairs;
- `warm-week-K`: from last week's state, K epochs over the pairs watched in the new week only.

The first week of every chain is a cold fit. Each week's model is scored by the next-week protocol
(evaluation.next_week_protocol, as `weekly_metrics` does) on the following week. LightFM runs with one
thread so that every figure is reproducible.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np
import pandas as pd

from vodrec_assets.recsys.cleaning import merge_window
from vodrec_assets.recsys.evaluation import fit_on, next_week_protocol
from vodrec_assets.recsys.matrix import ScoreMatrix, build_score_matrix
from vodrec_assets.recsys.model import EmbeddingModel, LightFMConfig
from vodrec_assets.recsys.warm_start import carry_over, column_keys, pairs_watched_in


def fit_week(matrix: ScoreMatrix, config: LightFMConfig, previous: tuple[EmbeddingModel, ScoreMatrix] | None,
             week_pairs: pd.DataFrame | None = None) -> EmbeddingModel:
    """One weekly fit, from `previous` (model, its matrix) when given; on the pairs watched in
    `week_pairs` (one week's statistics) when given, else on all of the window's."""
    state = None
    if previous is not None:
        prev_model, prev_matrix = previous
        state, _ = carry_over(prev_model.state, *column_keys(prev_matrix, config.use_features),
                              *column_keys(matrix, config.use_features), config.no_components,
                              np.random.RandomState(config.random_state))
    inter, weights = (matrix.interactions, matrix.weights) if week_pairs is None else pairs_watched_in(matrix, week_pairs)
    return fit_on(matrix, inter, weights, config, initial_state=state)


def run_study(scale: str, variants: list[str], config: LightFMConfig, say=print) -> pd.DataFrame:
    from vodrec_assets.benchmarks.scale import bench_dir, ensure_data, partition_weeks
    from vodrec_assets.resources import LocalArtifactStore

    summary = ensure_data(scale, 12, 0, say)
    last, window = partition_weeks(summary)
    art = LocalArtifactStore(root=str(bench_dir(scale, 12, 0) / "artifacts"))
    stats = {w: art.read_parquet(f"weekly_pair_stats/{w}.parquet") for w in window}
    matrices = {}
    for j, w in enumerate(window):
        matrices[w] = build_score_matrix(merge_window([stats[x] for x in window[: j + 1]]),
                                         art.read_parquet(f"vod_catalog/{w}.parquet"),
                                         art.read_parquet(f"subscribers/{w}.parquet"))
    rows = []
    for variant in variants:
        kind, _, k = variant.partition("-")
        previous = None
        for j, w in enumerate(window[:-1]):
            m = matrices[w]
            t0 = time.perf_counter()
            if kind == "cold" or previous is None:
                model = fit_week(m, config, None)
            else:
                scope, epochs = k.rsplit("-", 1)
                model = fit_week(m, replace(config, epochs=int(epochs)), previous, stats[w] if scope == "week" else None)
            seconds = time.perf_counter() - t0
            previous = (model, m)
            if j == 0:
                continue  # the first week is a cold fit in every chain
            metrics = next_week_protocol(model, m, stats[window[j + 1]])
            rows.append({"variant": variant, "week": w, "fit_seconds": round(model.fit_seconds, 3),
                         "week_seconds": round(seconds, 3), "pairs": int(m.interactions.nnz),
                         "precision_at_10": metrics.get("precision_at_10"), "map_at_10": metrics.get("map_at_10"),
                         "popularity_precision_at_10": metrics.get("popularity_precision_at_10")})
            say(json.dumps(rows[-1]))
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vodrec_assets.benchmarks.warm_start_study")
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "medium", "large"])
    parser.add_argument("--variants", nargs="+",
                        default=["cold", "warm-window-1", "warm-window-2", "warm-week-2", "warm-week-5"])
    parser.add_argument("--config", default="{}", help="LightFMConfig fields as JSON (default: the weekly asset's)")
    args = parser.parse_args(argv)
    config = replace(LightFMConfig(use_features=True), **json.loads(args.config))
    table = run_study(args.scale, args.variants, config)
    summary = table.groupby("variant", sort=False).agg(
        weeks=("week", "size"), precision_at_10=("precision_at_10", "mean"), map_at_10=("map_at_10", "mean"),
        popularity_precision_at_10=("popularity_precision_at_10", "mean"), fit_seconds=("fit_seconds", "sum"))
    print(summary.round(4).to_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
