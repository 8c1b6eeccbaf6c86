"""A week's raw rows (and the reference tables' rows) validated: each unusable row quarantined with the
first rule it breaks (cleaning_rules.RULES), never dropped silently."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from vodrec_assets.recsys.parsing import (
    FRACTIONAL, NON_FINITE, NON_NUMERIC, NULL, OUT_OF_RANGE, duplicate_rows, integer_values, is_in, log_dt_values,
    non_finite, number_flags, numeric_values,
)
from vodrec_assets.recsys.cleaning_rules import ID_COLUMNS, REASONS

# Parse outcome of an id -> its reason.
_ID_REASON = {NULL: "null_id", NON_NUMERIC: "non_numeric", NON_FINITE: "non_finite", OUT_OF_RANGE: "out_of_range",
              FRACTIONAL: "fractional_id"}


@dataclass
class ValidatedLogs:
    """Usable rows (typed), quarantined rows (raw values as text + `reason`), and counts. `kept` marks
    the raw rows that are usable: `rows` are the raw rows where it is true, in order, the quarantined
    ones the others."""

    rows: pd.DataFrame
    quarantined: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    kept: np.ndarray | None = None


class _Reasons:
    """Each row's reason as a small integer code while the rules run (0 = usable so far, i + 1 =
    REASONS[i]); the first rule that applies wins."""

    def __init__(self, n: int):
        self.code = np.zeros(n, np.uint8)

    def mark(self, mask: np.ndarray, name: str) -> None:
        self.code[mask & (self.code == 0)] = REASONS.index(name) + 1

    def mark_parse_outcomes(self, id_outcomes: list[np.ndarray], non_numeric: np.ndarray,
                            infinite: np.ndarray) -> None:
        """The parsing rules (null_id .. fractional_id) in REASONS' order, over every id column and the
        other numeric columns' masks."""
        extra = {"non_numeric": non_numeric, "non_finite": infinite}
        for outcome, name in sorted(_ID_REASON.items(), key=lambda item: REASONS.index(item[1])):
            mask = np.logical_or.reduce([o == outcome for o in id_outcomes])
            self.mark(mask | extra[name] if name in extra else mask, name)

    def split(self, raw: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame, dict[str, int]]:
        """The usable rows' mask, the others as text with their reason, and the count of each reason."""
        good = self.code == 0
        bad_rows = np.flatnonzero(~good)
        quarantined = raw.iloc[bad_rows].astype("string")
        quarantined.insert(0, "reason", np.asarray(REASONS, dtype=object)[self.code[bad_rows] - 1])
        tally = np.bincount(self.code, minlength=len(REASONS) + 1)
        counts = {name: int(tally[i + 1]) for i, name in enumerate(REASONS)}
        return good, quarantined.reset_index(drop=True), counts


