"""Weekly partitions (Monday 00:00 Asia/Seoul) and the lookback mapping of the training window."""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timedelta

import dagster as dg

# allow_nonexistent_upstream_partitions is "beta" but is what makes the first weeks' windows shorter.
warnings.filterwarnings("ignore", message=".*allow_nonexistent_upstream_partitions.*")

from vodrec_assets.settings import DEFAULT_START_DATE, TIMEZONE, lookback_weeks

START_DATE = os.environ.get("VODREC_START_DATE", DEFAULT_START_DATE)
END_DATE = os.environ.get("VODREC_END_DATE") or None

# day_offset=1: weeks start on Monday. Keys are the Monday's date, e.g. "2023-08-07".
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=START_DATE, end_date=END_DATE, day_offset=1, timezone=TIMEZONE
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
