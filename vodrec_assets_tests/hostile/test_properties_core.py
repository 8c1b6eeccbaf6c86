"""Property: whatever a week's log rows hold, validation and the weekly reduction never crash, every row
is accounted for (read = kept unchanged + kept repaired + excluded by e_bool + quarantined with a
reason), and every kept id is exactly the int64 its raw value names (oracles in strategies.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from vodrec_assets.recsys.cleaning import (
    CLICK_COLUMNS, CLICK_NUMERIC, CLICK_OTHER_NUMERIC, RULES, WATCH_COLUMNS, WATCH_NUMERIC, WATCH_OTHER_NUMERIC,
    validate_logs, validate_reference, weekly_pair_stats,
)

from .conftest import TALLY
from .strategies import (
    KNOWN_PROGRAMS, KNOWN_USERS, WEEK_END, WEEK_START, is_non_finite, log_rows, oracle_id, oracle_seoul,
    program_rows, subscriber_rows,
)

PARSE_REASONS = {"null_id", "non_numeric", "non_finite", "out_of_range", "fractional_id"}


def _frame(rows: list[dict], columns: list[str], storage: str) -> pd.DataFrame:
    """As ingestion stores a week: every value as text (an SQLite file), or Python objects (a driver)."""
    data = {c: [r[c] for r in rows] for c in columns}
    if storage == "text":
        return pd.DataFrame({c: pd.Series([None if v is None else str(v) for v in vs], dtype="string")
                             for c, vs in data.items()})
    return pd.DataFrame({c: pd.Series(vs, dtype=object) for c, vs in data.items()})


def _with_duplicates(rows: list[dict], picks: list[int]) -> list[dict]:
    out = list(rows)
    for p in picks:
        if rows:
            out.insert(min(p, len(out)), dict(rows[p % len(rows)]))
    return out


def _non_finite_present(value, storage: str) -> bool:
    """An infinity or NaN that is not a NULL: a float NaN among objects is pandas' missing value."""
    return is_non_finite(value) and not (storage == "objects" and isinstance(value, float) and value != value)


def _check_logs(raw: pd.DataFrame, rows: list[dict], numeric: list[str], other: list[str], watch: bool, storage: str):
    v = validate_logs(raw, numeric_columns=numeric, other_numeric_columns=other, week_start=pd.Timestamp(WEEK_START),
                      week_end=pd.Timestamp(WEEK_END), known_subscribers=np.array(KNOWN_USERS, np.int64),
                      known_programs=np.array(KNOWN_PROGRAMS, np.int64), check_runtime=watch)
    assert len(v.rows) + len(v.quarantined) == len(raw) == len(v.kept)
    assert int(v.kept.sum()) == len(v.rows) and sum(v.counts.values()) == len(v.quarantined)
    assert set(v.quarantined["reason"]) <= set(RULES)
    assert v.rows["subsr_id"].dtype == np.int64 and v.rows["program_id"].dtype == np.int64
    kept_rows = [r for r, k in zip(rows, v.kept) if k]
    for got, row in zip(v.rows.itertuples(index=False), kept_rows):
        assert got.subsr_id == oracle_id(row["subsr_id"]) and got.program_id == oracle_id(row["program_id"])
        assert not any(is_non_finite(row[c]) for c in numeric + other)
        when = oracle_seoul(row["log_dt"])
        if when is not None:  # what Python's ISO 8601 reader says, zoned ones in Seoul time
            assert pd.Timestamp(got.log_dt) == pd.Timestamp(when)
        assert pd.Timestamp(WEEK_START) <= pd.Timestamp(got.log_dt) < pd.Timestamp(WEEK_END)
    reasons = iter(v.quarantined["reason"])
    for row, k in zip(rows, v.kept):
        if k:
            continue
        reason = next(reasons)
        if oracle_id(row["subsr_id"]) is None or oracle_id(row["program_id"]) is None:
            assert reason in PARSE_REASONS, (reason, row["subsr_id"], row["program_id"])
        if any(_non_finite_present(row[c], storage) for c in numeric + other):
            assert reason in PARSE_REASONS, (reason, row)
    return v


@given(watches=st.lists(log_rows(True), max_size=25), clicks=st.lists(log_rows(False), max_size=25),
       picks=st.lists(st.integers(0, 30), max_size=3), storage=st.sampled_from(["text", "objects"]))
def test_any_week_of_logs_is_accounted_for_with_exact_ids(watches, clicks, picks, storage):
    watches, clicks = _with_duplicates(watches, picks), _with_duplicates(clicks, picks)
    w = _check_logs(_frame(watches, WATCH_COLUMNS, storage), watches, WATCH_NUMERIC, WATCH_OTHER_NUMERIC, True, storage)
    c = _check_logs(_frame(clicks, CLICK_COLUMNS, storage), clicks, CLICK_NUMERIC, CLICK_OTHER_NUMERIC, False, storage)
    stats = weekly_pair_stats(w.rows, c.rows)
    excluded = stats.counts["excluded_e_bool_watch_rows"] + stats.counts["excluded_e_bool_click_rows"]
    repaired = stats.counts["repaired_ratio_above_one"]
    unchanged = len(w.rows) + len(c.rows) - excluded - repaired
    assert len(watches) + len(clicks) == unchanged + repaired + excluded + len(w.quarantined) + len(c.quarantined)
    TALLY.update({"core_log_examples": 1, "core_log_rows": len(watches) + len(clicks), "core_kept_unchanged": unchanged,
                  "core_kept_repaired": repaired, "core_excluded_e_bool": excluded})
    for v in (w, c):
        TALLY.update({f"core_quarantined_{r}": n for r, n in v.counts.items() if n})
    # the reduction loses no usable row and invents no id
    assert int(stats.pairs["watch_cnt"].sum()) == int((w.rows["e_bool"] == 0).sum())
    assert int(stats.pairs["click_cnt"].sum()) == int((c.rows["e_bool"] == 0).sum())
    ids = set(zip(w.rows["subsr_id"], w.rows["program_id"])) | set(zip(c.rows["subsr_id"], c.rows["program_id"]))
    assert set(zip(stats.pairs["subsr_id"], stats.pairs["program_id"])) <= ids


@given(users=st.lists(subscriber_rows, max_size=25), programs=st.lists(program_rows, max_size=25),
       storage=st.sampled_from(["text", "objects"]))
def test_any_reference_table_is_accounted_for_with_exact_ids(users, programs, storage):
    for rows, id_column, numeric in ((users, "subsr_id", []),
                                     (programs, "program_id", ["age_limit", "disp_rtm_sec", "episode_count", "e_bool"])):
        columns = list(rows[0]) if rows else [id_column]
        raw = _frame(rows, columns, storage)
        v = validate_reference(raw, id_column, numeric)
        assert len(v.rows) + len(v.quarantined) == len(raw) and sum(v.counts.values()) == len(v.quarantined)
        kept = [r for r, k in zip(rows, v.kept) if k]
        assert v.rows[id_column].tolist() == [oracle_id(r[id_column]) for r in kept]
        assert v.rows[id_column].is_unique
        assert not any(_non_finite_present(r[c], storage) for r in kept for c in numeric)
        TALLY.update({"core_reference_rows": len(raw), "core_reference_kept": len(v.rows),
                      **{f"core_reference_quarantined_{r}": n for r, n in v.counts.items() if n}})
