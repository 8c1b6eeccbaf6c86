"""`vodrec backtest`: the zoo's backtest on the weeks a `vodrec demo` stored, from the command line.

The same code as the on-demand Dagster job `backtest` (defs/training/backtest.py): every family tuned on the
earlier target weeks, scored on the newest `--held-out` ones with `next_week_targets` +
`evaluate_scorer`, the weekly LightFM scored as served. `--record` also writes backtest/choice.json,
which the weekly `trained_model` then trains (the job records by default; this command does not).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

from vodrec_assets import settings
from vodrec_assets.recsys.zoo import FAMILIES
from vodrec_assets.resources import LocalArtifactStore

COLUMNS = ("precision_at_10", "map_at_10", "ndcg_at_10", "catalog_coverage", "novelty", "fit_seconds", "peak_mb")


def format_result(record: dict, metric: str) -> str:
    lines = [f"tuning weeks {', '.join(record['tuning_weeks'])}",
             f"held-out weeks {', '.join(record['held_out_weeks'])}", ""]
    lines.append(f"{'family':<20}" + "".join(f"{c:>17}" for c in (*COLUMNS, "diff", "diff SE", "diff/SE")))
    for row in record["summary"]:
        values = [row.get(c) for c in (*COLUMNS, f"{metric}_diff", f"{metric}_diff_se", "diff_in_se")]
        lines.append(f"{row['family']:<20}" + "".join(
            f"{v:>17.4f}" if isinstance(v, float) and v == v else f"{'-':>17}" for v in values))
    lines += ["", "per held-out week, " + metric]
    weeks = record["held_out_weeks"]
    by = {(r["family"], r["week"]): r[metric] for r in record["per_week"]}
    families = list(dict.fromkeys(r["family"] for r in record["per_week"]))
    lines.append(f"{'week':<12}" + "".join(f"{f:>20}" for f in families))
    for w in weeks:
        lines.append(f"{w:<12}" + "".join(f"{by[(f, w)]:>20.4f}" if (f, w) in by else f"{'-':>20}" for f in families))
    lines += [f"refused: {family}: {why}" for family, why in record.get("refused", {}).items()]
    lines += ["", "tuned hyperparameters: " + json.dumps(record["chosen_params"]),
              f"choice: {record['choice']['family']} ({record['choice']['reason']})"]
    return "\n".join(lines)


def cli_backtest(args: argparse.Namespace) -> int:
    import dagster as dg

    from vodrec_assets.defs.training.backtest import BacktestConfig, run_backtest_on
    from vodrec_assets.artifacts import BACKTEST_CHOICE

    root = args.artifacts or str(settings.artifacts_dir())
    artifacts = LocalArtifactStore(root=root)
    config = BacktestConfig(held_out_weeks=args.held_out, families=args.families, metric=args.metric,
                            min_standard_errors=args.min_se, lightfm_as_served=not args.refit_lightfm,
                            max_fit_seconds=args.max_fit_seconds)
    started = time.perf_counter()
    try:
        result = run_backtest_on(artifacts, config)
    except dg.Failure as exc:
        raise SystemExit(f"{exc.description} under {root}: run `vodrec demo` first") from exc
    record = result.to_record() | {"seconds": time.perf_counter() - started}
    if args.record:
        decided_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        BACKTEST_CHOICE.write(artifacts, {**result.choice, "decided_at": f"{decided_at} (vodrec backtest)",
                                          "held_out_weeks": result.held_out_weeks,
                                          "tuning_weeks": result.tuning_weeks})
    print(json.dumps(record, indent=2, default=str) if args.json else
          format_result(record, args.metric) + f"\n\n{record['seconds']:.1f} s")
    return 0


def add_parser(sub: argparse._SubParsersAction, call) -> None:
    p = sub.add_parser("backtest", help="the model zoo tuned on earlier weeks, scored on held-out weeks")
    p.add_argument("--artifacts", help="artifact folder (default: VODREC_HOME/artifacts, what `vodrec demo` wrote)")
    p.add_argument("--held-out", type=int, default=6, help="newest target weeks scored (earlier ones tune)")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--metric", default="precision_at_10")
    p.add_argument("--min-se", type=float, default=1.0, help="paired SEs a challenger must win LightFM by")
    p.add_argument("--max-fit-seconds", type=float, default=0.0, help="a challenger fitting slower is not chosen")
    p.add_argument("--refit-lightfm", action="store_true", help="refit LightFM cold instead of the served models")
    p.add_argument("--record", action="store_true", help="write backtest/choice.json for the weekly trained_model")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=call("vodrec_assets.benchmarks.zoo_backtest:cli_backtest"))
