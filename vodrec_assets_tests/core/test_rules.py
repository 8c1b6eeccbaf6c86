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
