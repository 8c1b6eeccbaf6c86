"""The data-quality rules behind the asset checks, as plain functions of data: testable on crafted
frames without Dagster. Each returns a Verdict; checks.py turns it into an AssetCheckResult."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vodrec_assets.recsys.matrix import ScoreMatrix

ID_COLUMNS = ("subsr_id", "program_id")


@dataclass(frozen=True)
class Verdict:
    passed: bool
    severity: str  # "ERROR" or "WARN": how bad a failure is
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def raw_logs_shape(frame: pd.DataFrame, expected_columns: list[str]) -> Verdict:
    problems = []
    missing = [c for c in expected_columns if c not in frame.columns]
    if missing:
        problems.append(f"missing columns {missing}")
    if frame.empty:
        problems.append("the week has no rows")
    for col in ID_COLUMNS:
        if col in frame and not (pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_string_dtype(frame[col])):
            problems.append(f"{col} has type {frame[col].dtype}")
    return Verdict(not problems, "ERROR", "; ".join(problems) or "ok", {
        "rows": int(len(frame)),
        "dtypes": ", ".join(f"{c}:{t}" for c, t in frame.dtypes.astype(str).items()),
    })


def quarantine_share(summary: dict, warn_share: float, error_share: float) -> Verdict:
    share = float(summary["quarantined_share"])
    reasons = {k.removeprefix("quarantined_"): int(v) for k, v in summary.items()
               if k.startswith("quarantined_") and k not in ("quarantined_rows", "quarantined_share") and v}
    return Verdict(
        passed=share <= warn_share,
        severity="ERROR" if share > error_share else "WARN",
        description=f"{share:.2%} of raw rows quarantined ({summary['quarantined_rows']} rows): {reasons}",
        metadata={"quarantined_share": share, "quarantined_rows": int(summary["quarantined_rows"])},
    )


def ratings_valid(ratings: pd.DataFrame) -> Verdict:
    return ratings_valid_arrays(*(ratings[c].to_numpy() for c in (*ID_COLUMNS, "rating")))


def ratings_valid_arrays(subsr_id: np.ndarray, program_id: np.ndarray, rating: np.ndarray) -> Verdict:
    """Every rating in [0, 1] (NaN = never watched) and no (subscriber, program) pair twice; on the
    three columns only, so that a million subscribers' window is checked in a few GB."""
    rating = np.asarray(rating, dtype=np.float64)
    out_of_range = int(((rating < 0) | (rating > 1)).sum())  # NaN compares false
    duplicates = _duplicate_pairs(np.asarray(subsr_id), np.asarray(program_id))
    return Verdict(out_of_range == 0 and duplicates == 0, "ERROR",
                   f"{out_of_range} ratings outside [0, 1], {duplicates} duplicate pairs",
                   {"out_of_range": out_of_range, "duplicate_pairs": duplicates, "pairs": int(len(rating))})


def _duplicate_pairs(a: np.ndarray, b: np.ndarray) -> int:
    """Rows repeating an earlier (a, b) pair. Non-negative ids that fit are packed into one int64:
    a strictly increasing key (how cleaned_ratings is written) has none, without sorting."""
    packable = (len(a) > 0 and a.dtype.kind in "iu" and b.dtype.kind in "iu" and a.min() >= 0 and b.min() >= 0
                and a.max() < 2**31 and b.max() < 2**32)
    if not packable:
        return int(pd.DataFrame({"a": a, "b": b}).duplicated().sum())
    key = (a.astype(np.int64) << 32) | b.astype(np.int64)
    if np.all(key[1:] > key[:-1]):
        return 0
    return int(len(key) - len(np.unique(key)))


def score_matrix_consistent(matrix: ScoreMatrix) -> Verdict:
    problems = []
    n_users, n_items = matrix.shape
    inter = matrix.interactions
    if inter.shape != (n_users, n_items) or matrix.weights.shape != (n_users, n_items):
        problems.append(f"matrix shape {inter.shape} does not match the id maps {(n_users, n_items)}")
    if inter.nnz and (inter.indices.max() >= n_items or inter.indices.min() < 0):
        problems.append("a column index has no program id")
    if (np.diff(matrix.user_ids) <= 0).any() or (np.diff(matrix.item_ids) <= 0).any():
        problems.append("id maps are not strictly increasing (an id repeats or the map is unsorted)")
    if not np.isfinite(matrix.weights.data).all():
        problems.append("non-finite weights")
    return Verdict(not problems, "ERROR", "; ".join(problems) or "ok", {
        "subscribers": n_users, "programs": n_items, "interactions": int(inter.nnz),
        "density": float(inter.nnz / (n_users * n_items)) if n_users and n_items else 0.0,
    })


def map_regression(previous: dict | None, current: dict, tolerance: float) -> Verdict:
    if previous is None:
        return Verdict(True, "WARN", "no previous week to compare with")
    metric = "map_at_10" if "map_at_10" in current and "map_at_10" in previous else "holdout_map_at_10"
    before, now = float(previous.get(metric, 0.0)), float(current.get(metric, 0.0))
    drop = (before - now) / before if before > 0 else 0.0
    return Verdict(drop <= tolerance, "WARN",
                   f"{metric} {before:.4f} -> {now:.4f} ({-drop:+.1%}); tolerance {tolerance:.0%}",
                   {"metric": metric, "previous": before, "current": now, "drop_fraction": float(drop)})


def quality_gate(metrics: dict, metric: str, margin: float) -> Verdict:
    """The week's model must beat popularity on the holdout protocol by `margin` (a fraction)."""
    model = metrics.get(f"holdout_{metric}")
    baseline = metrics.get(f"holdout_popularity_{metric}")
    if model is None or baseline is None:
        return Verdict(False, "ERROR", f"no holdout {metric} to compare (too few watched pairs)",
                       {"metric": metric, "margin": float(margin)})
    needed = baseline * (1.0 + margin)
    passed = model > needed
    return Verdict(passed, "ERROR",
                   f"model holdout {metric} {model:.4f} {'beats' if passed else 'does not beat'} popularity "
                   f"{baseline:.4f} by the margin {margin:.0%} (needs > {needed:.4f})",
                   {"metric": metric, "margin": float(margin), "model": float(model), "popularity": float(baseline)})
