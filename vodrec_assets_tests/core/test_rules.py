import numpy as np
import pandas as pd
import scipy.sparse as sp

from vodrec_assets.recsys import rules
from vodrec_assets.recsys.cleaning import WATCH_COLUMNS
from vodrec_assets.recsys.matrix import ScoreMatrix


def test_raw_logs_shape_passes_on_expected_columns_and_fails_on_empty_or_missing():
    frame = pd.DataFrame({c: [1] for c in WATCH_COLUMNS})
    assert rules.raw_logs_shape(frame, WATCH_COLUMNS).passed
    empty = rules.raw_logs_shape(frame.iloc[0:0], WATCH_COLUMNS)
    assert not empty.passed and "no rows" in empty.description
    missing = rules.raw_logs_shape(frame.drop(columns=["use_tms"]), WATCH_COLUMNS)
    assert not missing.passed and "use_tms" in missing.description


def test_quarantine_share_thresholds():
    def summary(share):
        return {"quarantined_share": share, "quarantined_rows": int(share * 1000), "quarantined_null_id": 3}

    ok = rules.quarantine_share(summary(0.005), 0.01, 0.2)
    warn = rules.quarantine_share(summary(0.05), 0.01, 0.2)
    error = rules.quarantine_share(summary(0.30), 0.01, 0.2)
    assert ok.passed
    assert not warn.passed and warn.severity == "WARN"
    assert not error.passed and error.severity == "ERROR"
    assert "null_id" in error.description


def test_ratings_valid_catches_out_of_range_and_duplicates():
    good = pd.DataFrame({"subsr_id": [1, 1, 2], "program_id": [1, 2, 1], "rating": [0.0, 1.0, np.nan]})
    assert rules.ratings_valid(good).passed
    bad = pd.DataFrame({"subsr_id": [1, 1, 2], "program_id": [1, 1, 1], "rating": [0.5, 0.2, 1.5]})
    verdict = rules.ratings_valid(bad)
    assert not verdict.passed
    assert verdict.metadata == {"out_of_range": 1, "duplicate_pairs": 1, "pairs": 3}


def matrix(user_ids, item_ids, rows, cols):
    n, m = len(user_ids), len(item_ids)
    inter = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, m))
    return ScoreMatrix(np.array(user_ids), np.array(item_ids), inter, inter.copy(), np.ones(m, bool),
                       sp.csr_matrix((n, 0), dtype=np.float32), sp.csr_matrix((m, 0), dtype=np.float32),
                       np.array([], "U1"), np.array([], "U1"))


def test_score_matrix_consistency():
    good = rules.score_matrix_consistent(matrix([1, 2], [10, 20, 30], [0, 1], [2, 0]))
    assert good.passed and good.metadata["density"] == 2 / 6
    repeated = rules.score_matrix_consistent(matrix([1, 1], [10, 20, 30], [0, 1], [2, 0]))
    assert not repeated.passed and "id maps" in repeated.description


def test_quality_gate_and_regression():
    metrics = {"holdout_map_at_10": 0.12, "holdout_popularity_map_at_10": 0.10}
    assert rules.quality_gate(metrics, "map_at_10", 0.0).passed
    assert rules.quality_gate(metrics, "map_at_10", 0.1).passed
    failed = rules.quality_gate(metrics, "map_at_10", 0.5)
    assert not failed.passed and failed.severity == "ERROR" and "does not beat" in failed.description
    assert not rules.quality_gate({}, "map_at_10", 0.0).passed
    assert rules.map_regression(None, {"map_at_10": 0.1}, 0.2).passed
    assert rules.map_regression({"map_at_10": 0.10}, {"map_at_10": 0.09}, 0.2).passed
    dropped = rules.map_regression({"map_at_10": 0.10}, {"map_at_10": 0.05}, 0.2)
    assert not dropped.passed and dropped.severity == "WARN"


def test_duplicate_pairs_packed_sorted_unsorted_and_unpackable_ids_agree_with_pandas():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"subsr_id": rng.integers(0, 50, 2000), "program_id": rng.integers(0, 40, 2000),
                          "rating": rng.uniform(0, 1, 2000)})
    expected = int(frame.duplicated(["subsr_id", "program_id"]).sum())
    assert expected > 0
    assert rules.ratings_valid(frame).metadata["duplicate_pairs"] == expected  # unsorted, packed
    unique_sorted = frame.drop_duplicates(["subsr_id", "program_id"]).sort_values(["subsr_id", "program_id"])
    assert rules.ratings_valid(unique_sorted).metadata["duplicate_pairs"] == 0  # the fast path
    huge = frame.assign(subsr_id=frame["subsr_id"] + 2**40)  # too large to pack: pandas
    assert rules.ratings_valid(huge).metadata["duplicate_pairs"] == expected


