"""Does this week's viewing look like the weeks before it? Early, non-blocking warnings (the blocking floor
for an emptied week is recsys/volume.py): the week's log volume against the trailing weeks' median, the
share of active subscribers and programs the trailing weeks never saw, and the population stability index
(PSI) of two distributions against the trailing weeks pooled: the pairs' best watch ratio and the number
of programs each active subscriber watched or clicked.

PSI = sum over bins of (a - e) * ln(a / e), with a and e the bin shares of this week and of the reference.
The bins are fixed (not the reference's quantiles) so that every week is cut the same way and figures of
different weeks compare. The usual reading: below 0.1 stable, 0.1-0.25 a moderate shift, above 0.25 a
significant one.

Thresholds (`DriftThresholds`, documented in docs/operations.md): a week warns when its volume is outside
[0.5, 2] x the trailing median, when more than 30 % of its active subscribers or of its programs are new to
the trailing weeks, or when either PSI exceeds 0.25. On the generator's 52 tiny weeks the figures stay
well inside (volume 0.96-1.04 x, new shares at most 3 %, PSI at most 0.05; docs/operations.md); a week
whose viewing was halved, replaced, cut short or concentrated on few subscribers crosses one (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_TRAILING_WEEKS = 4
# Watch-ratio bins: tenths of the program's runtime (a ratio is in [0, 1] after cleaning).
WATCH_RATIO_EDGES = np.linspace(0.0, 1.0, 11)
# Programs per active subscriber in the week: 1, 2, 3-4, 5-8, ... 65+.
ACTIVITY_EDGES = np.array([1, 2, 3, 5, 9, 17, 33, 65, np.inf])
PSI_FLOOR = 1e-4  # a bin share of 0 would make ln(a / e) infinite: such bins count as 0.01 %


@dataclass(frozen=True)
class WeekSample:
    """What the drift figures need of one week: its log rows, and its (subscriber, program) pairs with
    the best watch ratio of each (NaN for a pair only clicked)."""

    rows: int
    subscriber_ids: np.ndarray  # one entry per pair
    program_ids: np.ndarray  # one entry per pair
    watch_ratios: np.ndarray  # one entry per pair, NaN when the pair was only clicked


@dataclass(frozen=True)
class DriftThresholds:
    rows_ratio_low: float = 0.5
    rows_ratio_high: float = 2.0
    new_subscriber_share: float = 0.3
    new_program_share: float = 0.3
    psi: float = 0.25


def shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else np.full(len(counts), 1.0 / len(counts))


def psi(reference_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of two histograms over the same bins (0 when both are empty)."""
    reference_counts = np.asarray(reference_counts, dtype=float)
    actual_counts = np.asarray(actual_counts, dtype=float)
    if reference_counts.shape != actual_counts.shape:
        raise ValueError("the histograms must have the same bins")
    if not reference_counts.sum() or not actual_counts.sum():
        return 0.0
    e = np.maximum(shares(reference_counts), PSI_FLOOR)
    a = np.maximum(shares(actual_counts), PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def watch_ratio_histogram(ratios: np.ndarray) -> np.ndarray:
    values = np.asarray(ratios, dtype=float)
    values = np.clip(values[np.isfinite(values)], 0.0, 1.0)
    return np.histogram(values, bins=WATCH_RATIO_EDGES)[0]


def activity_histogram(subscriber_ids: np.ndarray) -> np.ndarray:
    """How many active subscribers had 1, 2, 3-4, ... pairs in the week."""
    _, per_subscriber = np.unique(np.asarray(subscriber_ids), return_counts=True)
    return np.histogram(per_subscriber, bins=ACTIVITY_EDGES)[0]


def new_share(current_ids: np.ndarray, trailing_ids: Sequence[np.ndarray]) -> float:
    """Share of the distinct ids of this week that no trailing week has (0 for a week without ids)."""
    current = np.unique(np.asarray(current_ids))
    if not len(current):
        return 0.0
    seen = np.unique(np.concatenate([np.asarray(t) for t in trailing_ids])) if trailing_ids else current[:0]
    return float(np.count_nonzero(~np.isin(current, seen, assume_unique=True)) / len(current))


def week_drift(week: WeekSample, trailing: Sequence[WeekSample]) -> dict[str, float | int]:
    """The week's figures. Without trailing weeks only its own counts (nothing to compare with)."""
    figures: dict[str, float | int] = {
        "drift_rows": int(week.rows),
        "drift_active_subscribers": int(len(np.unique(week.subscriber_ids))),
        "drift_active_programs": int(len(np.unique(week.program_ids))),
        "drift_trailing_weeks": len(trailing),
    }
    if not trailing:
        return figures
    median = float(np.median([t.rows for t in trailing]))
    if median:  # trailing weeks without rows never reach here: the blocking volume checks stop them
        figures["drift_rows_vs_trailing"] = float(week.rows / median)
    figures["drift_new_subscriber_share"] = new_share(week.subscriber_ids, [t.subscriber_ids for t in trailing])
    figures["drift_new_program_share"] = new_share(week.program_ids, [t.program_ids for t in trailing])
    figures["drift_watch_ratio_psi"] = psi(sum(watch_ratio_histogram(t.watch_ratios) for t in trailing),
                                           watch_ratio_histogram(week.watch_ratios))
    figures["drift_activity_psi"] = psi(sum(activity_histogram(t.subscriber_ids) for t in trailing),
                                        activity_histogram(week.subscriber_ids))
    return figures


def drift_warnings(figures: dict[str, float | int], thresholds: DriftThresholds = DriftThresholds()) -> list[str]:
    """What crosses a threshold, said in words; empty when nothing does (or nothing could be compared)."""
    warnings = []
    ratio = figures.get("drift_rows_vs_trailing")
    if ratio is not None and not thresholds.rows_ratio_low <= ratio <= thresholds.rows_ratio_high:
        warnings.append(f"log volume {ratio:.2f} x the trailing median (expected "
                        f"{thresholds.rows_ratio_low:g}-{thresholds.rows_ratio_high:g} x)")
    for key, limit, what in (
        ("drift_new_subscriber_share", thresholds.new_subscriber_share, "active subscribers"),
        ("drift_new_program_share", thresholds.new_program_share, "programs"),
    ):
        value = figures.get(key)
        if value is not None and value > limit:
            warnings.append(f"{value:.0%} of the week's {what} are new to the trailing weeks (limit {limit:.0%})")
    for key, what in (("drift_watch_ratio_psi", "watch-ratio"), ("drift_activity_psi", "per-subscriber activity")):
        value = figures.get(key)
        if value is not None and value > thresholds.psi:
            warnings.append(f"{what} distribution shifted: PSI {value:.3f} > {thresholds.psi:g}")
    return warnings
