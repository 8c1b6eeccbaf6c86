"""Which week a log row belongs to, so that every row is read by exactly one week.

A row belongs to the week its `log_dt` text sorts into (the week's SQL window compares text: a row whose
`log_dt` is no datetime still lands in exactly one week, where it is quarantined). The exception is a
zoned value (`2023-08-13T20:00:00Z`, `...+0900`; any text longer than the 19 characters of
`YYYY-MM-DD hh:mm:ss`): it belongs to the week of its Seoul wall time, the time every other value is
written in, when its text is within ZONE_MARGIN of that week. Week windows read such rows that far
beyond their edges, so the week of its Seoul time reads it (a zone moves a time by at most 24 h + 9 h).
Anything stranger stays in its text's week and is quarantined there as outside the week."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from vodrec_assets.recsys.parsing import LOG_DT_FORMAT, datetime_values

ZONE_MARGIN = timedelta(days=2)
PLAIN_LENGTH = 19  # len("2023-08-07 00:00:00")
_WEEK = np.timedelta64(7, "D")


def _text(when: datetime | np.ndarray) -> np.ndarray | str:
    if isinstance(when, datetime):
        return when.strftime(LOG_DT_FORMAT)
    return np.datetime_as_string(when.astype("datetime64[s]"), unit="s").astype(object)


def belongs_to(log_dt: pd.Series, start: datetime, end: datetime) -> np.ndarray:
    """Mask of the rows (any that a window over [start, end) widened by ZONE_MARGIN for long text read)
    that belong to [start, end), a week or a run of whole weeks starting on Mondays."""
    text = log_dt.astype("string")
    inside_text = ((text >= _text(start)) & (text < _text(end))).fillna(False).to_numpy(bool)
    long = (text.str.len() > PLAIN_LENGTH).fillna(False).to_numpy(bool)
    out = inside_text.copy()
    rows = np.flatnonzero(long)
    if not len(rows):
        return out
    seoul = datetime_values(log_dt.iloc[rows])
    parsed = ~np.isnat(seoul)
    day = seoul.astype("datetime64[D]")
    # Monday of the Seoul time's week (1970-01-01 was a Thursday: day 0 -> weekday 3).
    monday = day - ((day.astype(np.int64) + 3) % 7).astype("timedelta64[D]")
    margin = np.timedelta64(int(ZONE_MARGIN.total_seconds()), "s")
    low = _text(np.where(parsed, monday, np.datetime64("1970-01-05")) - margin)
    high = _text(np.where(parsed, monday, np.datetime64("1970-01-05")) + _WEEK + margin)
    mine = text.iloc[rows].to_numpy(dtype=object)
    near = parsed & (mine >= low) & (mine < high)
    own_week = (seoul >= np.datetime64(start, "ns")) & (seoul < np.datetime64(end, "ns"))
    out[rows] = np.where(near, own_week, inside_text[rows])
    return out
