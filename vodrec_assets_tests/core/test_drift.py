"""The drift rules (recsys/drift.py): PSI's properties, the new-id shares, and the figures of a week that
looks like its trailing weeks (no warning) against weeks whose viewing was halved, replaced or shifted."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vodrec_assets.recsys.drift import (
    ACTIVITY_EDGES, DriftThresholds, WeekSample, activity_histogram, drift_warnings, new_share, psi,
    watch_ratio_histogram, week_drift,
)

counts = st.lists(st.integers(0, 10_000), min_size=len(ACTIVITY_EDGES) - 1, max_size=len(ACTIVITY_EDGES) - 1)


@given(counts, counts)
def test_psi_is_non_negative_symmetric_and_zero_on_itself(a, b):
    a, b = np.array(a), np.array(b)
    assert psi(a, b) >= 0
    assert psi(a, b) == pytest.approx(psi(b, a))
    assert psi(a, a) == pytest.approx(0.0, abs=1e-12)


@given(counts, st.integers(1, 50))
def test_psi_ignores_scale(a, k):
    """Shares, not counts: a week twice as large with the same shape has not shifted."""
    a = np.array(a)
    assert psi(a, k * a) == pytest.approx(0.0, abs=1e-9)


def test_psi_of_a_real_shift_is_large_and_mismatched_bins_are_refused():
    assert psi(np.array([80, 20]), np.array([20, 80])) > 0.25
    assert psi(np.array([50, 50]), np.array([52, 48])) < 0.01
    with pytest.raises(ValueError):
        psi(np.array([1, 2]), np.array([1, 2, 3]))


@given(st.lists(st.integers(0, 50), min_size=1), st.lists(st.lists(st.integers(0, 50)), max_size=4))
def test_new_share_is_the_share_of_unseen_distinct_ids(current, trailing):
    share = new_share(np.array(current), [np.array(t, dtype=int) for t in trailing])
    seen = set().union(*map(set, trailing)) if trailing else set()
    assert share == pytest.approx(len(set(current) - seen) / len(set(current)))


def test_histograms_count_every_value_once():
    assert watch_ratio_histogram(np.array([0.0, 0.05, 0.95, 1.0, 1.7, np.nan])).tolist() == [2, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    # subscriber 1: 1 pair, 2: 2 pairs, 3: 3 pairs, 4: 70 pairs
    ids = np.array([1, 2, 2, 3, 3, 3] + [4] * 70)
    assert activity_histogram(ids).tolist() == [1, 1, 1, 0, 0, 0, 0, 1]


def _week(rng: np.random.Generator, rows=7_500, subscribers=range(400), programs=range(170), ratio=(2, 2)) -> WeekSample:
    n = 3_600
    return WeekSample(rows, rng.choice(np.array(subscribers), n), rng.choice(np.array(programs), n),
                      rng.beta(*ratio, n))


def test_a_week_like_its_trailing_weeks_does_not_warn_and_shifted_weeks_do():
    rng = np.random.default_rng(0)
    trailing = [_week(rng) for _ in range(4)]
    same = week_drift(_week(rng), trailing)
    assert same["drift_trailing_weeks"] == 4 and drift_warnings(same) == []
    assert 0.9 < same["drift_rows_vs_trailing"] < 1.1 and same["drift_watch_ratio_psi"] < 0.05

    halved = drift_warnings(week_drift(_week(rng, rows=3_000), trailing))
    assert len(halved) == 1 and "log volume 0.40 x" in halved[0]
    replaced = drift_warnings(week_drift(_week(rng, subscribers=range(1_000, 1_400)), trailing))
    assert len(replaced) == 1 and "100% of the week's active subscribers are new" in replaced[0]
    new_catalogue = drift_warnings(week_drift(_week(rng, programs=range(500, 670)), trailing))
    assert any("programs are new" in w for w in new_catalogue)
    skipping = drift_warnings(week_drift(_week(rng, ratio=(1, 8)), trailing))  # everyone stops early
    assert len(skipping) == 1 and skipping[0].startswith("watch-ratio distribution shifted")
    # Each subscriber watches many more programs: the same pairs spread over a tenth of the subscribers.
    binge = drift_warnings(week_drift(_week(rng, subscribers=range(40)), trailing))
    assert any(w.startswith("per-subscriber activity distribution shifted") for w in binge)


def test_the_first_week_has_only_its_own_counts_and_the_thresholds_are_configurable():
    rng = np.random.default_rng(1)
    first = week_drift(_week(rng), [])
    assert set(first) == {"drift_rows", "drift_active_subscribers", "drift_active_programs", "drift_trailing_weeks"}
    assert drift_warnings(first) == []
    figures = week_drift(_week(rng, rows=9_000), [_week(rng)])
    assert drift_warnings(figures) == []
    assert drift_warnings(figures, DriftThresholds(rows_ratio_high=1.1))
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in figures.values())
