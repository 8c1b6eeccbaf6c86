"""`vodrec demo`: the main job on the embedded default, every week, through a persistent local instance."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from vodrec_assets import settings
from vodrec_assets.asset_defaults import WEEKLY_STEP

SUMMARY_COLUMNS = [
    ("precision_at_10", "P@10"),
    ("popularity_precision_at_10", "pop P@10"),
    ("map_at_10", "MAP@10"),
    ("popularity_map_at_10", "pop MAP@10"),
    ("holdout_precision_at_10", "holdout P@10"),
    ("holdout_popularity_precision_at_10", "holdout pop P@10"),
]

# Step-by-step logs stay in the instance (visible in the UI); the terminal shows one line per week, which
# names any failure, so the console logger would only repeat it with a stack trace.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def open_instance():
    """The Dagster instance the demo writes to, which `make ui` / `dg dev` then show:
    - `DAGSTER_HOME` when set (a local instance config is written there if it has none);
    - run where a dagster.yaml lies beside VODREC_HOME's `.vodrec` (the repository root, by default): that
      file, as `dg dev` reads it there (the root one keeps everything in .vodrec/dagster_home);
    - otherwise a local instance under `VODREC_HOME/dagster_home`."""
    import dagster as dg

    from vodrec_assets.instance_config import write_local_instance_config

    explicit = os.environ.get("DAGSTER_HOME")
    if explicit:
        if not (Path(explicit) / "dagster.yaml").exists():
            write_local_instance_config(explicit)
        return dg.DagsterInstance.get()
    here = Path.cwd().resolve()
    if (here / "dagster.yaml").is_file() and settings.vodrec_home() == here / ".vodrec":
        return dg.DagsterInstance.from_config(str(here))
    home = settings.vodrec_home() / "dagster_home"
    write_local_instance_config(home)
    return dg.DagsterInstance.from_config(str(home))


def weeks_with_data(url: str) -> list[str]:
    """Mondays of the weeks that hold watch logs (a stray clock-reset row does not make a week)."""
    from vodrec_assets.resources import SourceDatabase

    db = SourceDatabase(url=url)
    if not db.has_table("vods_sumut") or db.count_rows("vods_sumut") == 0:
        return []
    from vodrec_assets.recsys.parsing import datetime_values

    # The cleaning rule's reading (zoned values in Seoul time); `format="mixed"` dies on mixed zones.
    log_dt = pd.Series(datetime_values(db.read_table("vods_sumut", ["log_dt"])["log_dt"])).dropna()
    mondays = (log_dt.dt.normalize() - pd.to_timedelta(log_dt.dt.weekday, unit="D")).value_counts()
    mondays = mondays[mondays >= 0.1 * mondays.max()].sort_index()
    if mondays.empty:
        return []
    first, last = mondays.index.min(), mondays.index.max()
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, last, freq="7D")]


def _shown(url: str) -> str:
    """The URL as printed: its password masked."""
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def cli_demo(args: argparse.Namespace) -> int:
    url = settings.source_url(args.source)
    settings.vodrec_home().mkdir(parents=True, exist_ok=True)
    weeks = weeks_with_data(url)
    if not weeks:
        if args.source:
            raise SystemExit(f"the source {_shown(url)} has no watch logs: run `vodrec generate` or `vodrec import-movielens`")
        from vodrec_assets.sources.synthetic import generate

        print(f"source is empty: generating {args.scale} synthetic data into {_shown(url)}", flush=True)
        summary = generate(url, scale=args.scale, weeks=args.weeks)
        print(f"  generated in {summary.seconds:.1f}s", flush=True)
        weeks = weeks_with_data(url)
    # The partitions cover exactly the weeks with data (the UI shows no empty week); pinned in the local
    # settings that the code location, `make ui` and `dg dev` read, before the code location is imported.
    pinned = settings.write_local_settings(
        start_date=weeks[0], end_date=(pd.Timestamp(weeks[-1]) + pd.Timedelta(days=7)).strftime("%Y-%m-%d"))
    if args.limit_weeks:
        weeks = weeks[: args.limit_weeks]
    # The resources read the URL through dg.EnvVar(VODREC_SOURCE_URL): the instance keeps the name only.
    os.environ[settings.SOURCE_URL_ENV] = url
    instance = open_instance()
    home = instance.root_directory

    from vodrec_assets.definitions import defs

    job = defs.resolve_job_def("weekly_retrain")
    run_config = weekly_run_config(getattr(args, "training_config", None))
    print(f"materializing {len(weeks)} weeks ({weeks[0]} .. {weeks[-1]}) with DAGSTER_HOME={home}", flush=True)
    started = time.perf_counter()
    failures = []
    for week in weeks:
        t0 = time.perf_counter()
        result = job.execute_in_process(partition_key=week, instance=instance, raise_on_error=False,
                                        run_config=run_config)
        outcome = week_outcome(result)
        if outcome == "failed":
            status = "FAILED: " + _failure_summary(result)
            failures.append(week)
        elif outcome in ("gated", "blocked"):
            status = ("blocked at ingestion, nothing computed for it: " if outcome == "blocked" else
                      "gated, recommendations not published: ") + "; ".join(
                f"{e.check_name} {e.description}" for e in result.get_asset_check_evaluations() if not e.passed)
        else:
            status = "ok"
        print(f"  week {week}: {status} in {time.perf_counter() - t0:.1f}s", flush=True)
    if getattr(args, "backtest", True) and not failures:
        run_demo_backtest(defs, instance, weeks, run_config)
    history_ok = metrics_history_ok(instance)
    unassigned = report_unassigned_rows(defs, instance)
    print(f"all weeks in {time.perf_counter() - started:.1f}s; metrics_history {'ok' if history_ok else 'FAILED'}")
    print_summary(defs)
    print(f"\nweekly partitions from {settings.partition_start_date()} to the week before "
          f"{settings.partition_end_date()} (pinned in {pinned})")
    if args.source:
        print("for the UI on this data, give `make ui` the same source: VODREC_SOURCE_URL=<the --source URL> make ui")
    return 1 if failures or not history_ok or not unassigned else 0


def metrics_history_ok(instance) -> bool:
    """Whether the weekly runs left a metrics_history whose one-row-per-week check passed."""
    from vodrec_assets.defs.evaluation.checks import metrics_history_one_row_per_week

    key = next(iter(metrics_history_one_row_per_week.check_keys))
    execution = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).get(key)
    evaluation = execution.event.dagster_event.event_specific_data if execution and execution.event else None
    return bool(evaluation and evaluation.passed)


def report_unassigned_rows(defs, instance) -> bool:
    """Materialize `unassigned_log_rows` (the log rows no week reads) and print how many there are."""
    import dagster as dg

    # The asset as the code location binds it, with the environment's resources.
    result = dg.materialize([defs.resolve_assets_def("unassigned_log_rows")], instance=instance,
                            raise_on_error=False, run_config=QUIET_LOGS)
    if not result.success:
        print("unassigned_log_rows FAILED: " + _failure_summary(result))
        return False
    meta = result.asset_materializations_for_node("unassigned_log_rows")[0].metadata
    print(f"log rows no week reads: {meta['rows'].value}, kept with their reason in {meta['path'].value}")
    return True


DEMO_HELD_OUT_WEEKS = 6


def run_demo_backtest(defs, instance, weeks: list[str], run_config: dict) -> None:
    """Once the data allows (a tuning week, held-out weeks and the week before them), the zoo's backtest
    (job `backtest`) over the newest weeks; when it chooses another family than LightFM, the newest
    week is retrained with it, so the demo serves the chosen family (if the quality gate and the champion
    rule let it) and the UI shows the comparison."""
    held_out = min(DEMO_HELD_OUT_WEEKS, (len(weeks) - 1) // 2)
    if held_out < 1:
        print(f"backtest skipped: it needs at least 3 weeks, the demo has {len(weeks)}", flush=True)
        return
    t0 = time.perf_counter()
    result = defs.resolve_job_def("backtest").execute_in_process(
        instance=instance, raise_on_error=False,
        run_config={**QUIET_LOGS, "ops": {"run_model_zoo_backtest": {"config": {"held_out_weeks": held_out}}}})
    if not result.success:
        print(f"backtest FAILED: {_failure_summary(result)}", flush=True)
        return
    from vodrec_assets.artifacts import BACKTEST_CHOICE

    choice = BACKTEST_CHOICE.read(defs.resources["artifacts"])
    print(f"backtest over {held_out} held-out weeks in {time.perf_counter() - t0:.1f}s: {choice['family']} "
          f"({choice['reason']})", flush=True)
    if choice["family"] == "lightfm" or training_fields(run_config).get("family"):
        return
    t0 = time.perf_counter()
    week = weeks[-1]
    rerun = defs.resolve_job_def("weekly_retrain").execute_in_process(
        partition_key=week, instance=instance, raise_on_error=False, run_config=run_config)
    print(f"  week {week} retrained with {choice['family']}: {week_outcome(rerun)} in "
          f"{time.perf_counter() - t0:.1f}s", flush=True)


def training_fields(run_config: dict) -> dict:
    """trained_model's TrainingConfig fields in a weekly_retrain run config (`weekly_run_config`)."""
    return run_config.get("ops", {}).get(WEEKLY_STEP, {}).get("config", {}).get("trained_model", {})


