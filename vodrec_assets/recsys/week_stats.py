"""A week's usable rows reduced to one row per (subscriber, program): the per-week half of the
decomposable cleaning (a window is then a merge of these, recsys/window.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vodrec_assets.recsys.cleaning_rules import ID_COLUMNS, PAIR_STATS_COLUMNS

@dataclass
class WeekStats:
    pairs: pd.DataFrame
    counts: dict[str, int]


def weekly_pair_stats(watches: pd.DataFrame, clicks: pd.DataFrame) -> WeekStats:
    """Reduce a week's usable rows to one row per (subscriber, program), sorted by both ids.

    Rows flagged `e_bool = 1` are excluded (the original's filter); watch ratios above 1 are
    clipped to 1 (a documented repair, counted).
    """
    counts: dict[str, int] = {}
    w_keep = watches["e_bool"].to_numpy() == 0
    c_keep = clicks["e_bool"].to_numpy() == 0
    counts["excluded_e_bool_watch_rows"] = int(len(watches) - w_keep.sum())
    counts["excluded_e_bool_click_rows"] = int(len(clicks) - c_keep.sum())
    ratio = watches["use_tms"].to_numpy()[w_keep] / watches["disp_rtm_sec"].to_numpy()[w_keep]
    counts["repaired_ratio_above_one"] = int((ratio > 1).sum())
    ratio = np.clip(ratio, 0.0, 1.0)
    w_ids = [watches[c].to_numpy(np.int64)[w_keep] for c in ID_COLUMNS]
    c_ids = [clicks[c].to_numpy(np.int64)[c_keep] for c in ID_COLUMNS]
    last = clicks["log_dt"].to_numpy("datetime64[ns]")[c_keep]
    pairs = _pair_stats_packed(w_ids, ratio, c_ids, last)
    if pairs is None:
        pairs = _pair_stats_groupby(w_ids, ratio, c_ids, last)
    counts["pairs"] = int(len(pairs))
    return WeekStats(pairs=pairs, counts=counts)


def pair_packing(subsr: np.ndarray, program: np.ndarray) -> tuple[int, int, int] | None:
    """(lowest subsr_id, lowest program_id, program span) to pack both ids into one int64 key,
    `(subsr - s_lo) * span + (program - p_lo)`; None when there are no ids or they are too far apart."""
    if not len(subsr):
        return None
    s_lo, p_lo = int(subsr.min()), int(program.min())
    span = int(program.max()) - p_lo + 1
    if (int(subsr.max()) - s_lo + 1) * span >= 2**62:
        return None
    return s_lo, p_lo, span


def key_runs(key: np.ndarray, kind: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sort order of `key` (numpy's `kind`), the start of each run of equal keys, and the run keys."""
    order = np.argsort(key, kind=kind)
    ordered = key[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(key) else np.zeros(0, np.int64)
    return order, starts, ordered[starts]


def _pair_stats_packed(w_ids, ratio, c_ids, last) -> pd.DataFrame | None:
    """The week's pairs with both ids packed into one int64 key, reduced with `reduceat` over the
    sorted runs (what `_pair_stats_groupby` does, without pandas' groupby, join and sort); None
    when there is nothing to pack or the ids are too far apart."""
    packing = pair_packing(np.concatenate([w_ids[0], c_ids[0]]), np.concatenate([w_ids[1], c_ids[1]]))
    if packing is None:
        return None
    s_lo, p_lo, span = packing
    w_key = (w_ids[0] - s_lo) * span + (w_ids[1] - p_lo)
    c_key = (c_ids[0] - s_lo) * span + (c_ids[1] - p_lo)
    # The reductions over a run (count, max) do not depend on the order inside it: any sort will do.
    w_order, w_starts, w_keys = key_runs(w_key)
    c_order, c_starts, c_keys = key_runs(c_key)
    # Both are sorted and unique: a stable sort merges the two runs (np.union1d hashes, far slower).
    keys = np.sort(np.concatenate([w_keys, c_keys]), kind="stable")
    keys = keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys
    at_w, at_c = np.searchsorted(keys, w_keys), np.searchsorted(keys, c_keys)
    watch_max = np.full(len(keys), np.nan)
    watch_cnt = np.zeros(len(keys), np.int64)
    click_cnt = np.zeros(len(keys), np.int64)
    last_click = np.full(len(keys), np.datetime64("NaT"), "datetime64[ns]")
    if len(w_keys):
        watch_max[at_w] = np.fmax.reduceat(ratio[w_order], w_starts)  # fmax skips NaN, as groupby max
        watch_cnt[at_w] = np.diff(np.r_[w_starts, len(w_key)])
    if len(c_keys):
        click_cnt[at_c] = np.diff(np.r_[c_starts, len(c_key)])
        # NaT is the smallest int64; groupby max skips it unless the pair has no other click.
        last_click[at_c] = np.maximum.reduceat(last.view(np.int64)[c_order], c_starts).view("datetime64[ns]")
    return pd.DataFrame({
        "subsr_id": keys // span + s_lo, "program_id": keys % span + p_lo, "watch_max_ratio": watch_max,
        "watch_cnt": watch_cnt, "click_cnt": click_cnt, "last_click_dt": last_click,
    })


def _pair_stats_groupby(w_ids, ratio, c_ids, last) -> pd.DataFrame:
    """The reference reduction in pandas (and the path for ids that cannot be packed)."""
    watch_stats = (
        pd.DataFrame({"subsr_id": w_ids[0], "program_id": w_ids[1], "ratio": ratio})
        .groupby(["subsr_id", "program_id"], sort=False)["ratio"]
        .agg(watch_max_ratio="max", watch_cnt="size")
    )
    click_stats = (
        pd.DataFrame({"subsr_id": c_ids[0], "program_id": c_ids[1], "log_dt": last})
        .groupby(["subsr_id", "program_id"], sort=False)["log_dt"].agg(click_cnt="size", last_click_dt="max")
    )
    pairs = watch_stats.join(click_stats, how="outer").reset_index()
    pairs["subsr_id"] = pairs["subsr_id"].astype("int64")
    pairs["program_id"] = pairs["program_id"].astype("int64")
    pairs["watch_max_ratio"] = pairs["watch_max_ratio"].astype("float64")
    pairs["watch_cnt"] = pairs["watch_cnt"].fillna(0).astype("int64")
    pairs["click_cnt"] = pairs["click_cnt"].fillna(0).astype("int64")
    pairs["last_click_dt"] = pairs["last_click_dt"].astype("datetime64[ns]")
    return pairs[PAIR_STATS_COLUMNS].sort_values(["subsr_id", "program_id"], ignore_index=True)


