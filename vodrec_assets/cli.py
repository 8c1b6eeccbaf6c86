"""The `vodrec` command. Each subcommand lives in the module that owns it; this file only parses."""

from __future__ import annotations

import argparse
import importlib
import sys

SCALES = ("tiny", "small", "medium", "large")


def _call(target: str):
    module_name, func_name = target.split(":")

    def run(args: argparse.Namespace) -> int:
        return importlib.import_module(module_name).__getattribute__(func_name)(args) or 0

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vodrec", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write synthetic set-top-box logs into the source database")
    p.add_argument("--source", help="SQLAlchemy URL (default: VODREC_SOURCE_URL, else SQLite under VODREC_HOME)")
    p.add_argument("--scale", choices=SCALES, default="tiny")
    p.add_argument("--weeks", type=int, default=None, help="weeks of logs (default depends on the scale)")
    p.add_argument("--start", default=None, help="first Monday, YYYY-MM-DD (default 2023-08-07)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dirty-rate", type=float, default=None, help="share of dirty rows (default 0.01)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_call("vodrec_assets.sources.synthetic:cli_generate"))

    p = sub.add_parser("import-movielens", help="load MovieLens-100K into the four source tables")
    p.add_argument("directory")
    p.add_argument("--source", help="SQLAlchemy URL (default: VODREC_SOURCE_URL, else SQLite under VODREC_HOME)")
    p.set_defaults(func=_call("vodrec_assets.sources.movielens:cli_import"))

    p = sub.add_parser("demo", help="the main job on the embedded default: every week, end to end")
    p.add_argument("--source", help="SQLAlchemy URL of a source database that already holds data")
    p.add_argument("--scale", choices=SCALES, default="tiny", help="scale to generate when the source is empty")
    p.add_argument("--weeks", type=int, default=None, help="weeks to generate when the source is empty")
    p.add_argument("--limit-weeks", type=int, default=None, help="materialize only the first N weeks")
    p.add_argument("--no-backtest", dest="backtest", action="store_false",
                   help="skip the model zoo's backtest (and serving its choice) after the weeks")
    p.add_argument("--training-config", default=None, metavar="JSON",
                   help='trained_model hyperparameters, e.g. \'{"no_components": 64, "epochs": 60}\'')
    p.set_defaults(func=_call("vodrec_assets.demo:cli_demo"))

    p = sub.add_parser("movielens-benchmark", help="MovieLens-100K ua.base/ua.test: LightFM against baselines")
    p.add_argument("directory")
    p.add_argument("--json", action="store_true")
    p.add_argument("--seeds", type=int, default=1, help="seeds to average LightFM over")
    p.set_defaults(func=_call("vodrec_assets.benchmarks.movielens:cli_benchmark"))

    p = sub.add_parser("weekly-quality", help="next-week metrics of the stored weekly models against baselines")
    p.add_argument("--artifacts", help="artifact folder (default: VODREC_HOME/artifacts, what `vodrec demo` wrote)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_call("vodrec_assets.benchmarks.weekly_quality:cli_weekly_quality"))
    from vodrec_assets.benchmarks.zoo_backtest import add_parser as add_backtest_parser
    add_backtest_parser(sub, _call)

    p = sub.add_parser("bench", help="time one weekly partition stage by stage")
    p.add_argument("--scale", choices=SCALES, default="tiny")
    p.add_argument("--weeks", type=int, default=12)
    p.add_argument("--compare-original", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--source", default=None,
                   help="a MySQL/MariaDB SQLAlchemy URL to read instead of the bench's SQLite file "
                        "(its own bench folder; generated into when empty)")
    p.set_defaults(func=_call("vodrec_assets.benchmarks.scale:cli_bench"))

    p = sub.add_parser("bench-backfill", help="time a backfill through dg dev's daemon on fresh demo data")
    p.add_argument("--weeks", type=int, default=8, help="weeks of tiny synthetic data for the demo")
    p.add_argument("--first", type=int, default=-2, help="index of the first week to backfill (negative: from the end)")
    p.add_argument("--count", type=int, default=2, help="how many weeks to backfill")
    p.add_argument("--kind", default="assets",
                   help="assets: Materialize all on the lineage page; job: weekly_retrain's partitions page; range: "
                        "the weekly_retrain_range job; "
                        "job,assets: both, one after the other")
    p.add_argument("--scale", choices=SCALES, default="tiny", help="scale of the generated data")
    p.add_argument("--code", help="the checkout whose package is benchmarked (default: this one)")
    p.add_argument("--workdir", help="the project folder to use (default: a new temporary one; reused: "
                                     "its generated data is kept)")
    p.set_defaults(func=_call("vodrec_assets.benchmarks.backfill:cli_bench_backfill"))

    p = sub.add_parser("serve", help="the recommendations HTTP API and metrics dashboard")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--source", help="SQLAlchemy URL of the database holding the recommendations table")
    p.add_argument("--refresh-seconds", type=float, default=None,
                   help="how often to look for a new champion (default VODREC_SERVE_REFRESH_SECONDS or 2)")
    p.set_defaults(func=_call("vodrec_assets.serving.app:cli_serve"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
