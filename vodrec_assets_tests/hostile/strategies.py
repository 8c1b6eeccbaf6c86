"""Hostile values for every column of the four source tables (Hypothesis strategies), and oracles that
say, independently of the cleaning code, what a value must become: an exact int64 id or none, a finite
number or not, a Seoul wall time or none."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

SEOUL = ZoneInfo("Asia/Seoul")
WEEK_START = datetime(2023, 8, 7)
WEEK_END = WEEK_START + timedelta(days=7)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
BIG = 2**53
# Ids a hostile row may collide with: the anchors' and the reference tables' (so that rows are known).
KNOWN_USERS = (1, 2, 3, BIG, BIG + 1, INT64_MAX)
KNOWN_PROGRAMS = (10, 11, 12, BIG + 7, INT64_MIN)

TRICKY_TEXT = ["inf", "-inf", "+inf", "Infinity", "-Infinity", "NaN", "nan", "1e999", "-1e999", "N/A", "", " ",
               "1,234", "12분", "#VALUE!", "STB-ERR", "1e3", "12.5", "12.0", " 12 ", "+7", "-0", "007", "１２",
               "0x10", "1_000", "9" * 5000, "-" + "9" * 30, str(2**63), str(INT64_MIN - 1), str(INT64_MAX),
               str(BIG), str(BIG + 1), "9.2233720368547758e+18", "NULL", "\x00", "🙂", "'); DROP TABLE x; --"]


def _zoned(moment: datetime, offset_minutes: int, style: int) -> str:
    offset = timedelta(minutes=offset_minutes)
    local = (moment.replace(tzinfo=SEOUL).astimezone(ZoneInfo("UTC")) + offset).replace(tzinfo=None)
    sign = "+" if offset_minutes >= 0 else "-"
    hh, mm = divmod(abs(offset_minutes), 60)
    suffix = ["Z" if offset_minutes == 0 else f"{sign}{hh:02d}:{mm:02d}", f"{sign}{hh:02d}{mm:02d}",
              f"{sign}{hh:02d}:{mm:02d}"][style]
    sep = "T" if style != 1 else " "
    return f"{local:%Y-%m-%d}{sep}{local:%H:%M:%S}{suffix}"


moments = st.datetimes(min_value=WEEK_START - timedelta(days=2), max_value=WEEK_END + timedelta(days=2)).map(
    lambda d: d.replace(microsecond=0))
inside = st.datetimes(min_value=WEEK_START, max_value=WEEK_END - timedelta(seconds=1)).map(lambda d: d.replace(microsecond=0))

datetime_values = st.one_of(
    inside.map(lambda d: f"{d:%Y-%m-%d %H:%M:%S}"),
    inside.map(lambda d: f"{d:%Y-%m-%dT%H:%M:%S}"),
    st.builds(_zoned, moments, st.sampled_from([0, 540, -300, 330, 840, -720, 60]), st.integers(0, 2)),
    st.sampled_from(["2023-08-09 24:60:60", "2023-08-09 ??:??:??", "2023-02-30 10:00:00", "1970-01-01 00:00:00",
                     "2037-06-01 12:00:00", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
                     "2023-08-09T12:00:00+99:00", "2023-08-09", "now", "today", "", "2023-08-09 12:00:00 KST"]),
    st.text(max_size=12),
    st.none(),
)

ids = st.one_of(
    st.sampled_from(KNOWN_USERS + KNOWN_PROGRAMS),
    st.integers(BIG - 2, BIG + 2),
    st.integers(INT64_MIN, INT64_MAX),
    st.integers(INT64_MAX + 1, 2**80),
    st.integers(-(2**80), INT64_MIN - 1),
    st.floats(),
    st.sampled_from(TRICKY_TEXT),
    st.integers(INT64_MIN, INT64_MAX).map(str),
    st.text(max_size=8),
    st.none(),
)
numbers = st.one_of(
    st.integers(-5, 5000), st.floats(), st.sampled_from(TRICKY_TEXT), st.integers(-(2**70), 2**70),
    st.text(max_size=6), st.none(),
)
e_bools = st.one_of(st.sampled_from([0, 0, 0, 1, "0", "1", 2, -1, "yes", "inf", "NaN", None, 0.0, 1.5]), numbers)
texts = st.one_of(st.text(max_size=20), st.none(), st.sampled_from(["'; DROP TABLE vodinfo; --", "\\'", "%s", "?"]))


# A usable value of each log column: known ids, a time inside the week (plain, ISO, or zoned), finite numbers.
inside_any_form = st.one_of(
    inside.map(lambda d: f"{d:%Y-%m-%d %H:%M:%S}"), inside.map(lambda d: f"{d:%Y-%m-%dT%H:%M:%S}"),
    st.builds(_zoned, inside, st.sampled_from([0, 540, -300, 330]), st.integers(0, 2)),
)
CLEAN = {
    "subsr_id": st.one_of(st.sampled_from(KNOWN_USERS), st.sampled_from(KNOWN_USERS).map(str)),
    "program_id": st.one_of(st.sampled_from(KNOWN_PROGRAMS), st.sampled_from(KNOWN_PROGRAMS).map(str)),
    "program_name": texts, "episode_num": st.integers(0, 50), "month": st.integers(1, 12),
    "log_dt": inside_any_form, "e_bool": st.sampled_from([0, 0, 0, 1]),
    "use_tms": st.floats(0, 8000), "disp_rtm_sec": st.floats(1, 4000), "count_watch": st.integers(0, 9),
}
HOSTILE = {"subsr_id": ids, "program_id": ids, "program_name": texts, "episode_num": numbers, "month": numbers,
           "log_dt": datetime_values, "e_bool": e_bools, "use_tms": numbers, "disp_rtm_sec": numbers,
           "count_watch": numbers}


@st.composite
def log_rows(draw, watch: bool):
    """A log row: usable values, then none, one, a few or every column replaced by a hostile value (so
    that each class is tried alone, in company, and next to rows that are kept)."""
    columns = ["subsr_id", "program_id", "program_name", "episode_num", "log_dt", "month", "e_bool"]
    if watch:
        columns += ["use_tms", "disp_rtm_sec", "count_watch"]
    row = {c: draw(CLEAN[c]) for c in columns}
    spoiled = draw(st.one_of(st.just([]), st.lists(st.sampled_from(columns), min_size=1, max_size=3),
                             st.just(columns)))
    for c in spoiled:
        row[c] = draw(HOSTILE[c])
    return row


subscriber_rows = st.fixed_dictionaries({"subsr_id": ids, "age_band": texts, "gender": texts, "region": texts,
                                         "join_dt": datetime_values, "churn_dt": datetime_values})
program_rows = st.fixed_dictionaries({"program_id": ids, "program_name": texts, "ct_cl": texts, "program_genre": texts,
                                      "release_date": datetime_values, "age_limit": numbers, "disp_rtm_sec": numbers,
                                      "episode_count": numbers, "e_bool": e_bools})


# --------------------------------------------------------------------------- oracles

_DIGITS = re.compile(r"^\s*[+-]?[0-9]+\s*$")


def oracle_id(value) -> int | None:
    """The exact int64 an id value names, None when it names none (NULL, junk, non-finite, fractional,
    outside int64, or a float beyond 2^53)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else None
    if isinstance(value, float):
        ok = math.isfinite(value) and value == math.floor(value) and abs(value) <= BIG
        return int(value) if ok else None
    text = str(value)
    if "_" in text or "\x00" in text:
        return None
    if _DIGITS.match(text) and text.isascii():
        if len(text.strip().lstrip("+-").lstrip("0")) > 19:
            return None
        number = int(text.strip())
        return number if INT64_MIN <= number <= INT64_MAX else None
    try:
        number = float(text)
    except ValueError:
        return None
    ok = math.isfinite(number) and number == math.floor(number) and abs(number) <= BIG
    return int(number) if ok else None


def is_non_finite(value) -> bool:
    if isinstance(value, float):
        return math.isinf(value) or math.isnan(value)
    if isinstance(value, str):
        try:
            return not math.isfinite(float(value))
        except ValueError:
            return False
    return False


def oracle_seoul(value) -> datetime | None:
    """The Seoul wall time a datetime text names (zoned ones converted), None when no ISO datetime."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(SEOUL).replace(tzinfo=None)
        except OverflowError:
            return None
    return moment
