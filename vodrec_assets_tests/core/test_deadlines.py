"""Deadlines of a week's recommendations (recsys/deadlines.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vodrec_assets.recsys.deadlines import deadline_cron, due_at, judge_week

WEEK = "2026-11-23"  # a Monday; the week ends Monday 2026-11-30 00:00 Seoul


def test_due_monday_nine_by_default_and_the_cron_says_the_same():
    assert due_at(WEEK) == datetime(2026, 11, 30, 9, 0)
    assert deadline_cron() == "0 9 * * 1"
    assert deadline_cron(timedelta(hours=33, minutes=15)) == "15 9 * * 2"
    assert deadline_cron(timedelta(days=6, hours=23)) == "0 23 * * 0"
    with pytest.raises(ValueError):
        deadline_cron(timedelta(days=7))


@given(st.integers(0, 7 * 24 * 60 - 1))
def test_the_cron_ticks_at_the_deadline(minutes):
    due = due_at(WEEK, timedelta(minutes=minutes))
    minute, hour, _, _, weekday = deadline_cron(timedelta(minutes=minutes)).split()
    assert (due.minute, due.hour, due.isoweekday() % 7) == (int(minute), int(hour), int(weekday))


def test_verdicts():
    due = due_at(WEEK)
    before, after = due - timedelta(minutes=1), due + timedelta(minutes=1)
    assert judge_week(WEEK, before, None).state == "pending" and judge_week(WEEK, before, None).passed
    late = judge_week(WEEK, due, None)
    assert late.state == "late" and not late.passed and "not written" in late.description
    assert judge_week(WEEK, after, before).state == "on_time"
    delivered = judge_week(WEEK, after + timedelta(hours=3), after + timedelta(hours=2))
    assert delivered.state == "late_delivered" and not delivered.passed and "2.0 h after" in delivered.description