def _numbers(raw: pd.DataFrame, columns: list[str]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Each column's float values, and the masks of rows holding text that is no number in any of
    them, and an infinity or NaN in any of them."""
    parsed: dict[str, np.ndarray] = {}
    non_numeric = np.zeros(len(raw), dtype=bool)
    infinite = np.zeros(len(raw), dtype=bool)
    for col in columns:
        parsed[col], bad = numeric_values(raw[col])
        nonfinite = non_finite(raw[col], parsed[col], bad)
        non_numeric |= bad & ~nonfinite
        infinite |= nonfinite
    return parsed, non_numeric, infinite


def validate_logs(
    raw: pd.DataFrame,
    *,
    numeric_columns: list[str],
    week_start: pd.Timestamp,
    week_end: pd.Timestamp,
    known_subscribers: np.ndarray,
    known_programs: np.ndarray,
    check_runtime: bool,
    other_numeric_columns: list[str] = (),
) -> ValidatedLogs:
    """Split a week's raw log rows into usable rows and quarantined rows with their reason (RULES).

    Ids are read as exact int64 (`integer_values`); the other numbers as floats through `parsing`'s
    exact fast paths. `other_numeric_columns` are not used but must hold finite numbers or NULL."""
    reasons = _Reasons(len(raw))
    subsr, subsr_outcome = integer_values(raw["subsr_id"])
    program, program_outcome = integer_values(raw["program_id"])
    value_columns = [c for c in numeric_columns if c not in ID_COLUMNS]
    parsed, non_numeric, infinite = _numbers(raw, value_columns)
    for col in (c for c in other_numeric_columns if c in raw):
        junk, nonfinite = number_flags(raw[col])
        non_numeric |= junk
        infinite |= nonfinite
    log_dt = log_dt_values(raw["log_dt"])

    reasons.mark_parse_outcomes([subsr_outcome, program_outcome], non_numeric, infinite)
    missing = raw["log_dt"].isna().to_numpy().copy()
    for col in value_columns:
        missing |= raw[col].isna().to_numpy()
    reasons.mark(missing, "null_value")
    nat = np.isnat(log_dt)
    reasons.mark(nat, "unparsable_log_dt")
    reasons.mark(~nat & ((log_dt < week_start.to_datetime64()) | (log_dt >= week_end.to_datetime64())),
                 "log_dt_outside_week")
    e_bool = parsed["e_bool"]
    reasons.mark(~((e_bool == 0.0) | (e_bool == 1.0)), "bad_e_bool")
    reasons.mark(~is_in(subsr, known_subscribers), "unknown_subscriber")
    reasons.mark(~is_in(program, known_programs), "unknown_program")
    if check_runtime:
        runtime, use = parsed["disp_rtm_sec"], parsed["use_tms"]
        reasons.mark(~(runtime > 0), "nonpositive_runtime")  # NaN included
        reasons.mark(~(use >= 0), "negative_use_tms")
    # Exact duplicates of a row (every raw column equal): the first copy is kept. Rows are compared
    # by a 64-bit hash of all their values; a collision would only quarantine a row, never lose it.
    reasons.mark(duplicate_rows(raw, subsr, program, log_dt), "duplicate")

    good, quarantined, counts = reasons.split(raw)
    rows = pd.DataFrame({"subsr_id": subsr[good], "program_id": program[good], "log_dt": log_dt[good],
                         "e_bool": e_bool[good].astype("int8")})
    if check_runtime:
        rows["use_tms"] = parsed["use_tms"][good]
        rows["disp_rtm_sec"] = parsed["disp_rtm_sec"][good]
    return ValidatedLogs(rows=rows, quarantined=quarantined, counts=counts, kept=good)


def validate_reference(raw: pd.DataFrame, id_column: str, numeric_columns: list[str] = ()) -> ValidatedLogs:
    """The catalogue (`vodinfo`) or the subscribers (`userinfo`): rows whose id is NULL (`null_id`), not a
    number (`non_numeric`), not finite, outside int64 or not whole, rows with an infinity or NaN in one
    of `numeric_columns` (`non_finite`), and rows repeating an earlier row's id (`duplicate_id`, the
    first row is kept) are quarantined; the rest keep their columns, with the id as exact int64."""
    reasons = _Reasons(len(raw))
    ids, outcome = integer_values(raw[id_column])
    _, _, infinite = _numbers(raw, [c for c in numeric_columns if c in raw])
    reasons.mark_parse_outcomes([outcome], np.zeros(len(raw), bool), infinite)
    usable = np.flatnonzero(reasons.code == 0)
    repeated = np.zeros(len(raw), bool)
    repeated[usable] = pd.Series(ids[usable]).duplicated(keep="first").to_numpy()
    reasons.mark(repeated, "duplicate_id")
    good, quarantined, counts = reasons.split(raw)
    rows = raw.loc[good].copy()
    rows[id_column] = ids[good]
    return ValidatedLogs(rows=rows.reset_index(drop=True), quarantined=quarantined, counts=counts, kept=good)


