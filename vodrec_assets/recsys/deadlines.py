"""When is a week's `recommendations` due, and is it late?

A week (its key is its Monday, 00:00 Asia/Seoul) ends the next Monday 00:00; its recommendations are due
`due_after` later (default 9 h: Monday 09:00 Seoul, when the service switches to the new lists). All
times here are naive Seoul-local datetimes, as the partitions and the logs are.

Dagster's asset-level FreshnessPolicy only looks at the asset's newest materialization of any partition
(a backfill of an old week would look fresh); the verdict below is per week: the newest complete week,
materialized by its deadline or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DEFAULT_DUE_AFTER = timedelta(hours=9)
WEEK = timedelta(days=7)


def week_start(week: str) -> datetime:
    return datetime.strptime(week, "%Y-%m-%d")


def due_at(week: str, due_after: timedelta = DEFAULT_DUE_AFTER) -> datetime:
    """The deadline of a week's recommendations: the week's end plus `due_after`."""
    return week_start(week) + WEEK + due_after


def deadline_cron(due_after: timedelta = DEFAULT_DUE_AFTER) -> str:
    """The weekly cron of the deadlines (for Dagster's FreshnessPolicy.cron, in Seoul time): Monday 09:00
    for 9 h. Whole minutes; `due_after` must be less than a week."""
    if not timedelta(0) <= due_after < WEEK:
        raise ValueError(f"due_after must be in [0, 7 days), got {due_after}")
    minutes = int(due_after.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    return f"{rest % 60} {rest // 60} * * {(1 + days) % 7}"


@dataclass(frozen=True)
class WeekDeadline:
    week: str
    due: datetime
    state: str  # "pending" (not due yet, not there), "on_time", "late" (due, missing), "late_delivered"
    materialized: datetime | None

    @property
    def passed(self) -> bool:
        return self.state in ("pending", "on_time")

    @property
    def description(self) -> str:
        due = f"{self.due:%Y-%m-%d %H:%M} Asia/Seoul"
        if self.state == "pending":
            return f"week {self.week}'s recommendations are due by {due}; not written yet"
        if self.state == "on_time":
            return f"week {self.week}'s recommendations were written {self.materialized:%Y-%m-%d %H:%M}, before {due}"
        if self.state == "late":
            return f"week {self.week}'s recommendations were due by {due} and are not written"
        hours = (self.materialized - self.due).total_seconds() / 3600
        return (f"week {self.week}'s recommendations were written {self.materialized:%Y-%m-%d %H:%M}, "
                f"{hours:.1f} h after their deadline {due}")


def judge_week(week: str, now: datetime, materialized: datetime | None,
               due_after: timedelta = DEFAULT_DUE_AFTER) -> WeekDeadline:
    """The week's verdict at `now`, given when its recommendations were first written (None: never)."""
    due = due_at(week, due_after)
    if materialized is not None:
        return WeekDeadline(week, due, "on_time" if materialized <= due else "late_delivered", materialized)
    return WeekDeadline(week, due, "late" if now >= due else "pending", None)
