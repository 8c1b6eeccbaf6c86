import io

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from vodrec_assets.recsys.matrix import RatedPairs, ScoreMatrix, build_score_matrix, lookup, one_hot


@pytest.fixture
def inputs():
    ratings = pd.DataFrame({
        "subsr_id": [7, 7, 3, 9], "program_id": [200, 100, 100, 300],
        "rating": [0.5, 0.9, np.nan, 0.0], "watched": [1, 1, 0, 0],
    })
    catalog = pd.DataFrame({"program_id": [100, 200, 300, 400], "program_genre": ["drama|comedy", "drama", "kids", "docu"],
                            "ct_cl": ["movie", "movie", "kids", "docu"], "age_limit": [15, 0, 0, 19], "e_bool": [0, 0, 1, 0]})
    users = pd.DataFrame({"subsr_id": [3, 7, 9], "age_band": ["20s", "30s", "40s"], "gender": ["F", "M", "F"], "region": ["Seoul"] * 3})
    return ratings, catalog, users


def test_ids_map_to_sorted_indices_and_only_watched_pairs_are_interactions(inputs):
    m = build_score_matrix(*inputs)
    assert m.user_ids.tolist() == [3, 7, 9]
    assert m.item_ids.tolist() == [100, 200, 300, 400]
    dense = m.interactions.toarray()  # tiny test matrix: fine to densify here
    assert dense.tolist() == [[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]]
    assert m.weights[1, 0] == pytest.approx(0.9) and m.weights[1, 1] == pytest.approx(0.5)
    assert m.item_allowed.tolist() == [True, True, False, True]
    assert m.user_index(np.array([9, 5])).tolist() == [2, -1]


def test_features_are_one_hot_with_multi_valued_genres(inputs):
    m = build_score_matrix(*inputs)
    names = list(m.item_feature_names)
    row = m.item_features[0].toarray().ravel()
    on = {names[j] for j in np.flatnonzero(row)}
    assert on == {"program_genre=drama", "program_genre=comedy", "ct_cl=movie", "age_limit=15"}
    assert m.user_features.shape == (3, 6)


def test_arrays_round_trip(inputs):
    m = build_score_matrix(*inputs)
    back = ScoreMatrix.from_arrays(m.to_arrays())
    assert (back.interactions != m.interactions).nnz == 0
    assert back.item_feature_names.tolist() == m.item_feature_names.tolist()
    broken = m.to_arrays() | {"user_ids": np.array([3, 3, 9])}
    with pytest.raises(ValueError, match="repeat"):
        ScoreMatrix.from_arrays(broken)


def test_reading_the_ratings_file_batch_by_batch_gives_the_same_matrix(inputs):
    """The score_matrix asset's path (RatedPairs.read of the cleaned_ratings Parquet, four columns, small
    batches) against the whole frame: the same ids (click-only subscribers and programs outside the
    catalogue included), interactions, weights and features."""
    _, catalog, users = inputs
    rng = np.random.default_rng(4)
    n = 400
    ratings = pd.DataFrame({
        "subsr_id": rng.integers(1, 60, n), "program_id": rng.integers(100, 460, n),  # beyond the catalogue
        "click_cnt": rng.random(n), "click_recency": rng.random(n), "watch_tms_max": np.nan, "watch_cnt": 1.0,
        "rating": np.where(rng.random(n) < 0.4, np.nan, rng.random(n).round(2)),  # NaN: click-only, 0: not watched
    }).drop_duplicates(["subsr_id", "program_id"]).sort_values(["subsr_id", "program_id"], ignore_index=True)
    ratings["watched"] = (ratings["rating"] > 0).astype("int8")
    ratings.loc[ratings["subsr_id"] == 5, ["rating", "watched"]] = [np.nan, 0]  # a click-only subscriber
    users = pd.DataFrame({"subsr_id": np.arange(1, 70), "age_band": "30s", "gender": "F", "region": "Seoul"})
    buf = io.BytesIO()
    ratings.to_parquet(buf, index=False, engine="pyarrow", compression="zstd", row_group_size=37)
    pairs = RatedPairs.read(pq.ParquetFile(io.BytesIO(buf.getvalue())), batch_rows=16)
    streamed, whole = build_score_matrix(pairs, catalog, users), build_score_matrix(ratings, catalog, users)
    assert 5 in streamed.user_ids and streamed.interactions[streamed.user_index(np.array([5]))[0]].nnz == 0
    assert streamed.item_ids.max() > catalog["program_id"].max()
    a, b = streamed.to_arrays(), whole.to_arrays()
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name


def reference_lookup(sorted_ids, ids):
    pos = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


@pytest.mark.parametrize("span", [1_000, 2**40])  # a table of positions / a binary search
def test_lookup_equals_a_binary_search(span):
    rng = np.random.default_rng(1)
    sorted_ids = np.unique(rng.integers(60_000_001, 60_000_001 + span, 500))
    ids = np.concatenate([rng.choice(sorted_ids, 2_000), rng.integers(60_000_001 - 10, 60_000_001 + span + 10, 2_000),
                          [np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max, 0, -5]])
    np.testing.assert_array_equal(lookup(sorted_ids, ids), reference_lookup(sorted_ids, ids))
    assert (lookup(sorted_ids, ids) >= 0).sum() >= 2_000
    assert (lookup(np.array([], np.int64), ids) == -1).all()


def test_one_hot_of_single_and_multi_valued_columns_equals_the_explode():
    frame = pd.DataFrame({"gender": ["F", None, "M ", "F"], "program_genre": ["drama|comedy", "news", None, " drama |kids"]})
    row_index = np.array([2, 0, -1, 1])
    m, vocab = one_hot(frame, ("gender", "program_genre"), 3, row_index)
    rows, names = [], []
    for col in ("gender", "program_genre"):
        for i, value in enumerate(frame[col]):
            for part in ("unknown" if pd.isna(value) else value).split("|"):
                if row_index[i] >= 0:
                    rows.append(row_index[i])
                    names.append(f"{col}={part.strip()}")
    want_vocab = sorted(set(names))
    assert vocab.tolist() == want_vocab
    want = np.zeros((3, len(want_vocab)), np.float32)
    for r, n in zip(rows, names):
        want[r, want_vocab.index(n)] = 1.0
    np.testing.assert_array_equal(m.toarray(), want)
