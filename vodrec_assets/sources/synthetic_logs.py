"""One week of synthetic watch (`vods_sumut`) and click (`contlog`) rows, sampled from the world.

Everything is vectorised over sessions and rows; subscribers are processed in fixed-size blocks
only to bound the size of temporaries (a block's sittings x cells). The block size is a constant, so the rows do not depend on the machine or on how many processes generate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from vodrec_assets.sources.synthetic_world import (
    CLASS_BINGE_MEAN,
    CLASSES,
    CLICK_BEFORE_WATCH_PROB,
    CLICK_ROWS_PER_SUBSCRIBER_WEEK,
    DAY,
    WATCH_ROWS_PER_SUBSCRIBER_WEEK,
    WEEK,
    World,
    week_rng,
)

SUBSCRIBER_BLOCK = 100_000
ROW_CALIBRATION = 1.17
BROWSE_EXPLORE_SHARE = 0.2  # browse clicks on whatever is popular, regardless of taste
NOVELTY_BOOST = 2.5  # a new release is up to 3.5x as popular as its base weight ...
NOVELTY_WEEKS = 1.5  # ... decaying with this time constant
E_BOOL_ROW_RATE = 0.017  # rows flagged excluded on top of the rows of excluded programs
RATIO_BIAS, RATIO_SLOPE, RATIO_NOISE = -0.7, 1.3, 0.6

# Monday .. Sunday, and hour-of-day profiles (weekday/weekend x other/kids content).
DAY_WEIGHTS = np.array([0.12, 0.12, 0.12, 0.13, 0.15, 0.19, 0.17])
_HOURS_WEEKDAY = [2, 1, .6, .4, .3, .3, .5, 1, 1.5, 2, 2.5, 3, 3.5, 3.5, 3.5, 3.5, 4, 5, 6.5, 8, 10, 11, 9, 5]
_HOURS_WEEKEND = [3, 2, 1, .6, .4, .4, .7, 1.5, 3, 4.5, 5.5, 6, 6, 6, 6, 6, 6, 6.5, 7.5, 9, 10, 10, 8, 5]
_KIDS_WEEKDAY = [.3, .1, .1, .1, .1, .2, 1, 4, 5, 3, 2, 2, 2, 2, 3, 5, 7, 9, 9, 7, 4, 1.5, .6, .4]
_KIDS_WEEKEND = [.3, .1, .1, .1, .1, .3, 2, 6, 9, 9, 8, 6, 5, 5, 5, 6, 7, 8, 8, 6, 3, 1, .5, .3]
_profiles = np.array([_HOURS_WEEKDAY, _KIDS_WEEKDAY, _HOURS_WEEKEND, _KIDS_WEEKEND], float)
HOUR_CDF = np.cumsum(_profiles / _profiles.sum(axis=1, keepdims=True), axis=1)
HOUR_CDF[:, -1] = 1.0
DAY_CDF = np.cumsum(DAY_WEIGHTS / DAY_WEIGHTS.sum())
DAY_CDF[-1] = 1.0
KIDS = CLASSES.index("kids")
_BINGE_MEAN = np.array([CLASS_BINGE_MEAN[c] for c in CLASSES])


@dataclass
class Lookup:
    """A column of shared strings materialised slice by slice: `values[index[a:b]]`."""

    values: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item):
        return self.values[self.index[item]]


@dataclass
class LogTable:
    """A week's rows of one log table in output order.

    `columns` holds schema-ordered columns: numpy arrays, or `Lookup`s for the text columns.
    `overrides` holds the few values an array cannot: None, or text in a numeric column
    (column -> (row positions, object values)). `offset` is each row's seconds into the week.
    """

    name: str
    columns: dict[str, np.ndarray | Lookup]
    offset: np.ndarray
    overrides: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.offset)

    def take(self, order: np.ndarray) -> LogTable:
        if self.overrides:
            raise ValueError("reorder before adding overrides")
        cols = {k: Lookup(v.values, v.index[order]) if isinstance(v, Lookup) else v[order]
                for k, v in self.columns.items()}
        return LogTable(self.name, cols, self.offset[order])

    def override(self, column: str, rows: np.ndarray, values: np.ndarray) -> None:
        if column in self.overrides:
            old_rows, old_values = self.overrides[column]
            rows, values = np.concatenate([old_rows, rows]), np.concatenate([old_values, values])
        order = np.argsort(rows, kind="stable")
        self.overrides[column] = (rows[order], values[order])


class ProgramSampler:
    """Draws programs inside a (class, genre) cell in proportion to this week's popularity times
    the appeal of each program to the subscriber's taste community.

    For each community, programs are sorted by cell and each cell's cumulative weights are scaled
    to (cell, cell + 1], shifted by community * n_cells: one `searchsorted` serves every
    (community, cell) at once, exactly.
    """

    def __init__(self, world: World, weight: np.ndarray):
        n_cells = len(world.cell_class)
        n = world.n_programs
        self.n_cells = n_cells
        self.order = np.argsort(world.program_cell, kind="stable")
        cell_sorted = world.program_cell[self.order].astype(np.int64)
        w = weight[self.order][None, :] * np.exp(world.community_boost[:, self.order].astype(np.float64))
        csum = np.cumsum(w, axis=1)  # (communities, n)
        start = np.searchsorted(cell_sorted, np.arange(n_cells))
        end = np.searchsorted(cell_sorted, np.arange(n_cells), side="right")
        padded = np.concatenate([np.zeros((len(w), 1)), csum], axis=1)
        before = padded[:, start]  # (communities, n_cells)
        totals = padded[:, end] - before
        t_cell = totals[:, cell_sorted]
        within = np.divide(csum - before[:, cell_sorted], t_cell, out=np.ones_like(csum), where=t_cell > 0)
        last = np.r_[cell_sorted[1:] != cell_sorted[:-1], True]
        within[:, last] = 1.0  # exactly the cell's upper bound despite rounding
        shift = (np.arange(len(w)) * n_cells)[:, None]
        self.cum = (shift + cell_sorted[None, :] + within).ravel()
        self.cell_has_mass = totals > 0  # (communities, n_cells)
        self.n = n
        self.global_cum = np.cumsum(weight)
        self.global_cum /= self.global_cum[-1]
        self.global_cum[-1] = 1.0

    def choose(self, rng: np.random.Generator, cells: np.ndarray, community: np.ndarray) -> np.ndarray:
        """One program per (cell, community); a cell without a released program falls back to all programs."""
        r = rng.random(len(cells))
        community = community.astype(np.int64)
        pos = np.searchsorted(self.cum, community * self.n_cells + cells + r, side="right")
        picks = self.order[np.minimum(pos, len(self.cum) - 1) % self.n]
        empty = ~self.cell_has_mass[community, cells]
        if empty.any():
            picks[empty] = self.overall(r[empty])
        return picks

    def overall(self, r: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(self.global_cum, r, side="right"), len(self.global_cum) - 1)


def _sample_cells(rng: np.random.Generator, cdf: np.ndarray) -> np.ndarray:
    r = rng.random(len(cdf), dtype=np.float32)
    return np.minimum((cdf < r[:, None]).sum(axis=1), cdf.shape[1] - 1)


def _times(rng: np.random.Generator, lo_day: np.ndarray, hi_day: np.ndarray, kids: np.ndarray) -> np.ndarray:
    """Seconds into the week with weekend and evening peaks, inside each row's allowed days [lo, hi).

    A day outside the allowed range (a subscriber who joins mid-week, a program released on
    Thursday) wraps into it, keeping the time of day.
    """
    n = len(lo_day)
    day = np.searchsorted(DAY_CDF, rng.random(n), side="right").clip(0, 6)
    span = np.maximum(hi_day - lo_day, 1)
    outside = (day < lo_day) | (day >= hi_day)
    day = np.where(outside, lo_day + (day - lo_day) % span, day)
    profile = (day >= 5).astype(np.int64) * 2 + kids.astype(np.int64)
    r = rng.random(n)
    hour = np.empty(n, np.int64)
    for p in range(len(HOUR_CDF)):  # four hour-of-day profiles
        mask = profile == p
        hour[mask] = np.searchsorted(HOUR_CDF[p], r[mask], side="right")
    hour = hour.clip(0, 23)
    return (day * DAY + hour * 3600 + rng.integers(0, 3600, n)).astype(np.int64)


def _allowed_days(world: World, week: int, sub: np.ndarray, prog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first = 7 * week
    lo = np.maximum(np.maximum(world.join_day[sub].astype(np.int64) - first, world.release_day[prog] - first), 0)
    hi = np.minimum(world.churn_day[sub].astype(np.int64) - first, 7)
    return lo, hi


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Block:
    w_sub: list
    w_prog: list
    w_ep: list
    w_off: list
    w_use: list
    c_sub: list
    c_prog: list
    c_ep: list
    c_off: list


def _block_rows(world: World, week: int, rng: np.random.Generator, sampler: ProgramSampler, subs: np.ndarray,
                live: np.ndarray, out: _Block) -> None:
    # Per live subscriber; ROW_CALIBRATION makes up for sittings cut at the week's end or the last
    # episode, so that rows per subscriber in userinfo (joiners and churners included) stay ~5 and ~10.
    activity = world.activity[subs].astype(np.float64) * live * ROW_CALIBRATION
    # Expected rows per session for this subscriber's class mix; sessions and browse clicks are
    # scaled so that watch rows ~ 5 and click rows ~ 10 per live subscriber-week on average.
    mean_len = (world.class_taste[subs] * _BINGE_MEAN).sum(axis=1)  # not BLAS: same sums on every machine
    lam_sessions = WATCH_ROWS_PER_SUBSCRIBER_WEEK * activity / mean_len
    lam_browse = np.maximum(CLICK_ROWS_PER_SUBSCRIBER_WEEK * activity - CLICK_BEFORE_WATCH_PROB * lam_sessions, 0)

    # ---- watch sessions
    sub = np.repeat(subs, rng.poisson(lam_sessions))
    cells = _sample_cells(rng, world.cell_cdf[sub])
    prog = sampler.choose(rng, cells, world.community[sub])
    lo, hi = _allowed_days(world, week, sub, prog)
    ok = hi > lo
    sub, prog, lo, hi = sub[ok], prog[ok], lo[ok], hi[ok]
    cls = world.program_class[prog]
    count = world.episode_count[prog].astype(np.int64)
    start_ep = 1 + np.floor(rng.random(len(prog)) ** 2 * count).astype(np.int64)
    length = np.minimum(rng.geometric(1.0 / _BINGE_MEAN[cls]), count - start_ep + 1)
    t0 = _times(rng, lo, hi, cls == KIDS)
    runtime = world.runtime_sec[prog].astype(np.int64)
    gap = rng.integers(30, 900, len(prog))

    # the click on the detail page that starts most sessions
    clicked = rng.random(len(prog)) < CLICK_BEFORE_WATCH_PROB
    click_off = np.maximum(t0 - rng.integers(5, 600, len(prog)), lo * DAY)[clicked]
    out.c_sub.append(sub[clicked])
    out.c_prog.append(prog[clicked])
    out.c_ep.append(start_ep[clicked])
    out.c_off.append(click_off)

    # one row per episode watched in the sitting
    sess = np.repeat(np.arange(len(prog)), length)
    j = np.arange(len(sess)) - np.repeat(np.cumsum(length) - length, length)
    off = t0[sess] + j * (runtime[sess] + gap[sess])
    keep = off < hi[sess] * DAY
    sess, j, off = sess[keep], j[keep], off[keep]
    r_sub, r_prog = sub[sess], prog[sess]
    aff = world.affinity(r_sub, r_prog).astype(np.float64)
    ratio = _sigmoid(RATIO_BIAS + RATIO_SLOPE * aff + rng.normal(0, RATIO_NOISE, len(sess)))
    # An episode followed by another in the same sitting was (almost) finished.
    not_last = j < length[sess] - 1
    ratio = np.where(not_last, np.maximum(ratio, rng.uniform(0.9, 1.0, len(sess))), ratio)
    rt = runtime[sess]
    use = np.clip(np.round(ratio * rt), 1, rt).astype(np.int64)
    out.w_sub.append(r_sub)
    out.w_prog.append(r_prog)
    out.w_ep.append(start_ep[sess] + j)
    out.w_off.append(off)
    out.w_use.append(use)

    # ---- browse-only clicks: mostly on programs the subscriber likes, some on whatever is popular
    b_sub = np.repeat(subs, rng.poisson(lam_browse))
    b_cells = _sample_cells(rng, world.cell_cdf[b_sub])
    b_prog = sampler.choose(rng, b_cells, world.community[b_sub])
    explore = rng.random(len(b_sub)) < BROWSE_EXPLORE_SHARE
    b_prog[explore] = sampler.overall(rng.random(int(explore.sum())))
    lo, hi = _allowed_days(world, week, b_sub, b_prog)
    ok = hi > lo
    b_sub, b_prog, lo, hi = b_sub[ok], b_prog[ok], lo[ok], hi[ok]
    b_count = world.episode_count[b_prog].astype(np.int64)
    out.c_sub.append(b_sub)
    out.c_prog.append(b_prog)
    out.c_ep.append(1 + np.floor(rng.random(len(b_prog)) ** 2 * b_count).astype(np.int64))
    out.c_off.append(_times(rng, lo, hi, world.program_class[b_prog] == KIDS))


@lru_cache(maxsize=1)
def _times_of_day() -> np.ndarray:
    return np.array([f" {h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])


def week_datetime_strings(world: World, week: int, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """'YYYY-MM-DD HH:MM:SS' texts and, per offset, its index into them.

    A busy week uses nearly every second, so its texts are made for every second once; a quiet
    week makes texts only for the seconds it uses.
    """
    days = np.datetime_as_string(world.week_start(week).astype("datetime64[D]") + np.arange(7), unit="D")
    if len(offsets) >= WEEK // 8:
        seconds, index = np.arange(WEEK), offsets
    else:
        seconds, index = np.unique(offsets, return_inverse=True)
    text = np.char.add(days[seconds // DAY], _times_of_day()[seconds % DAY])
    return text.astype(object), index


def week_months(world: World, week: int) -> np.ndarray:
    days = world.week_start(week).astype("datetime64[D]") + np.arange(7)
    return (days.astype("datetime64[M]").astype(np.int64) % 12 + 1).astype(np.int64)


def generate_week(world: World, week: int) -> tuple[LogTable, LogTable]:
    """The week's clean watch and click rows, each sorted by log_dt (the order a log store receives them)."""
    rng = week_rng(world.seed, week)
    first_day = 7 * week
    available = world.release_day < first_day + 7
    age_weeks = np.maximum(first_day - world.release_day, 0) / 7.0
    weight = world.popularity * (1.0 + NOVELTY_BOOST * np.exp(-age_weeks / NOVELTY_WEEKS)) * available
    sampler = ProgramSampler(world, weight)
    live_all = (world.join_day < first_day + 7) & (world.churn_day > first_day)
    out = _Block([], [], [], [], [], [], [], [], [])
    for a in range(0, world.n_subscribers, SUBSCRIBER_BLOCK):
        subs = np.arange(a, min(a + SUBSCRIBER_BLOCK, world.n_subscribers))
        _block_rows(world, week, rng, sampler, subs, live_all[subs], out)

    def cat(parts: list) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    months = week_months(world, week)

    def time_order(off: np.ndarray) -> np.ndarray:
        # Stable: ties keep generation order, so the order is the same whatever machine sorts.
        return np.argsort(off.astype(np.int32), kind="stable")

    w_off = cat(out.w_off)
    order = time_order(w_off)
    w_sub, w_prog, w_off = cat(out.w_sub)[order], cat(out.w_prog)[order], w_off[order]
    n_w = len(w_off)
    c_off = cat(out.c_off)
    c_order = time_order(c_off)
    c_off = c_off[c_order]
    stamps, stamp_index = week_datetime_strings(world, week, np.concatenate([w_off, c_off]))
    watches = LogTable("vods_sumut", {
        "subsr_id": world.subsr_id[w_sub],
        "program_id": world.program_id[w_prog],
        "program_name": Lookup(world.program_name, w_prog),
        "episode_num": cat(out.w_ep)[order],
        "log_dt": Lookup(stamps, stamp_index[:n_w]),
        "use_tms": cat(out.w_use)[order],
        "disp_rtm_sec": world.runtime_sec[w_prog].astype(np.int64),
        "count_watch": np.ones(n_w, np.int64),
        "month": months[w_off // DAY],
        "e_bool": (world.program_e_bool[w_prog] | (rng.random(n_w) < E_BOOL_ROW_RATE)).astype(np.int64),
    }, w_off)

    order = c_order
    c_prog = cat(out.c_prog)[order]
    n_c = len(c_off)
    clicks = LogTable("contlog", {
        "subsr_id": world.subsr_id[cat(out.c_sub)[order]],
        "program_id": world.program_id[c_prog],
        "program_name": Lookup(world.program_name, c_prog),
        "episode_num": cat(out.c_ep)[order],
        "log_dt": Lookup(stamps, stamp_index[n_w:]),
        "month": months[c_off // DAY],
        "e_bool": (world.program_e_bool[c_prog] | (rng.random(n_c) < E_BOOL_ROW_RATE)).astype(np.int64),
    }, c_off)
    return watches, clicks
