"""Exact fast paths for validating a week's raw log rows (docs/performance.md, "clean").

Each function gives exactly what the pandas call named in its docstring gives. The common shape of
a value (plain digits, a `YYYY-MM-DD hh:mm:ss` timestamp) is parsed in Arrow's compiled kernels,
and every other value goes through the pandas call itself, so unusual text keeps pandas' meaning.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vodrec_assets.recsys.matrix import lookup
from vodrec_assets.settings import TIMEZONE

# What parsing a value gave; the cleaning rules turn each outcome into a quarantine reason.
OK, NULL, NON_NUMERIC, NON_FINITE, OUT_OF_RANGE, FRACTIONAL = range(6)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Integers of at most 15 digits (exact in float64), optionally written as a float ("1234.0"): the text
# of an INTEGER or REAL value as ingestion stores it from SQLite (read_window_text, or a column that
# mixes in text).
_PLAIN_NUMBER = r"^(-?[1-9][0-9]{0,14}|0)(\.0)?$"  # no "-0": pandas reads it as 0
# The generator's and importer's format, with every field in range; a day past the end of its month
# is caught after parsing. Years 1900-2099 stay well inside datetime64[ns].
_PLAIN_TIMESTAMP = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
LOG_DT_FORMAT = "%Y-%m-%d %H:%M:%S"
# At most 18 digits: always inside int64, whatever they are.
_DIGITS_ONLY = r"^-?[0-9]{1,18}$"  # the rest ("123.0", SQLite's text of a REAL id, included) value by value
# A date and time followed by a zone: Z, +09:00, +0900, -05 (ISO 8601's forms).
_ZONED = r"^\s*[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[T ][0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(Z|[+-][0-9]{2}(:?[0-9]{2})?)\s*$"


def _arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    """The series as Arrow strings when it holds only text and nulls (pandas' string dtypes), else None."""
    if not isinstance(series.dtype, pd.StringDtype):
        return None
    values = pa.array(series.array)  # Arrow-backed: no copy; an Array or a ChunkedArray
    return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])


