"""Champion/challenger rules: one test per rule, plus the replay used by the champion_model asset."""

import math
import random

import pytest

from vodrec_assets.recsys.promotion import ChampionState, decide_champion, replay_history


def test_first_model_that_passes_the_gate_becomes_champion():
    d = decide_champion(None, "2023-08-07", True, 0.12)
    assert d.promoted and d.champion_week == "2023-08-07"
    assert d.champion_map_at_10 is None and d.candidate_map_at_10 == 0.12
    assert d.champion == ChampionState("2023-08-07", 0.12)
    assert "first model" in d.reason and "0.120000" in d.reason


def test_no_champion_while_no_model_passed_the_gate():
    d = decide_champion(None, "2023-08-07", False, 0.5)
    assert not d.promoted and d.champion_week is None and d.champion is None
    assert "failed its quality gate" in d.reason
    assert d.to_row("2023-08-14T00:00:00") is None  # champion_week is NOT NULL: no row yet


def test_better_candidate_is_promoted():
    d = decide_champion(ChampionState("2023-08-07", 0.10), "2023-08-14", True, 0.11)
    assert d.promoted and d.champion_week == "2023-08-14"
    assert d.champion_map_at_10 == 0.10 and d.candidate_map_at_10 == 0.11
    assert "0.110000 > champion 2023-08-07's 0.100000" in d.reason


def test_tie_goes_to_the_newer_week():
    d = decide_champion(ChampionState("2023-08-07", 0.10), "2023-08-14", True, 0.10)
    assert d.promoted and d.champion_week == "2023-08-14"
    assert "ties" in d.reason and "newer week wins" in d.reason


def test_worse_candidate_leaves_the_champion():
    d = decide_champion(ChampionState("2023-08-07", 0.10), "2023-08-14", True, 0.0999)
    assert not d.promoted and d.champion_week == "2023-08-07"
    assert d.champion == ChampionState("2023-08-07", 0.10)
    assert "champion 2023-08-07 kept" in d.reason and "0.099900 < champion's 0.100000" in d.reason


def test_failed_gate_never_promotes_even_a_better_model():
    d = decide_champion(ChampionState("2023-08-07", 0.10), "2023-08-14", False, 0.90)
    assert not d.promoted and d.champion_week == "2023-08-07"
    assert "failed its quality gate" in d.reason


@pytest.mark.parametrize("missing", [None, math.nan, math.inf])
def test_candidate_without_a_finite_map_is_not_promoted(missing):
    d = decide_champion(ChampionState("2023-08-07", 0.10), "2023-08-14", True, missing)
    assert not d.promoted and d.champion_week == "2023-08-07" and d.candidate_map_at_10 is None
    assert "no holdout_map_at_10" in d.reason
    assert decide_champion(None, "2023-08-14", True, missing).champion_week is None


def test_champion_without_a_recorded_map_is_replaced_by_a_measured_one():
    d = decide_champion(ChampionState("2023-08-07", None), "2023-08-14", True, 0.01)
    assert d.promoted and d.champion_week == "2023-08-14" and "had no" in d.reason


@pytest.mark.parametrize("week", ["2023-08-07", "2023-07-31"])
def test_candidate_must_be_newer_than_the_champion(week):
    with pytest.raises(ValueError, match="not newer"):
        decide_champion(ChampionState("2023-08-07", 0.1), week, True, 0.2)


def test_row_for_the_champion_history_table():
    d = decide_champion(ChampionState("2023-08-07", 0.10), "2023-08-14", True, 0.05)
    assert d.to_row("2023-08-21T03:00:00+09:00") == {
        "week": "2023-08-14", "champion_week": "2023-08-07", "promoted": 0, "reason": d.reason,
        "candidate_map_at_10": 0.05, "champion_map_at_10": 0.10, "decided_at": "2023-08-21T03:00:00+09:00",
    }


WEEKS = [
    ("2023-08-07", False, 0.30),  # gate failed: no champion yet
    ("2023-08-14", True, 0.10),   # first champion
    ("2023-08-21", True, 0.08),   # worse: kept
    ("2023-08-28", True, 0.10),   # tie with 08-14: newer wins
    ("2023-09-04", False, 0.50),  # gate failed: kept
    ("2023-09-11", True, None),   # no metric: kept
    ("2023-09-18", True, 0.12),   # better: promoted
]


def test_replay_applies_the_rules_week_by_week():
    decisions = replay_history(WEEKS)
    assert [d.week for d in decisions] == [w for w, _, _ in WEEKS]
    assert [d.champion_week for d in decisions] == [
        None, "2023-08-14", "2023-08-14", "2023-08-28", "2023-08-28", "2023-08-28", "2023-09-18"]
    assert [d.promoted for d in decisions] == [False, True, False, True, False, False, True]
    # Each decision compares with the champion as it stood before it.
    assert [d.champion_map_at_10 for d in decisions] == [None, None, 0.10, 0.10, 0.10, 0.10, 0.10]


def test_replay_is_deterministic_whatever_the_input_order():
    expected = replay_history(WEEKS)
    rng = random.Random(0)
    for _ in range(20):
        shuffled = WEEKS[:]
        rng.shuffle(shuffled)
        assert replay_history(shuffled) == expected


def test_replay_rejects_a_week_given_twice():
    with pytest.raises(ValueError, match="more than once"):
        replay_history([("2023-08-07", True, 0.1), ("2023-08-07", True, 0.2)])


def test_replay_of_nothing_is_empty():
    assert replay_history([]) == []
