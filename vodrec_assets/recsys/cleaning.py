"""The original's cleaning, made decomposable and vectorized.

A week's raw rows are validated once (bad rows quarantined with a reason, never dropped silently)
and reduced to per-(subscriber, program) statistics. A lookback window is then a merge of weekly
statistics: best watch ratio = max of maxima, counts = sums, latest click = latest of latests.
The 95th-percentile caps and the click recency apply after the merge, as in the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

WATCH_COLUMNS = ["subsr_id", "program_id", "program_name", "episode_num", "log_dt", "use_tms",
                 "disp_rtm_sec", "count_watch", "month", "e_bool"]
CLICK_COLUMNS = ["subsr_id", "program_id", "program_name", "episode_num", "log_dt", "month", "e_bool"]
WATCH_NUMERIC = ["subsr_id", "program_id", "use_tms", "disp_rtm_sec", "e_bool"]
CLICK_NUMERIC = ["subsr_id", "program_id", "e_bool"]

PAIR_STATS_COLUMNS = ["subsr_id", "program_id", "watch_max_ratio", "watch_cnt", "click_cnt", "last_click_dt"]
RATING_COLUMNS = ["subsr_id", "program_id", "click_cnt", "click_recency", "watch_tms_max", "watch_cnt",
                  "rating", "watched"]
CAP_QUANTILE = 0.95
LOG_DT_FORMAT = "%Y-%m-%d %H:%M:%S"

# Quarantine reasons, in the order they are tested: a row gets the first that applies.
REASONS = (
    "null_id",
    "non_numeric",
    "null_value",
    "unparsable_log_dt",
    "log_dt_outside_week",
    "bad_e_bool",
    "unknown_subscriber",
    "unknown_program",
    "nonpositive_runtime",
    "negative_use_tms",
    "duplicate",
    "duplicate_id",
)
ID_COLUMNS = ("subsr_id", "program_id")


@dataclass
class ValidatedLogs:
    """Usable rows (typed), quarantined rows (raw values as text + `reason`), and counts."""

    rows: pd.DataFrame
    quarantined: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)


def _numeric(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parsed float values, and a mask of values that were present but not numbers."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.astype("float64"), pd.Series(False, index=series.index)
    parsed = pd.to_numeric(series, errors="coerce")
    bad = parsed.isna() & series.notna()
    return parsed.astype("float64"), bad


def _parse_log_dt(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        return series.dt.tz_localize(None) if getattr(series.dt, "tz", None) is not None else series
    text = series.astype("string")
    # SQLite keeps what it was given; the generator and importer write this exact format.
    parsed = pd.to_datetime(text, format=LOG_DT_FORMAT, errors="coerce")
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], format="ISO8601", errors="coerce")
    return parsed.astype("datetime64[ns]")


def validate_logs(
    raw: pd.DataFrame,
    *,
    numeric_columns: list[str],
    week_start: pd.Timestamp,
    week_end: pd.Timestamp,
    known_subscribers: np.ndarray,
    known_programs: np.ndarray,
    check_runtime: bool,
) -> ValidatedLogs:
    """Split a week's raw log rows into usable rows and quarantined rows with their reason."""
    n = len(raw)
    reason = np.full(n, "", dtype=object)

    def mark(mask: np.ndarray | pd.Series, name: str) -> None:
        m = np.asarray(mask, dtype=bool) & (reason == "")
        reason[m] = name

    parsed: dict[str, pd.Series] = {}
    non_numeric = np.zeros(n, dtype=bool)
    for col in numeric_columns:
        values, bad = _numeric(raw[col])
        parsed[col] = values
        non_numeric |= bad.to_numpy()
    log_dt = _parse_log_dt(raw["log_dt"])

    mark(raw["subsr_id"].isna().to_numpy() | raw["program_id"].isna().to_numpy(), "null_id")
    mark(non_numeric, "non_numeric")
    missing = raw["log_dt"].isna().to_numpy().copy()
    for col in numeric_columns:
        if col not in ID_COLUMNS:
            missing |= raw[col].isna().to_numpy()
    mark(missing, "null_value")
    mark(log_dt.isna().to_numpy(), "unparsable_log_dt")
    mark(((log_dt < week_start) | (log_dt >= week_end)).to_numpy(), "log_dt_outside_week")
    e_bool = parsed["e_bool"]
    mark(~e_bool.isin([0.0, 1.0]).to_numpy(), "bad_e_bool")
    subsr = parsed["subsr_id"]
    program = parsed["program_id"]
    mark(~subsr.isin(known_subscribers).to_numpy(), "unknown_subscriber")
    mark(~program.isin(known_programs).to_numpy(), "unknown_program")
    if check_runtime:
        mark((parsed["disp_rtm_sec"] <= 0).to_numpy() | parsed["disp_rtm_sec"].isna().to_numpy(), "nonpositive_runtime")
        mark((parsed["use_tms"] < 0).to_numpy() | parsed["use_tms"].isna().to_numpy(), "negative_use_tms")
    # Exact duplicates of a row (every raw column equal): the first copy is kept. Rows are compared
    # by a 64-bit hash of all their values; a collision would only quarantine a row, never lose it.
    row_hash = pd.util.hash_pandas_object(raw, index=False).to_numpy()
    mark(pd.Series(row_hash).duplicated(keep="first").to_numpy(), "duplicate")

    good = reason == ""
    rows = pd.DataFrame(
        {
            "subsr_id": subsr[good].astype("int64").to_numpy(),
            "program_id": program[good].astype("int64").to_numpy(),
            "log_dt": log_dt[good].to_numpy(),
            "e_bool": e_bool[good].astype("int8").to_numpy(),
        }
    )
    if check_runtime:
        rows["use_tms"] = parsed["use_tms"][good].to_numpy()
        rows["disp_rtm_sec"] = parsed["disp_rtm_sec"][good].to_numpy()
    quarantined = raw.loc[~good].astype("string")
    quarantined.insert(0, "reason", reason[~good])
    counts = {name: int((reason == name).sum()) for name in REASONS}
    return ValidatedLogs(rows=rows, quarantined=quarantined.reset_index(drop=True), counts=counts)


