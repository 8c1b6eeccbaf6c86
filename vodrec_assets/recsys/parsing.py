"""Exact fast paths for validating a week's raw log rows (docs/performance.md, "clean").

Each function gives exactly what the pandas call named in its docstring gives. The common shape of
a value (plain digits, a `YYYY-MM-DD hh:mm:ss` timestamp) is parsed in Arrow's compiled kernels,
and every other value goes through the pandas call itself, so unusual text keeps pandas' meaning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from vodrec_assets.recsys.matrix import lookup

# Integers of at most 15 digits (exact in float64), optionally written as a float ("1234.0"): the text
# of an INTEGER or REAL value as ingestion stores it from SQLite (read_window_text, or a column that
# mixes in text).
_PLAIN_NUMBER = r"^(-?[1-9][0-9]{0,14}|0)(\.0)?$"  # no "-0": pandas reads it as 0
# The generator's and importer's format, with every field in range; a day past the end of its month
# is caught after parsing. Years 1900-2099 stay well inside datetime64[ns].
_PLAIN_TIMESTAMP = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
LOG_DT_FORMAT = "%Y-%m-%d %H:%M:%S"


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


def _pandas_log_dt(text: pd.Series) -> np.ndarray:
    """The reference: the exact format first, then ISO 8601 for what it could not read. A date that
    datetime64[ns] cannot hold (a clock at year 1600 or 3000) is clamped to its range: it stays a
    date outside every week instead of an overflow."""
    parsed = _as_ns(pd.to_datetime(text, format=LOG_DT_FORMAT, errors="coerce").to_numpy())
    retry = np.isnat(parsed) & text.notna().to_numpy()
    if retry.any():
        parsed[retry] = _as_ns(pd.to_datetime(text[retry], format="ISO8601", errors="coerce").to_numpy())
    return parsed


def log_dt_values(series: pd.Series) -> np.ndarray:
    """`log_dt` as datetime64[ns] (NaT where it is no datetime): `pd.to_datetime` with the exact format,
    then ISO 8601 for the rest, as `_pandas_log_dt`. Timestamps in the exact format with every field
    in range are parsed by Arrow; the others by pandas."""
    if pd.api.types.is_datetime64_any_dtype(series):
        s = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) is not None else series
        return s.to_numpy(dtype="datetime64[ns]")
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


def is_in(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`pd.Series(values).isin(known)` for float ids (NaN is never in). When every known id is a whole
    number, whole values are found with `matrix.lookup` (a table of positions over the ids' span);
    else pandas' hash table."""
    table = np.asarray(known, dtype=np.float64)
    table = table[~np.isnan(table)]
    if not len(table):
        return np.zeros(len(values), bool)
    if not ((table == np.floor(table)).all() and np.abs(table).max() < 2**62):
        return pd.Series(values).isin(table).to_numpy()
    ids = np.sort(table.astype(np.int64))
    ids = ids[np.r_[True, ids[1:] != ids[:-1]]]  # sorted, unique (np.unique hashes: far slower here)
    whole = np.isfinite(values) & (values == np.floor(values)) & (np.abs(values) < 2**62)
    found = np.zeros(len(values), bool)
    found[whole] = lookup(ids, values[whole].astype(np.int64)) >= 0
    return found


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
            bits[np.isnan(key) if key.dtype.kind == "f" else np.isnat(key)] = 0  # one NaN / NaT pattern
            mixed = (mixed ^ bits) * factor
    candidates = np.flatnonzero(pd.Series(mixed).duplicated(keep=False).to_numpy())
    out = np.zeros(len(raw), bool)
    if len(candidates):
        hashed = pd.util.hash_pandas_object(raw.iloc[candidates], index=False)
        out[candidates] = hashed.duplicated(keep="first").to_numpy()
    return out
