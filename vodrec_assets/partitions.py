"""Weekly partitions (Monday 00:00 Asia/Seoul) and the lookback mapping of the training window."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

# allow_nonexistent_upstream_partitions is "beta" but is what makes the first weeks' windows shorter.
warnings.filterwarnings("ignore", message=".*allow_nonexistent_upstream_partitions.*")

from vodrec_assets.settings import TIMEZONE, lookback_weeks, partition_end_date, partition_start_date

START_DATE = partition_start_date()
# Exclusive: the last partition is the week before this Monday. Unset in production (the last complete
# week); the demo pins it to its data so that the UI shows no partition without data.
END_DATE = partition_end_date()



def weeks_until_end(end_date: str, now: datetime | None = None) -> int:
    """The end as an `end_offset` in weeks: how far the Monday `end_date` (exclusive) lies from the Monday
    that starts the current, incomplete week in Seoul. 0 ends at the last complete week, -2 two weeks before."""
    today = (now or datetime.now(ZoneInfo(TIMEZONE))).date()
    this_monday = today - timedelta(days=today.weekday())
    return (datetime.strptime(end_date, "%Y-%m-%d").date() - this_monday).days // 7


# day_offset=1: weeks start on Monday. Keys are the Monday's date, e.g. "2023-08-07". A pinned end is given
# as a negative end_offset rather than end_date: Dagster 1.13 pages partition keys newest first (the UI's
# plots by partition, "Latest", the backfill dialog) from the current time, ignoring end_date, so with
# end_date the UI's latest 120 weeks were all after the data. end_offset is honoured everywhere.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=START_DATE, day_offset=1, timezone=TIMEZONE,
    end_offset=weeks_until_end(END_DATE) if END_DATE else 0,
)

# "all" (the original's behaviour) reaches back further than any deployment will run.
_ALL_WEEKS = 5200


def lookback_mapping(weeks: int | None = None) -> dg.TimeWindowPartitionMapping:
    """This week and the `weeks - 1` before it; weeks before the first partition are skipped."""
    n = weeks if weeks is not None else lookback_weeks()
    return dg.TimeWindowPartitionMapping(
        start_offset=-((n or _ALL_WEEKS) - 1), end_offset=0, allow_nonexistent_upstream_partitions=True
    )


previous_week_mapping = dg.TimeWindowPartitionMapping(
    start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
)

this_and_previous_week = dg.TimeWindowPartitionMapping(
    start_offset=-1, end_offset=0, allow_nonexistent_upstream_partitions=True
)

# Every week up to this one (the champion replays every evaluated week).
all_weeks_so_far = lookback_mapping(_ALL_WEEKS)


def week_bounds(partition_key: str) -> tuple[datetime, datetime]:
    """Naive Seoul-local [Monday 00:00, next Monday 00:00) of a partition key: how log_dt is stored."""
    start = datetime.strptime(partition_key, "%Y-%m-%d")
    return start, start + timedelta(days=7)


def window_weeks(partition_key: str, weeks: int | None = None) -> list[str]:
    """The partition keys of the lookback window ending at `partition_key`, oldest first."""
    n = weeks if weeks is not None else lookback_weeks()
    end = datetime.strptime(partition_key, "%Y-%m-%d")
    first = datetime.strptime(START_DATE, "%Y-%m-%d")
    keys = []
    cursor = end
    while cursor >= first and (n is None or len(keys) < n):
        keys.append(cursor.strftime("%Y-%m-%d"))
        cursor -= timedelta(days=7)
    return keys[::-1]


def previous_week(partition_key: str) -> str | None:
    prev = datetime.strptime(partition_key, "%Y-%m-%d") - timedelta(days=7)
    if prev < datetime.strptime(START_DATE, "%Y-%m-%d"):
        return None
    return prev.strftime("%Y-%m-%d")
