"""The zoo's backtest, pure: every family tuned on earlier weeks, scored on held-out weeks, one choice.

Protocol (the weekly pipeline's own, `next_week_targets` + `evaluate_scorer`): a model fitted on week
W-1's score matrix ranks programs for W's active subscribers against what they newly watched in W.
Target weeks before the first held-out week tune each family's hyperparameters (mean of the tuning
metric over them); the held-out target weeks then score the tuned families. While tuning, the week
reader is guarded: asking for a held-out week's data raises, so the tuning never sees the weeks it is
scored on. The choice is the family with the best held-out mean, unless its paired advantage over the
incumbent (LightFM) is smaller than `min_standard_errors` standard errors of the week-by-week
differences: then the incumbent stays (a challenger must win clearly, not by noise).
"""

from __future__ import annotations

import math
import time
import tracemalloc
from dataclasses import dataclass, field
from itertools import product
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from vodrec_assets.recsys.baselines import CatalogueTooLarge
from vodrec_assets.recsys.evaluation import evaluate_scorer, next_week_targets
from vodrec_assets.recsys.matrix import ScoreMatrix
from vodrec_assets.recsys.zoo import DEFAULT_FAMILY, DEFAULT_PARAMS, FAMILIES, ZooModel, fit_family, params_for

METRICS = ("precision_at_10", "map_at_10", "ndcg_at_10", "catalog_coverage", "novelty")
# The families' tuning grids: the product of each list. iALS's regularization spans five decades
# because 100 beat 0.01–1 on the synthetic weeks; LightFM keeps the weekly shape (tuning it is
# model_selection's job, and every point costs a fit per week).
DEFAULT_GRIDS: dict[str, dict[str, list]] = {
    "lightfm": {},
    "ease": {"l2": [50.0, 100.0, 250.0, 500.0, 1000.0]},
    "ials": {"regularization": [0.1, 10.0, 100.0, 1000.0], "alpha": [1.0, 10.0]},
    "item_knn": {"neighbours": [50, 100, 200]},
    "popularity": {},
    "lightfm_ease_blend": {"weight": [0.3, 0.5, 0.7], "l2": [100.0, 250.0, 500.0]},
}


class WeekReader(Protocol):
    """Where the backtest reads weeks from: the score matrix of a week and its watched pairs
    (`weekly_pair_stats` columns subsr_id, program_id, watch_max_ratio)."""

    def matrix(self, week: str) -> ScoreMatrix: ...

    def pairs(self, week: str) -> pd.DataFrame: ...


class HeldOutWeekRead(RuntimeError):
    """The tuning phase asked for a held-out week's data."""


class _TuningGuard:
    """The reader as tuning sees it: held-out weeks refuse to be read."""

    def __init__(self, reader: WeekReader, held_out: set[str]):
        self.reader, self.held_out = reader, held_out

    def _check(self, week: str) -> None:
        if week in self.held_out:
            raise HeldOutWeekRead(f"tuning asked for held-out week {week}")

    def matrix(self, week: str) -> ScoreMatrix:
        self._check(week)
        return self.reader.matrix(week)

    def pairs(self, week: str) -> pd.DataFrame:
        self._check(week)
        return self.reader.pairs(week)


def grid_points(grid: dict[str, list]) -> list[dict[str, Any]]:
    names = sorted(grid)
    return [dict(zip(names, values)) for values in product(*(grid[n] for n in names))]


@dataclass
class BacktestResult:
    tuning_weeks: list[str]
    held_out_weeks: list[str]
    tuning: pd.DataFrame  # family, params, tuning metric mean
    chosen_params: dict[str, dict[str, Any]]  # per family, tuned on tuning weeks only
    per_week: pd.DataFrame  # family, week, metrics, fit_seconds, peak_mb
    summary: pd.DataFrame  # per family: means, paired difference to the incumbent and its SE
    choice: dict[str, Any] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # family -> why it could not be fitted

    def to_record(self) -> dict[str, Any]:
        return {
            "tuning_weeks": self.tuning_weeks, "held_out_weeks": self.held_out_weeks,
            "choice": self.choice, "chosen_params": self.chosen_params, "refused": self.refused,
            "summary": self.summary.to_dict(orient="records"),
            "per_week": self.per_week.to_dict(orient="records"),
            "tuning": self.tuning.assign(params=self.tuning["params"].map(str)).to_dict(orient="records"),
        }