def weekly_run_config(training_json: str | None) -> dict:
    """The quiet console, plus trained_model's TrainingConfig fields when given as a JSON object."""
    config = dict(QUIET_LOGS)
    if training_json:
        import json

        from vodrec_assets.defs.training.assets import TrainingConfig

        try:
            fields = json.loads(training_json)
        except json.JSONDecodeError as exc:
            raise SystemExit(f"--training-config is not JSON: {exc}") from None
        if not isinstance(fields, dict):
            raise SystemExit("--training-config must be a JSON object of TrainingConfig fields")
        unknown = sorted(set(fields) - set(TrainingConfig.model_fields))
        if unknown:
            raise SystemExit(f"--training-config: unknown field(s) {unknown}; known: {sorted(TrainingConfig.model_fields)}")
        config["ops"] = {WEEKLY_STEP: {"config": {"trained_model": fields}}}
    return config


def week_outcome(result) -> str:
    """"ok"; when the only failures are blocking checks that failed (the platform working as intended),
    "blocked" if one stopped the week at ingestion (no logs, nothing downstream computed) and "gated" if
    the quality gate or a later check refused to publish it; else "failed" (as the alerts say it)."""
    from vodrec_assets.alerts import FailedCheck, classify_failed_run
    from vodrec_assets.fused_weeks import stops_its_week

    if result.success:
        return "ok"
    step_errors = [e.event_specific_data.error.cls_name for e in result.all_events if e.is_step_failure]
    failed = [FailedCheck(e.asset_key.to_python_identifier(), e.check_name, e.description or "")
              for e in result.get_asset_check_evaluations() if stops_its_week(e.passed, e.blocking, e.severity)]
    return classify_failed_run(step_errors, failed)


def _failure_summary(result) -> str:
    failed = [e for e in result.all_events if e.is_step_failure]
    skipped = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SKIPPED"]
    gate = [e for e in result.get_asset_check_evaluations() if not e.passed]
    parts = [f"{e.step_key}: {e.event_specific_data.error.message.strip()[:200]}" for e in failed]
    parts += [f"check {e.check_name} failed ({e.description})" for e in gate]
    if skipped:
        parts.append(f"skipped {', '.join(skipped)}")
    return "; ".join(parts) or "see the run in the UI"


def print_summary(defs) -> None:
    from vodrec_assets.artifacts import load_weekly_metrics

    artifacts = defs.resources["artifacts"]
    records = load_weekly_metrics(artifacts)
    rows = [{"week": r["week"], **{label: r["metrics"].get(key) for key, label in SUMMARY_COLUMNS},
             "gate": "pass" if r["quality_gate_passed"] else "FAIL"} for r in records]
    if not rows:
        print("no weekly metrics")
        return
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"))
    means = table[[label for _, label in SUMMARY_COLUMNS]].mean(numeric_only=True)
    print("\nmean over weeks: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items() if pd.notna(v)))


