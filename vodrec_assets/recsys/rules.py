"""The data-quality rules behind the asset checks, as plain functions of data: testable on crafted
frames without Dagster. Each returns a Verdict; the checks beside each domain (defs/<domain>/checks.py) turn it into an AssetCheckResult."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.parsing import datetime_values
from vodrec_assets.schema import ID_COLUMNS


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


def unique_ids_as_of(ids: np.ndarray, since: pd.Series, week_end: pd.Timestamp, what: str) -> Verdict:
    """A reference table of the week: every id once, and nobody whose `since` date (join or release) is
    on or after the week's end, so the week never sees a subscriber or program from its future."""
    ids = np.asarray(ids)
    repeated = int(len(ids) - len(np.unique(ids)))
    when = pd.Series(datetime_values(since))  # the cleaning's reading: zoned values in Seoul time
    future = int((when >= week_end).sum())
    problems = [p for p in (f"{repeated} repeated {what} ids" if repeated else "",
                            f"{future} {what}s dated on or after {week_end:%Y-%m-%d}" if future else "") if p]
    return Verdict(not problems, "ERROR", "; ".join(problems) or f"{len(ids)} {what}s, each once, as of the week",
                   {"rows": int(len(ids)), "repeated_ids": repeated, "after_week_end": future})


def model_matches_matrix(arrays: dict[str, np.ndarray], matrix_user_ids: np.ndarray,
                         matrix_item_ids: np.ndarray) -> Verdict:
    """A trained model (its stored arrays) against the week's score matrix: every factor and bias finite, and
    the model's subscriber and program ids exactly the matrix's, in the same order (serving maps rows
    to ids through them)."""
    problems = []
    non_finite = {name: int(np.size(a) - np.isfinite(a).sum()) for name, a in arrays.items()
                  if name not in ("user_ids", "item_ids") and np.issubdtype(np.asarray(a).dtype, np.floating)
                  and not np.isfinite(a).all()}
    if non_finite:
        problems.append(f"non-finite values in {non_finite}")
    for kind, ids, expected in (("subscriber", arrays.get("user_ids"), matrix_user_ids),
                                ("program", arrays.get("item_ids"), matrix_item_ids)):
        if ids is None or not np.array_equal(ids, expected):
            problems.append(f"{kind} ids differ from the score matrix's ({0 if ids is None else len(ids)} "
                            f"against {len(expected)})")
    return Verdict(not problems, "ERROR", "; ".join(problems) or "factors finite, ids those of the week's matrix", {
        "subscribers": int(len(matrix_user_ids)), "programs": int(len(matrix_item_ids)),
        "non_finite_values": int(sum(non_finite.values())),
    })


def recommendations_valid(frame: pd.DataFrame, matrix: ScoreMatrix, k: int) -> Verdict:
    """The week's lists against its score matrix: every subscriber of the window has min(k, programs
    still recommendable to them) programs, ranks 1..n, none already watched, none that may not be
    recommended (e_bool or not in the catalogue), none unknown."""
    users = matrix.user_index(frame["subsr_id"].to_numpy())
    items = matrix.item_index(frame["program_id"].to_numpy())
    unknown = int(((users < 0) | (items < 0)).sum())
    known = (users >= 0) & (items >= 0)
    u, i = users[known], items[known]
    watched = int(np.asarray(matrix.interactions[u, i]).ravel().astype(bool).sum()) if len(u) else 0
    forbidden = int((~matrix.item_allowed[i]).sum())
    per_user = np.bincount(users[users >= 0], minlength=matrix.shape[0])
    watched_allowed = np.asarray(matrix.interactions[:, matrix.item_allowed].sum(axis=1)).ravel()
    expected = np.minimum(k, int(matrix.item_allowed.sum()) - watched_allowed).astype(np.int64)
    wrong_length = int((per_user != expected).sum())
    ranks = frame.groupby("subsr_id")["rank"].agg(["min", "max", "count"]) if len(frame) else None
    bad_ranks = 0 if ranks is None else int(((ranks["min"] != 1) | (ranks["max"] != ranks["count"])).sum())
    problems = [p for p in (
        f"{unknown} rows name a subscriber or program outside the week's matrix" if unknown else "",
        f"{watched} recommended programs already watched" if watched else "",
        f"{forbidden} recommended programs that may not be recommended (e_bool or not in the catalogue)" if forbidden else "",
        f"{wrong_length} subscribers without min({k}, recommendable) programs" if wrong_length else "",
        f"{bad_ranks} subscribers whose ranks are not 1..n" if bad_ranks else "",
    ) if p]
    return Verdict(not problems, "ERROR", "; ".join(problems) or
                   f"{matrix.shape[0]} subscribers, {k} each (fewer only where fewer are left), none watched or excluded", {
        "rows": int(len(frame)), "subscribers": int(matrix.shape[0]), "already_watched": watched,
        "not_recommendable": forbidden, "wrong_length": wrong_length, "unknown_ids": unknown,
    })


