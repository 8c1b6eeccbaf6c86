"""Runs vodrec's weekly_retrain job for one week in its own process, as a run worker would, so that a test
can kill it, take its database or S3 away, and re-execute it from failure.

    python -m vodrec_assets_tests.reliability.runner --week 2023-08-07 [--select a,b] [--epochs N]
        [--reexecute-from-failure RUN_ID]

The Dagster instance is DAGSTER_HOME (SQLite storage there); the resources are the code location's own,
chosen from the VODREC_* variables (local or production/S3). Prints one JSON line with the run id, the
outcome, the retries per step and the failure messages.
"""

from __future__ import annotations

import argparse
import json
import sys

from vodrec_assets.asset_defaults import WEEKLY_STEP


def weekly_retrain_job():
    from vodrec_assets.definitions import defs

    return defs.resolve_job_def("weekly_retrain")


def run_events(instance, run_id: str) -> dict:
    import dagster as dg

    records = instance.all_logs(run_id)
    retries: dict[str, int] = {}
    failures: list[str] = []
    for r in records:
        event = r.dagster_event
        if event is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY:
            retries[event.step_key] = retries.get(event.step_key, 0) + 1
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            error, messages = event.event_specific_data.error, []
            while error is not None:  # "Exceeded max_retries of 3", caused by the last attempt's error
                messages.append(error.message.strip()[:300])
                error = error.cause
            failures.append(f"{event.step_key}: {' <- '.join(messages)}")
    return {"retries": retries, "failures": failures}


def main(argv: list[str] | None = None) -> int:
    import dagster as dg

    parser = argparse.ArgumentParser()
    parser.add_argument("--week", required=True)
    parser.add_argument("--select", default="", help="comma-separated asset keys (default: the whole job)")
    parser.add_argument("--epochs", type=int, default=None, help="trained_model's epochs (run config)")
    parser.add_argument("--reexecute-from-failure", default=None, metavar="RUN_ID")
    args = parser.parse_args(argv)

    instance = dg.DagsterInstance.get()
    job = dg.reconstructable(weekly_retrain_job)
    # execute_job does not carry the parent's partition tag over to a re-execution: give it every time.
    kwargs: dict = {"tags": {"dagster/partition": args.week}}
    if args.reexecute_from_failure:
        kwargs["reexecution_options"] = dg.ReexecutionOptions.from_failure(args.reexecute_from_failure, instance)
    else:
        if args.select:
            kwargs["asset_selection"] = [dg.AssetKey(k) for k in args.select.split(",")]
        if args.epochs is not None:
            kwargs["run_config"] = {"ops": {WEEKLY_STEP: {"config": {"trained_model": {"epochs": args.epochs}}}}}
    with dg.execute_job(job, instance=instance, raise_on_error=False, **kwargs) as result:
        out = {"run_id": result.run_id, "success": result.success, **run_events(instance, result.run_id)}
    print(json.dumps(out), flush=True)
    return 0 if out["success"] else 1


if __name__ == "__main__":
    sys.exit(main())
