"""`weekly_retrain_range`: a range of weeks as one weekly_retrain run per week, inside one launched run.

Since the weekly assets became one step that walks a range of weeks (fused_weeks.py), a job backfill of
`weekly_retrain` and "Materialize all" already make one run for a range, each week materialized and
checked on its own. This job remains for an operator who wants each week of a range as a run of its own
(its own run page, status and failure alert), without a launched process per week.

This job keeps the weeks as they are: its one op runs the `weekly_retrain` job for each week of the range,
oldest first (the warm start needs the previous week's model), in its own process, exactly as `vodrec
demo` does. Every week is a run of its own (its partition, checks, metadata, a failure alert of its own);
a week stopped by a blocking check stops only itself, and the next week goes on as in a job backfill. Its
runs carry the tag `vodrec/range_run=<this run's id>`. The op fails only when it breaks itself; the weeks'
own failures are their runs' (and alerted once each by alert_on_failed_run).

Jobs -> weekly_retrain_range -> Launchpad: `first_week` / `last_week` (partition keys; empty = the first /
the last partition) -> Launch.
"""

import time

import dagster as dg

from vodrec_assets.asset_defaults import JOB_TAG
from vodrec_assets.partitions import weekly_partitions

RANGE_TAG = "vodrec/range_run"


class WeekRange(dg.Config):
    first_week: str = ""  # a partition key; empty: the first partition
    last_week: str = ""  # a partition key; empty: the last partition


def weeks_in_range(keys: list[str], first: str, last: str) -> list[str]:
    """The partition keys from `first` to `last` (both included; empty = the ends), oldest first."""
    for week in (first, last):
        if week and week not in keys:
            raise dg.Failure(f"{week} is not a weekly partition (they run from {keys[0]} to {keys[-1]})",
                             allow_retries=False)
    chosen = [k for k in keys if (not first or k >= first) and (not last or k <= last)]
    if not chosen:
        raise dg.Failure(f"no week between {first or keys[0]} and {last or keys[-1]}", allow_retries=False)
    return chosen


@dg.op(tags={JOB_TAG: "weekly_retrain"})
def retrain_weeks(context: dg.OpExecutionContext, config: WeekRange) -> dg.Output:
    from vodrec_assets.definitions import defs  # the code location this op belongs to
    from vodrec_assets.demo import QUIET_LOGS, week_outcome

    weeks = weeks_in_range(weekly_partitions.get_partition_keys(), config.first_week, config.last_week)
    job = defs.resolve_job_def("weekly_retrain")
    outcomes: dict[str, str] = {}
    started = time.perf_counter()
    for week in weeks:
        t0 = time.perf_counter()
        result = job.execute_in_process(partition_key=week, instance=context.instance, raise_on_error=False,
                                        run_config=QUIET_LOGS, tags={RANGE_TAG: context.run_id})
        outcomes[week] = week_outcome(result)
        context.log.info(f"week {week}: {outcomes[week]} in {time.perf_counter() - t0:.1f}s (run {result.run_id})")
    counts = {o: sum(v == o for v in outcomes.values()) for o in ("ok", "gated", "blocked", "failed")}
    return dg.Output(None, metadata={
        "weeks": len(weeks), "range": f"{weeks[0]} .. {weeks[-1]}", **counts,
        "seconds": round(time.perf_counter() - started, 1),
        "not_ok": ", ".join(f"{w} {o}" for w, o in outcomes.items() if o != "ok") or "none",
    })


@dg.job(name="weekly_retrain_range", tags={JOB_TAG: "weekly_retrain"},
        description="Retrain a range of weeks in one run, oldest first, each week a weekly_retrain run of its own "
                    "(its checks, metadata and alerts), without a process per week.")
def weekly_retrain_range() -> None:
    retrain_weeks()
