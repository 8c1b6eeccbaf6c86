import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from vodrec_assets.definitions import defs
from vodrec_assets.partitions import weekly_partitions
from vodrec_assets.defs.schedules import week_that_ended

SEOUL = ZoneInfo("Asia/Seoul")


@pytest.mark.parametrize(
    "instant, expected",
    [
        (datetime(2023, 8, 14, 3, 0, tzinfo=SEOUL), "2023-08-07"),
        (datetime(2024, 1, 1, 3, 0, tzinfo=SEOUL), "2023-12-25"),  # across the year boundary
        # Sunday 18:00 UTC is already Monday 03:00 in Seoul: the week that just ended there began 09-04.
        (datetime(2023, 9, 10, 18, 0, tzinfo=ZoneInfo("UTC")), "2023-09-04"),
    ],
)
def test_schedule_requests_the_week_that_just_ended_in_seoul(instant, expected):
    schedule = defs.resolve_schedule_def("weekly_retrain_schedule")
    assert schedule.cron_schedule == "0 3 * * 1" and schedule.execution_timezone == "Asia/Seoul"
    context = dg.build_schedule_context(scheduled_execution_time=instant, repository_def=defs.get_repository_def())
    requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [expected]
    assert [r.run_key for r in requests] == [expected]


NEXT_TICK_CODE = (
    "import dagster as dg; from datetime import datetime, timedelta; from zoneinfo import ZoneInfo\n"
    "from vodrec_assets.definitions import defs\n"
    "s = defs.resolve_schedule_def('weekly_retrain_schedule')\n"
    "now = datetime.now(ZoneInfo('Asia/Seoul'))\n"
    "tick = (now + timedelta(days=7 - now.weekday())).replace(hour=3, minute=0, second=0, microsecond=0)\n"
    "r = s.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick, repository_def=defs.get_repository_def()))\n"
    "print([q.partition_key for q in r.run_requests or []], r.skip_message)\n"
)


def _next_tick(end_date: str) -> str:
    import subprocess
    import sys

    env = {**os.environ, "VODREC_END_DATE": end_date}
    return subprocess.run([sys.executable, "-c", NEXT_TICK_CODE], capture_output=True, text=True, check=True,
                          env=env).stdout.strip()


def test_schedule_skips_a_week_after_the_pinned_partitions_and_names_it():
    """The demo pins the partitions to its data; the next tick then names the week that just ended and
    says why it is not run, instead of retraining the last week with data again."""
    week = week_that_ended(datetime.now(SEOUL) + timedelta(days=7))  # the next Monday's tick
    out = _next_tick("2023-10-02")
    assert out.startswith(f"[] the week that just ended, {week}, is after the last weekly partition 2023-09-25"), out


def test_schedule_requests_the_week_that_just_ended_when_the_partitions_reach_it():
    week = week_that_ended(datetime.now(SEOUL) + timedelta(days=7))
    assert _next_tick("2100-01-04") == f"['{week}'] None"
