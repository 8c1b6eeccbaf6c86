"""The backtest tunes on earlier weeks only, scores held-out weeks, and chooses with a paired SE rule."""

import numpy as np
import pandas as pd
import pytest

from vodrec_assets.recsys import backtest as bt
from vodrec_assets.recsys.zoo import FAMILIES
from vodrec_assets_tests.core.test_zoo import CLUSTERS, FAST_PARAMS, ITEMS_PER, USERS_PER, planted

WEEKS = [f"2024-01-{d:02d}" for d in (1, 8, 15, 22, 29)] + ["2024-02-05", "2024-02-12"]


class RecordingReader:
    """Planted weeks; records every read in order. Week W's pairs: each subscriber newly watches two
    unseen programs of its own cluster (or, with `scramble`, of a random cluster)."""

    def __init__(self, scramble: set[str] = frozenset()):
        self.reads: list[tuple[str, str]] = []
        self.scramble = scramble

    def matrix(self, week):
        self.reads.append(("matrix", week))
        return planted(seed=WEEKS.index(week))

    def pairs(self, week):
        self.reads.append(("pairs", week))
        prev = planted(seed=WEEKS.index(week) - 1)
        rng = np.random.default_rng(100 + WEEKS.index(week))
        rows = []
        for u in range(CLUSTERS * USERS_PER):
            c = rng.integers(CLUSTERS) if week in self.scramble else u // USERS_PER
            cluster = c * ITEMS_PER + np.arange(ITEMS_PER)
            unseen = cluster[prev.interactions[u].toarray().ravel()[cluster] == 0]
            for i in rng.permutation(unseen)[:2]:
                rows.append((prev.user_ids[u], prev.item_ids[i], 0.8))
        return pd.DataFrame(rows, columns=["subsr_id", "program_id", "watch_max_ratio"])


GRIDS = {"ease": {"l2": [1.0, 10.0, 100.0]}, "item_knn": {"neighbours": [5, 20]},
         "ials": {"regularization": [0.1, 1.0]}, "lightfm_ease_blend": {"weight": [0.3, 0.7]}}


def run(reader, families=FAMILIES, held_out=3, **kw):
    return bt.backtest(reader, WEEKS, held_out, tuple(families), grids=GRIDS, base_params=FAST_PARAMS,
                       measure_memory=False, **kw)


def test_tuning_reads_no_held_out_week_and_scoring_follows():
    reader = RecordingReader()
    result = run(reader)
    held = set(result.held_out_weeks)
    assert result.held_out_weeks == WEEKS[-3:] and result.tuning_weeks == WEEKS[1:4]
    first_held = next(i for i, (_, w) in enumerate(reader.reads) if w in held)
    tuning_reads = reader.reads[:first_held]
    assert tuning_reads and {w for _, w in tuning_reads} <= set(WEEKS[:4])
    # every tuning week's pairs were read before any held-out week, and held-out pairs were read later
    assert {w for kind, w in tuning_reads if kind == "pairs"} == set(WEEKS[1:4])
    assert {w for kind, w in reader.reads[first_held:] if kind == "pairs"} == held


def test_the_tuned_hyperparameters_do_not_depend_on_the_held_out_weeks():
    plain, scrambled = run(RecordingReader()), run(RecordingReader(scramble=set(WEEKS[-3:])))
    assert plain.chosen_params == scrambled.chosen_params
    pd.testing.assert_frame_equal(plain.tuning, scrambled.tuning)
    # ... while the held-out scores do see the scrambled weeks
    assert scrambled.summary.set_index("family").loc["ease", "precision_at_10"] < \
        plain.summary.set_index("family").loc["ease", "precision_at_10"]


def test_the_guard_refuses_a_held_out_read():
    guard = bt._TuningGuard(RecordingReader(), {"2024-02-12"})
    guard.matrix("2024-02-05")
    with pytest.raises(bt.HeldOutWeekRead, match="2024-02-12"):
        guard.pairs("2024-02-12")


def test_every_family_is_scored_on_every_held_out_week_with_all_metrics():
    result = run(RecordingReader())
    assert set(result.per_week["family"]) == set(FAMILIES)
    assert len(result.per_week) == len(FAMILIES) * 3
    for column in (*bt.METRICS, "fit_seconds", "users"):
        assert result.per_week[column].notna().all()
    summary = result.summary.set_index("family")
    # planted clusters: item-item and factor models beat popularity, the choice names its reason
    assert summary.loc["ease", "precision_at_10"] > 2 * summary.loc["popularity", "precision_at_10"]
    assert summary.loc["lightfm", "precision_at_10_diff"] == 0.0
    assert result.choice["family"] in FAMILIES and result.choice["reason"]