def champion_passed_gate(history: list[dict], week: str, gate_passed: dict[str, bool],
                         published: set[str]) -> Verdict:
    """The champion named for `week` (if any) is a week at or before it whose quality gate passed and whose
    recommendations were published; weeks before the first passing model name no champion."""
    row = next((r for r in history if r["week"] == week), None)
    if row is None:
        ok = not any(gate_passed.get(w, False) and w in published for w in gate_passed if w <= week)
        return Verdict(ok, "ERROR", "no champion yet: no earlier week passed the gate" if ok else
                       f"no champion named for {week} although an earlier week passed the gate", {})
    champion = row["champion_week"]
    problems = [p for p in (
        f"champion {champion} is after {week}" if champion > week else "",
        f"champion {champion} did not pass the quality gate" if not gate_passed.get(champion, False) else "",
        f"champion {champion} has no published recommendations" if champion not in published else "",
    ) if p]
    return Verdict(not problems, "ERROR", "; ".join(problems) or f"champion {champion} passed the gate and is published",
                   {"champion_week": champion})


def one_row_per_week(history_weeks: list[str], stored_weeks: list[str]) -> Verdict:
    """The metrics history holds each week with stored metrics exactly once, and no other week."""
    repeated = sorted({w for w in history_weeks if history_weeks.count(w) > 1})
    missing = sorted(set(stored_weeks) - set(history_weeks))
    extra = sorted(set(history_weeks) - set(stored_weeks))
    problems = [p for p in (f"weeks repeated: {repeated}" if repeated else "",
                            f"weeks with metrics missing: {missing}" if missing else "",
                            f"weeks without stored metrics: {extra}" if extra else "") if p]
    return Verdict(not problems, "ERROR", "; ".join(problems) or f"{len(stored_weeks)} weeks, one row each",
                   {"weeks": int(len(set(history_weeks))), "stored_weeks": int(len(stored_weeks))})


def unassigned_rows_outside_weeks(reasons: pd.Series, log_dt: pd.Series, first: pd.Timestamp,
                                  upper: pd.Timestamp, known_reasons: tuple[str, ...]) -> Verdict:
    """Every unassigned log row has a known reason, and none lies inside the weeks the partitions read
    (such a row would be counted twice: here and in its week)."""
    when = pd.Series(datetime_values(log_dt))
    inside = int(((when >= first) & (when < upper)).sum())
    unknown = int((~reasons.isin(known_reasons)).sum())
    problems = [p for p in (f"{inside} rows lie inside the partitioned weeks" if inside else "",
                            f"{unknown} rows without a known reason" if unknown else "") if p]
    return Verdict(not problems, "ERROR", "; ".join(problems) or f"{len(reasons)} rows, each outside every week, with its reason",
                   {"rows": int(len(reasons)), "inside_weeks": inside, "unknown_reason": unknown})