class _Fitter:
    """Fits a family on a week, memoized so that the blend reuses the LightFM and EASE fits."""

    def __init__(self, reader: WeekReader, measure_memory: bool):
        self.reader, self.measure_memory, self.cache = reader, measure_memory, {}

    def __call__(self, family: str, params: dict[str, Any], week: str) -> tuple[ZooModel, float]:
        key = (family, repr(sorted(params.items())), week)
        if key not in self.cache:
            matrix = self.reader.matrix(week)
            # A blend's parts are fitted inside its trace, or were fitted (and measured) before: its
            # peak is the largest of its own trace and its parts' peaks.
            parts: list[float] = []
            trace = self.measure_memory and not tracemalloc.is_tracing()
            if trace:
                tracemalloc.start()
            try:
                def component(f: str, p: dict[str, Any]) -> ZooModel:
                    model, peak = self(f, p, week)
                    parts.append(peak)
                    return model

                model = fit_family(family, matrix, params, component=component)
                peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
            finally:
                if trace:
                    tracemalloc.stop()
            self.cache = {k: v for k, v in self.cache.items() if k[2] == week}  # one week's fits at a time
            self.cache[key] = (model, max([peak, *parts]))
        return self.cache[key]


def score_week(reader: WeekReader, fitter: _Fitter, family: str, params: dict[str, Any], prev: str,
               week: str, served: Callable[[str], ZooModel | None] | None = None) -> dict[str, float] | None:
    """Next-week metrics of `family` fitted on `prev`, scored on `week`; None when nobody is scorable.
    With `served`, the LightFM family is `served(prev)` when that returns a model (the weekly model as
    it was served: warm-started, not refitted here)."""
    matrix = reader.matrix(prev)
    users, relevant = next_week_targets(matrix, reader.pairs(week))
    if len(users) == 0:
        return None
    stored = served(prev) if served is not None and family == DEFAULT_FAMILY else None
    model, peak = (stored, math.nan) if stored is not None else fitter(family, params, prev)
    metrics = evaluate_scorer(model.scorer(), users, relevant, matrix.interactions, matrix.item_allowed,
                              novelty_of=matrix.interactions)
    return {k: float(metrics[k]) for k in METRICS} | {
        "users": float(len(users)), "fit_seconds": float(model.fit_seconds), "peak_mb": float(peak)}


def backtest(reader: WeekReader, weeks: list[str], held_out: int | list[str],
             families: tuple[str, ...] = FAMILIES, grids: dict[str, dict[str, list]] | None = None,
             base_params: dict[str, dict[str, Any]] | None = None, metric: str = "precision_at_10",
             incumbent: str = DEFAULT_FAMILY, min_standard_errors: float = 1.0,
             measure_memory: bool = True, served: Callable[[str], ZooModel | None] | None = None,
             max_fit_seconds: float | None = None) -> BacktestResult:
    """Tune every family on the target weeks before the held-out ones, score it on the held-out ones.

    `weeks`: consecutive weekly partitions, oldest first, each with a score matrix and pairs; target
    week W is scored with a model fitted on the week before it. `held_out`: the last N target weeks, or
    their names. `base_params[family]` overrides the defaults every grid point starts from. `served(week)`
    gives the weekly LightFM model of a week as it was served (score_week); it is asked only for the
    weeks before held-out target weeks, never while tuning."""
    weeks = sorted(weeks)
    targets = weeks[1:]
    held = targets[-held_out:] if isinstance(held_out, int) else sorted(held_out)
    if isinstance(held_out, int) and not 0 < held_out < len(targets):
        raise ValueError(f"{held_out} held-out weeks leave no tuning week among {len(targets)} target weeks")
    unknown = set(held) - set(targets)
    if unknown:
        raise ValueError(f"held-out weeks {sorted(unknown)} are not target weeks of {weeks[0]} .. {weeks[-1]}")
    tuning_targets = [w for w in targets if w < held[0]]
    if not tuning_targets:
        raise ValueError(f"no target week before the first held-out week {held[0]} to tune on")
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        raise ValueError(f"unknown families {bad}; known: {', '.join(FAMILIES)}")
    grids = {**DEFAULT_GRIDS, **(grids or {})}
    base_params = base_params or {}
    previous = {w: weeks[i] for i, w in enumerate(weeks[1:])}

    guard = _TuningGuard(reader, set(held))
    tune_fitter = _Fitter(guard, measure_memory=False)
    candidates = {f: [params_for(f, base_params.get(f, {}) | p) for p in grid_points(grids.get(f, {}))]
                  for f in families}
    scores: dict[tuple[str, int], list[float]] = {}
    refused: dict[str, str] = {}  # families that cannot fit these weeks (EASE above its catalogue limit)
    for week in tuning_targets:  # weeks outermost: the fitter keeps one week's fits, the blend reuses them
        for family, points in candidates.items():
            if len(points) == 1:  # nothing to choose: no tuning fit spent
                continue
            for j, params in enumerate(points):
                if family in refused:
                    break
                try:
                    result = score_week(guard, tune_fitter, family, params, previous[week], week)
                except CatalogueTooLarge as exc:
                    refused[family] = str(exc)
                    break
                if result:
                    scores.setdefault((family, j), []).append(result[metric])
    tuning_rows, chosen = [], {}
    for family, points in candidates.items():
        values = [float(np.mean(scores[(family, j)])) if (family, j) in scores else math.nan
                  for j in range(len(points))]
        tuning_rows += [{"family": family, "params": p, metric: v} for p, v in zip(points, values)]
        ranked = [j for j in np.argsort([-v if not math.isnan(v) else math.inf for v in values], kind="stable")]
        chosen[family] = points[ranked[0]]
    tune_fitter.cache.clear()

    fitter = _Fitter(reader, measure_memory)
    rows = []
    for week in held:
        for family in families:
            if family in refused:
                continue
            try:
                result = score_week(reader, fitter, family, chosen[family], previous[week], week, served)
            except CatalogueTooLarge as exc:
                refused[family] = str(exc)
                rows = [r for r in rows if r["family"] != family]
                continue
            if result:
                rows.append({"family": family, "week": week, **result})
    per_week = pd.DataFrame(rows)
    summary = summarize(per_week, metric, incumbent if incumbent in families else families[0])
    chosen = {f: p for f, p in chosen.items() if f not in refused}
    result = BacktestResult(tuning_targets, held, pd.DataFrame(tuning_rows), chosen, per_week, summary,
                            refused=refused)
    result.choice = choose(summary, chosen, metric, incumbent, min_standard_errors, max_fit_seconds)
    return result