def test_peak_memory_is_measured_per_fit():
    result = bt.backtest(RecordingReader(), WEEKS, 2, ("popularity", "ease"), grids=GRIDS, base_params=FAST_PARAMS)
    peaks = result.per_week.set_index(["family", "week"])["peak_mb"]
    assert (peaks > 0).all()
    # EASE holds a dense 48 x 48 inverse and the Gram matrix: more than a popularity count vector
    assert peaks.loc["ease"].min() > peaks.loc["popularity"].max()


def test_the_served_lightfm_is_scored_instead_of_a_refit_and_asked_only_for_held_out_weeks():
    asked = []

    def served(week):
        asked.append(week)
        return None  # nothing stored: the family is refitted

    run(RecordingReader(), families=("lightfm", "popularity"), served=served)
    assert asked == WEEKS[-4:-1]  # the weeks before each held-out target week


def summary_of(diffs_by_week: dict[str, float], base: float = 0.03) -> pd.DataFrame:
    rows = []
    for week, diff in diffs_by_week.items():
        rows.append({"family": "lightfm", "week": week, "precision_at_10": base, "peak_mb": 0.0})
        rows.append({"family": "ease", "week": week, "precision_at_10": base + diff, "peak_mb": 0.0})
    per_week = pd.DataFrame(rows)
    for m in bt.METRICS:
        if m not in per_week:
            per_week[m] = 0.0
    per_week["fit_seconds"] = 0.0
    return bt.summarize(per_week, "precision_at_10", "lightfm")


def test_a_challenger_must_win_by_the_required_paired_standard_errors():
    params = {"lightfm": {}, "ease": {"l2": 1.0}}
    clear = summary_of({"a": 0.004, "b": 0.005, "c": 0.006})  # mean 0.005, SE 0.000577: 8.7 SE
    assert bt.choose(clear, params, "precision_at_10", "lightfm", 1.0)["family"] == "ease"
    noisy = summary_of({"a": 0.010, "b": -0.008, "c": 0.001})  # mean 0.001, SE 0.0052: 0.19 SE
    choice = bt.choose(noisy, params, "precision_at_10", "lightfm", 1.0)
    assert choice["family"] == "lightfm" and "lightfm stays" in choice["reason"]
    row = noisy.set_index("family").loc["ease"]
    assert row["precision_at_10_diff"] == pytest.approx(0.001)
    assert row["precision_at_10_diff_se"] == pytest.approx(np.std([0.010, -0.008, 0.001], ddof=1) / np.sqrt(3))


def test_a_challenger_over_the_fit_budget_is_not_chosen():
    params = {"lightfm": {}, "ease": {"l2": 1.0}}
    clear = summary_of({"a": 0.004, "b": 0.005, "c": 0.006})
    clear.loc[clear["family"] == "ease", "fit_seconds"] = 90.0
    choice = bt.choose(clear, params, "precision_at_10", "lightfm", 1.0, max_fit_seconds=80.0)
    assert choice["family"] == "lightfm" and "over the 80 s fit budget: ease" in choice["reason"]
    assert bt.choose(clear, params, "precision_at_10", "lightfm", 1.0, max_fit_seconds=100.0)["family"] == "ease"


def test_bad_week_ranges_are_refused():
    with pytest.raises(ValueError, match="no tuning week"):
        bt.backtest(RecordingReader(), WEEKS, 6, ("popularity",))
    with pytest.raises(ValueError, match="not target weeks"):
        bt.backtest(RecordingReader(), WEEKS, ["2030-01-07"], ("popularity",))


def test_a_family_that_refuses_the_catalogue_is_reported_not_fatal(monkeypatch):
    from vodrec_assets.recsys import zoo

    monkeypatch.setattr(zoo, "EASE_MAX_ITEMS", 10)  # the planted catalogue has 48 programs
    result = run(RecordingReader(), families=("lightfm", "ease", "lightfm_ease_blend", "popularity"))
    assert set(result.refused) == {"ease", "lightfm_ease_blend"}
    assert "refusing more than 10 items" in result.refused["ease"]
    assert set(result.per_week["family"]) == {"lightfm", "popularity"}
    assert result.choice["family"] in {"lightfm", "popularity"}
    assert result.to_record()["refused"] == result.refused