def _to_numpy_bool(values: pa.ChunkedArray) -> np.ndarray:
    return values.fill_null(False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def numeric_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """`pd.to_numeric(series, errors="coerce").astype("float64")` as an array, and the mask of values
    present but not numbers. Numeric columns are converted directly; text columns have their plain
    numbers parsed by Arrow and the rest by pandas."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype="float64", na_value=np.nan), np.zeros(len(series), bool)
    text = _arrow_strings(series)
    if text is None:  # mixed Python objects: pandas decides each one
        parsed = pd.to_numeric(series, errors="coerce").astype("float64")
        return parsed.to_numpy(), (parsed.isna() & series.notna()).to_numpy()
    plain = pc.match_substring_regex(text, _PLAIN_NUMBER)
    plain_mask = _to_numpy_bool(plain)
    values = pc.cast(pc.if_else(plain, text, pa.scalar(None, text.type)), pa.float64())
    out = values.to_numpy().astype(np.float64, copy=True)  # nulls -> NaN
    other = np.flatnonzero(~plain_mask & series.notna().to_numpy())
    bad = np.zeros(len(series), bool)
    if len(other):
        rest = pd.to_numeric(series.iloc[other].astype(object), errors="coerce").astype("float64").to_numpy()
        out[other] = rest
        bad[other] = np.isnan(rest)
    return out, bad


def _as_ns(values: np.ndarray) -> np.ndarray:
    """datetime64 of any unit as datetime64[ns], clamped to the range that unit can hold."""
    unit, _ = np.datetime_data(values.dtype)
    per = int(np.timedelta64(1, unit) // np.timedelta64(1, "ns"))
    lo = -((-(np.iinfo(np.int64).min + 1)) // per)  # the smallest of the unit that fits in ns (NaT excluded)
    hi = np.iinfo(np.int64).max // per
    ticks = values.view(np.int64)
    out = np.clip(ticks, lo, hi) * per
    out[np.isnat(values)] = np.iinfo(np.int64).min
    return out.view("datetime64[ns]")


def _one_datetime(value: str) -> np.datetime64:
    """One value the vectorized parse could not settle: ISO 8601, zoned or not (NaT if no datetime)."""
    try:
        stamp = pd.to_datetime(value, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return np.datetime64("NaT", "ns")
    if pd.isna(stamp):
        return np.datetime64("NaT", "ns")
    try:
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert(TIMEZONE).tz_localize(None)
        return _as_ns(np.array([stamp.to_datetime64()]))[0]
    except (ValueError, OverflowError):  # a zone moved it past what pandas can hold: no datetime
        return np.datetime64("NaT", "ns")


def _iso_datetimes(text: pd.Series, zoned: bool) -> np.ndarray:
    """ISO 8601 text as naive Seoul wall time: zoned text converted from its offset, the rest as written.
    Value by value when pandas refuses the batch (a zone where none was expected)."""
    try:
        with np.errstate(all="ignore"):
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=zoned)
            if zoned:
                parsed = parsed.dt.tz_convert(TIMEZONE).dt.tz_localize(None)
            if getattr(parsed.dt, "tz", None) is None:
                return _as_ns(parsed.to_numpy())
    except (ValueError, TypeError, OverflowError):
        pass
    return np.array([_one_datetime(v) for v in text], dtype="datetime64[ns]")


def _pandas_log_dt(text: pd.Series) -> np.ndarray:
    """The reference: the exact format first, then ISO 8601 for what it could not read. A zoned value
    (`+09:00`, `Z`, `+0900`) is converted to Asia/Seoul wall time, the time every other value is written
    in. A date that datetime64[ns] cannot hold (a clock at year 1600 or 3000) is clamped to its range:
    it stays a date outside every week instead of an overflow."""
    parsed = _as_ns(pd.to_datetime(text, format=LOG_DT_FORMAT, errors="coerce").to_numpy())
    retry = np.flatnonzero(np.isnat(parsed) & text.notna().to_numpy())
    if len(retry):
        rest = text.iloc[retry]
        zoned = rest.str.match(_ZONED).fillna(False).to_numpy(bool)
        for mask, is_zoned in ((zoned, True), (~zoned, False)):
            if mask.any():
                parsed[retry[mask]] = _iso_datetimes(rest[mask], is_zoned)
    return parsed


def log_dt_values(series: pd.Series) -> np.ndarray:
    """`log_dt` (or any datetime column) as naive Asia/Seoul datetime64[ns], NaT where it is no datetime:
    `pd.to_datetime` with the exact format, then ISO 8601 for the rest, as `_pandas_log_dt` (zoned
    values converted to Seoul time). Timestamps in the exact format with every field in range are
    parsed by Arrow; the others by pandas."""
    if pd.api.types.is_datetime64_any_dtype(series):
        s = series.dt.tz_convert(TIMEZONE).dt.tz_localize(None) if getattr(series.dt, "tz", None) is not None else series
        return _as_ns(s.to_numpy())
    text = _arrow_strings(series)
    if text is None:
        return _pandas_log_dt(series.astype("string"))
    plain = pc.match_substring_regex(text, _PLAIN_TIMESTAMP)
    plain_text = pc.if_else(plain, text, pa.scalar(None, text.type))
    stamps = pc.strptime(plain_text, format=LOG_DT_FORMAT, unit="ns", error_is_null=True)
    # strptime accepts day 31 of any month and rolls it over: keep only dates that read back the same.
    same_day = pc.equal(pc.day(stamps), pc.cast(pc.utf8_slice_codeunits(plain_text, 8, 10), pa.int64()))
    parsed = _to_numpy_bool(pc.and_kleene(plain, same_day))
    out = stamps.to_numpy().astype("datetime64[ns]")
    other = np.flatnonzero(~parsed & series.notna().to_numpy())
    out[~parsed] = np.datetime64("NaT")
    if len(other):
        out[other] = _pandas_log_dt(series.iloc[other].astype("string"))
    return out


datetime_values = log_dt_values  # join_dt, churn_dt, release_date follow the same rule


def number_flags(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the values that are text but no number, and of the infinities and NaNs, of a column whose
    values are not used: `numeric_values` + `non_finite`, with the numbers built only where the text is
    not up to 15 plain ASCII digits."""
    text = _arrow_strings(series)
    if text is None:
        values, bad = numeric_values(series)
        infinite = non_finite(series, values, bad)
        return bad & ~infinite, infinite
    # Plain digits (what these columns hold) need no regex: ascii_is_decimal is one pass of byte tests.
    plain = pc.and_(pc.ascii_is_decimal(text), pc.less_equal(pc.utf8_length(text), 15))  # "9" * 400 is inf
    other = np.flatnonzero(~_to_numpy_bool(plain) & series.notna().to_numpy())
    non_numeric = np.zeros(len(series), bool)
    infinite = np.zeros(len(series), bool)
    if len(other):
        rest = series.iloc[other]
        values, bad = numeric_values(rest.astype(object))
        nonfinite = non_finite(rest, values, bad)
        non_numeric[other], infinite[other] = bad & ~nonfinite, nonfinite
    return non_numeric, infinite


def _is_infinite_or_nan_text(value: object) -> bool:
    try:
        return not np.isfinite(float(str(value)))
    except (ValueError, OverflowError):
        return False


def non_finite(series: pd.Series, values: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """Of `numeric_values(series)` = (values, bad): the values that are numbers but not finite. An
    infinity however written (`inf`, `Infinity`, `-inf`, `1e999`) parses to one; `NaN` text, and digits
    too many for pandas, parse to NaN like junk does: those few are told apart by Python's float()."""
    out = np.isinf(values)
    if series.dtype == object:  # a driver's float NaN is a value that is no number; None is NULL
        empty = np.flatnonzero(np.isnan(values) & ~bad)  # read as NULL: the few to tell apart
        if len(empty):
            out[empty] = [isinstance(v, float) and v != v for v in series.iloc[empty].tolist()]
    maybe = np.flatnonzero(bad)
    if len(maybe):
        out[maybe] = [_is_infinite_or_nan_text(v) for v in series.iloc[maybe].tolist()]
    return out


_FLOAT_EXACT = 2.0**53  # beyond it a float names no single integer (2^53 + 1 has no float of its own)


def _integer_of_text(text: str) -> tuple[int, int]:
    """(value, outcome) of one id written as text. Digits alone are an exact integer, however many
    (no float in between). Text with a fraction or an exponent is a float's text (SQLite's text of a
    REAL): a whole one is an id up to 2^53 and out of range beyond, where it names no single integer."""
    stripped = text.strip()
    if not stripped or "_" in stripped:  # Decimal takes 1_000; no database writes it
        return 0, NON_NUMERIC
    try:
        number = Decimal(stripped)
    except (InvalidOperation, ValueError):
        return 0, NON_NUMERIC
    if number.is_nan() or number.is_infinite():
        return 0, NON_FINITE
    if number.adjusted() >= 19:  # |number| >= 10^19 > 2^63: no need to build a 5,000-digit int
        return 0, OUT_OF_RANGE
    if number != number.to_integral_value():
        return 0, FRACTIONAL
    value = int(number)
    written_as_integer = stripped.lstrip("+-").isdigit()
    if not written_as_integer and abs(value) > _FLOAT_EXACT:
        return 0, OUT_OF_RANGE
    return (value, OK) if INT64_MIN <= value <= INT64_MAX else (0, OUT_OF_RANGE)


def _integer_of_object(value: object) -> tuple[int, int]:
    if value is None or value is pd.NA or value is pd.NaT:
        return 0, NULL
    if isinstance(value, (bool, np.bool_)):
        return int(value), OK
    if isinstance(value, (int, np.integer)):
        value = int(value)
        return (value, OK) if INT64_MIN <= value <= INT64_MAX else (0, OUT_OF_RANGE)
    if isinstance(value, (float, np.floating)):
        values, outcome = _integers_of_floats(np.array([value], np.float64))
        return int(values[0]), int(outcome[0])
    if isinstance(value, (str, Decimal)):
        return _integer_of_text(str(value))
    if isinstance(value, bytes):
        try:
            return _integer_of_text(value.decode())
        except UnicodeDecodeError:
            return 0, NON_NUMERIC
    return 0, NON_NUMERIC


def _integers_of_floats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    outcome = np.zeros(len(values), np.uint8)
    outcome[np.isnan(values)] = NULL
    outcome[np.isinf(values)] = NON_FINITE
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        outcome[finite & (values != np.floor(values))] = FRACTIONAL
        outcome[(outcome == OK) & (np.abs(values) > _FLOAT_EXACT)] = OUT_OF_RANGE
    out = np.zeros(len(values), np.int64)
    ok = outcome == OK
    out[ok] = values[ok].astype(np.int64)
    return out, outcome


def integer_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Ids as exact signed 64-bit integers, and each value's outcome (OK, NULL, NON_NUMERIC, NON_FINITE,
    OUT_OF_RANGE, FRACTIONAL); 0 where not OK. Never through float64, which would merge 2^53 and
    2^53 + 1: integer columns are taken as they are, text of at most 18 digits is cast by Arrow and
    any other value is read exactly by itself (Python's Decimal)."""
    n = len(series)
    dtype = series.dtype
    if pd.api.types.is_integer_dtype(dtype):
        missing = series.isna().to_numpy()
        unsigned = pd.api.types.is_unsigned_integer_dtype(dtype)
        raw = series.to_numpy(np.uint64 if unsigned else np.int64, na_value=0)
        outcome = np.where(missing, NULL, OK).astype(np.uint8)
        if unsigned:  # BIGINT UNSIGNED: above 2^63 - 1 is out of range
            outcome[raw > np.uint64(INT64_MAX)] = OUT_OF_RANGE
        values = np.where(outcome == OK, raw, 0).astype(np.int64)
        return values, outcome
    if pd.api.types.is_float_dtype(dtype):
        return _integers_of_floats(series.to_numpy(np.float64, na_value=np.nan))
    text = _arrow_strings(series)
    if text is None:
        pairs = [_integer_of_object(v) for v in series.astype(object)]
        return (np.fromiter((v for v, _ in pairs), np.int64, n),
                np.fromiter((o for _, o in pairs), np.uint8, n))
    short = pc.match_substring_regex(text, _DIGITS_ONLY)
    # fill_null before to_numpy: a null would turn the array into float64.
    values = pc.cast(pc.if_else(short, text, pa.scalar(None, text.type)), pa.int64()).fill_null(0).to_numpy()
    values = values.astype(np.int64, copy=True)
    outcome = np.where(series.isna().to_numpy(), NULL, OK).astype(np.uint8)
    other = np.flatnonzero(~_to_numpy_bool(short) & (outcome == OK))
    for i, value in zip(other, series.iloc[other].tolist()):
        values[i], outcome[i] = _integer_of_text(value)
    return values, outcome


def is_in(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`np.isin(values, known)` for int64 ids, through `matrix.lookup` (a table of positions over the
    ids' span when it is small, else a binary search)."""
    ids = np.sort(np.asarray(known, dtype=np.int64))
    if not len(ids):
        return np.zeros(len(values), bool)
    ids = ids[np.r_[True, ids[1:] != ids[:-1]]]  # sorted, unique (np.unique hashes: far slower here)
    return lookup(ids, np.asarray(values, dtype=np.int64)) >= 0


_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9))


def duplicate_rows(raw: pd.DataFrame, *keys: np.ndarray) -> np.ndarray:
    """Rows equal in every column to an earlier row, as
    `pd.util.hash_pandas_object(raw, index=False).duplicated(keep="first")` marks them.

    Equal raw rows parse to equal `keys` (the parsed ids and log_dt, float64 / datetime64 arrays), so
    only rows whose keys repeat can be duplicates: those few are hashed in full, in their order."""
    if not len(raw):
        return np.zeros(0, bool)
    mixed = np.zeros(len(raw), np.uint64)
    with np.errstate(over="ignore"):
        for key, factor in zip(keys, _MIX):
            bits = np.asarray(key).view(np.uint64).copy()
            if key.dtype.kind in "fM":
                bits[np.isnan(key) if key.dtype.kind == "f" else np.isnat(key)] = 0  # one NaN / NaT pattern
            mixed = (mixed ^ bits) * factor
    candidates = np.flatnonzero(pd.Series(mixed).duplicated(keep=False).to_numpy())
    out = np.zeros(len(raw), bool)
    if len(candidates):
        hashed = pd.util.hash_pandas_object(raw.iloc[candidates], index=False)
        out[candidates] = hashed.duplicated(keep="first").to_numpy()
    return out