def summarize(per_week: pd.DataFrame, metric: str, incumbent: str) -> pd.DataFrame:
    """Per family: held-out means, and the mean week-by-week difference of `metric` to the incumbent
    with its standard error (sd / sqrt(weeks), paired by week)."""
    if per_week.empty:
        return pd.DataFrame(columns=["family"])
    means = per_week.groupby("family", sort=False)[[*METRICS, "fit_seconds"]].mean()
    means["peak_mb"] = per_week.groupby("family", sort=False)["peak_mb"].max()
    means["weeks"] = per_week.groupby("family", sort=False)["week"].count()
    wide = per_week.pivot(index="week", columns="family", values=metric)
    diffs = wide.sub(wide[incumbent], axis=0) if incumbent in wide else wide * np.nan
    means[f"{metric}_diff"] = diffs.mean()
    n = diffs.count()
    means[f"{metric}_diff_se"] = diffs.std(ddof=1) / np.sqrt(n.clip(lower=1))
    means["diff_in_se"] = means[f"{metric}_diff"] / means[f"{metric}_diff_se"].replace(0, np.nan)
    return means.reset_index()


def choose(summary: pd.DataFrame, chosen: dict[str, dict[str, Any]], metric: str, incumbent: str,
           min_standard_errors: float, max_fit_seconds: float | None = None) -> dict[str, Any]:
    """The family to train every week and why. With `max_fit_seconds`, a challenger whose mean fit took
    longer is not eligible (the incumbent always is: it is what runs today)."""
    too_slow: list[str] = []
    if max_fit_seconds and not summary.empty:
        slow = (summary["family"] != incumbent) & (summary["fit_seconds"] > max_fit_seconds)
        too_slow = sorted(summary.loc[slow, "family"])
        summary = summary[~slow]
    choice = _choose(summary, chosen, metric, incumbent, min_standard_errors)
    if too_slow:
        choice["reason"] += f" (over the {max_fit_seconds:g} s fit budget: {', '.join(too_slow)})"
    return choice


def _choose(summary: pd.DataFrame, chosen: dict[str, dict[str, Any]], metric: str, incumbent: str,
            min_standard_errors: float) -> dict[str, Any]:
    if summary.empty:
        return {"family": incumbent, "params": chosen.get(incumbent, DEFAULT_PARAMS[incumbent]),
                "reason": "no held-out week could be scored: the incumbent stays"}
    best = summary.sort_values(metric, ascending=False, kind="stable").iloc[0]
    family = str(best["family"])
    diff, se = float(best[f"{metric}_diff"]), float(best[f"{metric}_diff_se"])
    if family != incumbent and incumbent in set(summary["family"]):
        margin = diff / se if se > 0 else (math.inf if diff > 0 else 0.0)
        if not margin >= min_standard_errors:
            return {"family": incumbent, "params": chosen[incumbent], "metric": metric,
                    "reason": f"best {family} beats {incumbent} by {diff:+.4f} {metric}, {margin:.2f} paired "
                              f"standard errors, under the {min_standard_errors} required: {incumbent} stays"}
        return {"family": family, "params": chosen[family], "metric": metric, "paired_diff": diff, "paired_se": se,
                "reason": f"{family} beats {incumbent} by {diff:+.4f} {metric} ({margin:.2f} paired standard "
                          f"errors over {int(best['weeks'])} held-out weeks)"}
    return {"family": family, "params": chosen[family], "metric": metric,
            "reason": f"{family} has the best held-out {metric} ({float(best[metric]):.4f})"}
