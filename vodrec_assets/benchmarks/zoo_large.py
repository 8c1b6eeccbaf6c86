"""The zoo at the large scale: iALS against the weekly LightFM warm fit, each with its ranking, back to back.

Run after `vodrec bench --scale large` prepared and ran its timed week (the week's score matrix and pair
statistics, and the previous week's LightFM state, are then in the bench folder):

    VODREC_HOME=... python -m vodrec_assets.benchmarks.zoo_large [--week 2023-10-23] [--ials-threads 2]

Times, in one process on the same matrix: LightFM as `trained_model` fits it by default (warm start from
the previous week, 5 epochs over the week's pairs, one thread) and iALS (64 factors, 15 iterations,
regularization 100, alpha 10); each followed by every subscriber's top 10 through `recommend_top_k`, as
the `recommendations` asset ranks them. EASE is not timed: it refuses 30,000 programs.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from vodrec_assets import settings


def run(folder: str, week: str, ials_threads: int) -> dict:
    from vodrec_assets.artifacts import WEEKLY_PAIR_STATS, load_score_matrix
    from vodrec_assets.defs.training.assets import TrainingConfig, warm_start_state
    from vodrec_assets.recsys.evaluation import fit_on
    from vodrec_assets.recsys.topk import recommend_top_k
    from vodrec_assets.recsys.warm_start import pairs_watched_in
    from vodrec_assets.recsys.zoo import fit_family
    from vodrec_assets.resources import LocalArtifactStore

    artifacts = LocalArtifactStore(root=f"{folder}/artifacts")
    matrix = load_score_matrix(artifacts, week)
    out: dict = {"week": week, "subscribers": matrix.shape[0], "programs": matrix.shape[1],
                 "pairs": int(matrix.interactions.nnz)}

    def rank(scorer) -> float:
        t0 = time.perf_counter()
        recommend_top_k(scorer, matrix.shape[0], 10, exclude=matrix.interactions, allowed_items=matrix.item_allowed)
        return time.perf_counter() - t0

    config = TrainingConfig()
    lightfm_config = config.to_lightfm()
    t0 = time.perf_counter()
    state, warm = warm_start_state(artifacts, week, lightfm_config, matrix)
    if state is None:
        raise SystemExit(f"no warm start possible for {week} ({warm['warm_start']}): run `vodrec bench --scale large` first")
    inter, weights = pairs_watched_in(matrix, WEEKLY_PAIR_STATS.read(
        artifacts, week, ["subsr_id", "program_id", "watch_max_ratio"]))
    model = fit_on(matrix, inter, weights, replace(lightfm_config, epochs=config.warm_start_epochs), initial_state=state)
    out["lightfm_warm"] = {"fit_seconds": time.perf_counter() - t0, "fit_pairs": int(inter.nnz),
                           "rank_seconds": rank(model.scorer())}
    del model, state
    t0 = time.perf_counter()
    ials = fit_family("ials", matrix, {"num_threads": ials_threads})
    out["ials"] = {"fit_seconds": time.perf_counter() - t0, "threads": ials_threads, "params": ials.params,
                   "rank_seconds": rank(ials.scorer())}
    for name in ("lightfm_warm", "ials"):
        out[name]["total_seconds"] = out[name]["fit_seconds"] + out[name]["rank_seconds"]
    out["ials_over_lightfm"] = out["ials"]["total_seconds"] / out["lightfm_warm"]["total_seconds"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default=None, help="bench folder (default VODREC_HOME/bench/large-12w-seed0)")
    parser.add_argument("--week", default="2023-10-23")
    parser.add_argument("--ials-threads", type=int, default=2)
    args = parser.parse_args()
    folder = args.folder or str(settings.vodrec_home() / "bench" / "large-12w-seed0")
    print(json.dumps(run(folder, args.week, args.ials_threads), indent=2))


if __name__ == "__main__":
    main()