def validate_reference(raw: pd.DataFrame, id_column: str) -> ValidatedLogs:
    """The catalogue (`vodinfo`) or the subscribers (`userinfo`): rows whose id is NULL (`null_id`), not a
    number (`non_numeric`) or repeats an earlier row's id (`duplicate_id`, the first row is kept) are
    quarantined; the rest keep their columns, with the id as int64."""
    n = len(raw)
    reason = np.full(n, "", dtype=object)
    ids, bad = _numeric(raw[id_column])
    whole = ids.notna() & (ids % 1 == 0)
    reason[raw[id_column].isna().to_numpy()] = "null_id"
    reason[(reason == "") & (bad.to_numpy() | (ids.notna() & ~whole).to_numpy())] = "non_numeric"
    reason[(reason == "") & ids.duplicated(keep="first").to_numpy()] = "duplicate_id"
    good = reason == ""
    rows = raw.loc[good].copy()
    rows[id_column] = ids[good].astype("int64")
    quarantined = raw.loc[~good].astype("string")
    quarantined.insert(0, "reason", reason[~good])
    counts = {name: int((reason == name).sum()) for name in REASONS}
    return ValidatedLogs(rows=rows.reset_index(drop=True), quarantined=quarantined.reset_index(drop=True), counts=counts)


@dataclass
class WeekStats:
    pairs: pd.DataFrame
    counts: dict[str, int]


def weekly_pair_stats(watches: pd.DataFrame, clicks: pd.DataFrame) -> WeekStats:
    """Reduce a week's usable rows to one row per (subscriber, program).

    Rows flagged `e_bool = 1` are excluded (the original's filter); watch ratios above 1 are
    clipped to 1 (a documented repair, counted).
    """
    counts: dict[str, int] = {}
    w = watches[watches["e_bool"] == 0]
    c = clicks[clicks["e_bool"] == 0]
    counts["excluded_e_bool_watch_rows"] = int(len(watches) - len(w))
    counts["excluded_e_bool_click_rows"] = int(len(clicks) - len(c))
    ratio = w["use_tms"].to_numpy() / w["disp_rtm_sec"].to_numpy()
    counts["repaired_ratio_above_one"] = int((ratio > 1).sum())
    ratio = np.clip(ratio, 0.0, 1.0)
    watch_stats = (
        pd.DataFrame({"subsr_id": w["subsr_id"].to_numpy(), "program_id": w["program_id"].to_numpy(), "ratio": ratio})
        .groupby(["subsr_id", "program_id"], sort=False)["ratio"]
        .agg(watch_max_ratio="max", watch_cnt="size")
    )
    click_stats = c.groupby(["subsr_id", "program_id"], sort=False)["log_dt"].agg(click_cnt="size", last_click_dt="max")
    pairs = watch_stats.join(click_stats, how="outer").reset_index()
    pairs["watch_cnt"] = pairs["watch_cnt"].fillna(0).astype("int64")
    pairs["click_cnt"] = pairs["click_cnt"].fillna(0).astype("int64")
    pairs["last_click_dt"] = pairs["last_click_dt"].astype("datetime64[ns]")
    pairs = pairs[PAIR_STATS_COLUMNS].sort_values(["subsr_id", "program_id"], ignore_index=True)
    counts["pairs"] = int(len(pairs))
    return WeekStats(pairs=pairs, counts=counts)


