"""Dirty rows planted in the synthetic logs: what a real set-top-box log store accumulates.

A configured share of each week's log rows is made dirty, split evenly over the classes that
apply to the table and the target database. Every dirty row belongs to exactly one class, so the
generator's summary can say how many of each it wrote.
"""

from __future__ import annotations

import numpy as np

from vodrec_assets.sources.synthetic_logs import LogTable

DEFAULT_DIRTY_RATE = 0.01

# class -> what it does (docs/data.md lists the same)
DIRTY_CLASSES = {
    "zero_runtime": "disp_rtm_sec = 0 (a catalogue entry without its runtime)",
    "negative_use_tms": "use_tms < 0 (a counter underflow)",
    "use_tms_above_runtime": "use_tms between 1.1x and 3x disp_rtm_sec (paused playback kept counting)",
    "null_id": "subsr_id or program_id NULL",
    "unknown_id": "a subsr_id not in userinfo or a program_id not in vodinfo",
    "duplicate": "an exact copy of another row, right after it (a resent log record)",
    "log_dt_outside_week": "log_dt reset to 1970-01-01 (box clock reset) or jumped to 2037",
    "non_numeric": "text in a numeric column ('N/A', '1,234', ...); SQLite only",
    "unparsable_log_dt": "log_dt text that is no datetime ('2023-08-09 24:60:60', ...); SQLite only",
}
WATCH_DIRTY = ("zero_runtime", "negative_use_tms", "use_tms_above_runtime", "null_id", "unknown_id", "duplicate",
               "log_dt_outside_week", "non_numeric", "unparsable_log_dt")
CLICK_DIRTY = ("null_id", "unknown_id", "duplicate", "log_dt_outside_week", "non_numeric", "unparsable_log_dt")
# MySQL strict mode rejects these two at INSERT time, so they cannot exist in a MySQL source.
SQLITE_ONLY = ("non_numeric", "unparsable_log_dt")

UNKNOWN_SUBSCRIBER_BASE = 99_000_000  # real subscribers are 60,000,001 ...
UNKNOWN_PROGRAM_BASE = 990_000  # real programs are 100,001 ...
NUMBER_JUNK = np.array(["N/A", "-", "1,234", "12분", "#VALUE!"], dtype=object)
ID_JUNK = np.array(["NULL", "unknown", "#N/A", "STB-ERR"], dtype=object)
# Each keeps the row's real date first, so the text still sorts inside the row's week.
LOG_DT_JUNK_SUFFIX = np.array([" 24:60:60", " ??:??:??", " 오후 9:15"], dtype=object)


def dirty_classes(table: str, sqlite: bool) -> tuple[str, ...]:
    classes = WATCH_DIRTY if table == "vods_sumut" else CLICK_DIRTY
    return tuple(c for c in classes if sqlite or c not in SQLITE_ONLY)


def _split(total: int, k: int, rng: np.random.Generator) -> np.ndarray:
    counts = np.full(k, total // k, dtype=np.int64)
    counts[rng.permutation(k)[: total - counts.sum()]] += 1
    return counts


def _datetime_text(values: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(values.astype("datetime64[s]"), unit="s")
    codes = text.view(np.uint32).reshape(len(text), -1)
    codes[:, 10] = ord(" ")
    return text.astype(object)


def inject_dirty_rows(table: LogTable, rate: float, classes: tuple[str, ...],
                      rng: np.random.Generator) -> tuple[LogTable, dict[str, int]]:
    """Make round(rate * rows) rows dirty, evenly over `classes`; returns the new table and the counts."""
    n = len(table)
    total = min(int(round(rate * n)), n // 2)
    counts = dict(zip(classes, _split(total, len(classes), rng).tolist())) if classes else {}
    if total == 0:
        return table, {c: 0 for c in classes}

    # Duplicates first (they change the row order): each copy goes right after its original.
    n_dup = counts.get("duplicate", 0)
    source = np.sort(rng.choice(n, size=n_dup, replace=False))
    order = np.sort(np.concatenate([np.arange(n), source]), kind="stable")
    table = table.take(order) if n_dup else table
    is_copy = np.zeros(len(order), bool)
    is_copy[1:] = order[1:] == order[:-1]
    untouchable = is_copy | np.r_[is_copy[1:], False]  # the copies and their originals stay as they are

    others = [c for c in classes if c != "duplicate"]
    pool = np.flatnonzero(~untouchable)
    chosen = rng.choice(pool, size=sum(counts[c] for c in others), replace=False)
    cols = table.columns
    at = 0
    for name in others:  # a loop over the classes; each class is vectorised over its rows
        rows = np.sort(chosen[at: at + counts[name]])
        at += counts[name]
        k = len(rows)
        if k == 0:
            continue
        half = rng.random(k) < 0.5
        if name == "zero_runtime":
            cols["disp_rtm_sec"][rows] = 0
        elif name == "negative_use_tms":
            cols["use_tms"][rows] = -rng.integers(1, np.maximum(cols["disp_rtm_sec"][rows], 2))
        elif name == "use_tms_above_runtime":
            cols["use_tms"][rows] = np.round(cols["disp_rtm_sec"][rows] * rng.uniform(1.1, 3.0, k)).astype(np.int64)
        elif name == "null_id":
            table.override("subsr_id", rows[half], np.full(int(half.sum()), None, dtype=object))
            table.override("program_id", rows[~half], np.full(int((~half).sum()), None, dtype=object))
        elif name == "unknown_id":
            cols["subsr_id"][rows[half]] = UNKNOWN_SUBSCRIBER_BASE + rng.integers(0, 900_000, int(half.sum()))
            cols["program_id"][rows[~half]] = UNKNOWN_PROGRAM_BASE + rng.integers(0, 9_000, int((~half).sum()))
        elif name == "log_dt_outside_week":
            # Half a box whose clock restarted at the epoch (plus its uptime), half a clock jumped to 2037.
            epoch = np.datetime64("1970-01-01T00:00:00") + rng.integers(0, 3 * 86_400, k).astype("timedelta64[s]")
            future = np.datetime64("2037-01-01T00:00:00") + rng.integers(0, 365 * 86_400, k).astype("timedelta64[s]")
            when = np.where(half, epoch, future)
            table.override("log_dt", rows, _datetime_text(when))
            cols["month"][rows] = when.astype("datetime64[M]").astype(np.int64) % 12 + 1
        elif name == "non_numeric":
            if table.name == "vods_sumut":
                junk = NUMBER_JUNK[rng.integers(0, len(NUMBER_JUNK), k)]
                table.override("use_tms", rows[half], junk[half])
                table.override("disp_rtm_sec", rows[~half], junk[~half])
            else:
                junk = ID_JUNK[rng.integers(0, len(ID_JUNK), k)]
                table.override("subsr_id", rows[half], junk[half])
                table.override("program_id", rows[~half], junk[~half])
        elif name == "unparsable_log_dt":
            dates = cols["log_dt"][rows].astype("U10").astype(object)
            table.override("log_dt", rows, dates + LOG_DT_JUNK_SUFFIX[rng.integers(0, len(LOG_DT_JUNK_SUFFIX), k)])
        else:
            raise ValueError(f"unknown dirty-row class {name!r}")
    return table, counts
