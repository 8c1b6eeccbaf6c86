from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from vodrec_assets.definitions import defs
from vodrec_assets.partitions import weekly_partitions

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
    context = dg.build_schedule_context(scheduled_execution_time=instant)
    requests = schedule.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [expected]


def test_partitions_are_mondays_in_seoul():
    keys = weekly_partitions.get_partition_keys(current_time=datetime(2023, 9, 1, tzinfo=SEOUL))
    assert keys[:3] == ["2023-08-07", "2023-08-14", "2023-08-21"]
    window = weekly_partitions.time_window_for_partition_key("2023-08-07")
    assert window.start == datetime(2023, 8, 7, tzinfo=SEOUL) and window.end == datetime(2023, 8, 14, tzinfo=SEOUL)