def _cap_at_quantile(values: pd.Series, q: float = CAP_QUANTILE) -> pd.Series:
    present = values.dropna()
    if present.empty:
        return values
    cap = present.quantile(q)
    return values.where(~(values > cap), cap)


def _reduce_pairs(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The weeks' statistics reduced to one row per pair, sorted by (subsr_id, program_id): best ratio
    (NaN when never watched), summed counts, latest click (NaT when never clicked).

    Both ids are packed into one int64 key; a stable sort of the key (the weeks are already sorted
    runs, which the sort exploits) and `reduceat` over the runs of equal keys do in numpy what a pandas
    groupby on two columns does with far more copying (docs/performance.md). Equal to
    `groupby(["subsr_id", "program_id"]).agg(max, sum, sum, max)`; ids too far apart to pack fall back
    to that groupby."""
    subsr = np.concatenate([f["subsr_id"].to_numpy(np.int64) for f in frames])
    program = np.concatenate([f["program_id"].to_numpy(np.int64) for f in frames])
    s_lo, p_lo = int(subsr.min()), int(program.min())
    span = int(program.max()) - p_lo + 1
    if (int(subsr.max()) - s_lo + 1) * span >= 2**62:
        return pd.concat(frames, ignore_index=True).groupby(["subsr_id", "program_id"], sort=True).agg(
            watch_tms_max=("watch_max_ratio", "max"), watch_cnt=("watch_cnt", "sum"),
            click_cnt=("click_cnt", "sum"), last_click_dt=("last_click_dt", "max"),
        ).reset_index()
    key = (subsr - s_lo) * span + (program - p_lo)
    del subsr, program
    order = np.argsort(key, kind="stable")
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    key = key[starts]

    def column(name: str, dtype: str) -> np.ndarray:
        return np.concatenate([f[name].to_numpy(dtype) for f in frames])[order]

    last = column("last_click_dt", "datetime64[ns]").view(np.int64)  # NaT is the smallest int64
    return pd.DataFrame({
        "subsr_id": key // span + s_lo,
        "program_id": key % span + p_lo,
        "watch_tms_max": np.fmax.reduceat(column("watch_max_ratio", "float64"), starts),  # fmax skips NaN
        "watch_cnt": np.add.reduceat(column("watch_cnt", "int64"), starts),
        "click_cnt": np.add.reduceat(column("click_cnt", "int64"), starts),
        "last_click_dt": np.maximum.reduceat(last, starts).view("datetime64[ns]"),
    })


def merge_window(weekly: list[pd.DataFrame]) -> pd.DataFrame:
    """The cleaned ratings of a lookback window from its weeks' pair statistics."""
    frames = [f for f in weekly if len(f)]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in RATING_COLUMNS}).astype(
            {"subsr_id": "int64", "program_id": "int64", "watched": "int8"}
        )
    merged = _reduce_pairs(frames)
    # As in the original: pairs without a click or a watch have no count (NaN), not zero.
    merged["click_cnt"] = _cap_at_quantile(merged["click_cnt"].where(merged["click_cnt"] > 0).astype("float64"))
    merged["watch_cnt"] = _cap_at_quantile(merged["watch_cnt"].where(merged["watch_cnt"] > 0).astype("float64"))
    newest = merged["last_click_dt"].max()
    recency_days = (newest - merged["last_click_dt"]).dt.days.astype("float64")
    merged["click_recency"] = recency_days.max() - recency_days  # larger = newer
    merged["rating"] = merged["watch_tms_max"]
    merged["watched"] = (merged["rating"] > 0).astype("int8")
    return merged[RATING_COLUMNS]