def test_unique_ids_as_of_the_week_catches_repeats_and_the_future():
    end = pd.Timestamp("2023-08-14")
    ok = rules.unique_ids_as_of(np.array([1, 2, 3]), pd.Series(["2023-01-01", None, "2023-08-13 23:59:59"]), end, "subscriber")
    assert ok.passed
    bad = rules.unique_ids_as_of(np.array([1, 2, 2]), pd.Series(["2023-08-14", "2023-01-01", "2023-01-01"]), end,
                                 "subscriber")
    assert not bad.passed and bad.metadata == {"rows": 3, "repeated_ids": 1, "after_week_end": 1}


def test_model_matches_matrix_catches_non_finite_factors_and_other_ids():
    users, items = np.array([1, 2]), np.array([10, 20, 30])
    arrays = {"user_factors": np.zeros((2, 4), np.float32), "item_factors": np.ones((3, 4), np.float32),
              "user_bias": np.zeros(2, np.float32), "item_bias": np.zeros(3, np.float32),
              "user_ids": users, "item_ids": items}
    assert rules.model_matches_matrix(arrays, users, items).passed
    arrays["item_factors"][1, 2] = np.nan
    arrays["user_bias"][0] = np.inf
    broken = rules.model_matches_matrix(arrays, users, np.array([10, 20, 31]))
    assert not broken.passed and broken.metadata["non_finite_values"] == 2
    assert "program ids differ" in broken.description and "subscriber ids" not in broken.description


def test_recommendations_valid_checks_lengths_watched_excluded_and_ranks():
    m = matrix([1, 2], [10, 20, 30, 40], [0, 1], [0, 3])  # 1 watched 10, 2 watched 40
    m.item_allowed[2] = False  # 30 has e_bool = 1
    # k = 2: subscriber 1 can get {20, 40}, subscriber 2 only {10, 20}.
    good = pd.DataFrame({"subsr_id": [1, 1, 2, 2], "program_id": [20, 40, 20, 10], "rank": [1, 2, 1, 2]})
    assert rules.recommendations_valid(good, m, 2).passed
    short = rules.recommendations_valid(good.iloc[:3], m, 2)
    assert not short.passed and short.metadata["wrong_length"] == 1
    watched = good.assign(program_id=[10, 40, 20, 10])
    assert rules.recommendations_valid(watched, m, 2).metadata["already_watched"] == 1
    excluded = good.assign(program_id=[20, 30, 20, 10])
    assert rules.recommendations_valid(excluded, m, 2).metadata["not_recommendable"] == 1
    unknown = good.assign(subsr_id=[1, 1, 2, 3])
    assert not rules.recommendations_valid(unknown, m, 2).passed
    ranks = good.assign(rank=[1, 3, 1, 2])
    assert "ranks" in rules.recommendations_valid(ranks, m, 2).description


def test_champion_passed_gate_needs_a_gated_published_earlier_week():
    gate = {"w1": True, "w2": False, "w3": True}
    published = {"w1", "w3"}
    history = [{"week": "w1", "champion_week": "w1"}, {"week": "w2", "champion_week": "w1"},
               {"week": "w3", "champion_week": "w3"}]
    assert all(rules.champion_passed_gate(history, w, gate, published).passed for w in ("w1", "w2", "w3"))
    assert not rules.champion_passed_gate([{"week": "w2", "champion_week": "w2"}], "w2", gate, published).passed
    assert not rules.champion_passed_gate([{"week": "w1", "champion_week": "w3"}], "w1", gate, published).passed
    assert not rules.champion_passed_gate([{"week": "w3", "champion_week": "w3"}], "w3", gate, {"w1"}).passed
    assert not rules.champion_passed_gate([], "w3", gate, published).passed  # a champion was due
    assert rules.champion_passed_gate([], "w2", {"w2": False}, set()).passed  # none passed yet


def test_one_row_per_week():
    assert rules.one_row_per_week(["w1", "w2"], ["w1", "w2"]).passed
    verdict = rules.one_row_per_week(["w1", "w1", "w3"], ["w1", "w2"])
    assert not verdict.passed
    assert "['w1']" in verdict.description and "['w2']" in verdict.description and "['w3']" in verdict.description


def test_unassigned_rows_lie_outside_the_partitioned_weeks():
    first, end = pd.Timestamp("2023-08-07"), pd.Timestamp("2023-08-21")
    reasons = ("null_value", "unparsable_log_dt", "log_dt_before_first_week", "log_dt_after_last_week")
    ok = rules.unassigned_rows_outside_weeks(pd.Series(["null_value", "log_dt_before_first_week"]),
                                             pd.Series([None, "1970-01-01"]), first, end, reasons)
    assert ok.passed
    bad = rules.unassigned_rows_outside_weeks(pd.Series(["log_dt_after_last_week", "lost"]),
                                              pd.Series(["2023-08-10 12:00:00", "2037-01-01"]), first, end, reasons)
    assert not bad.passed and bad.metadata == {"rows": 2, "inside_weeks": 1, "unknown_reason": 1}
