import numpy as np
import pandas as pd
import pytest

from vodrec_assets.recsys.matrix import ScoreMatrix, build_score_matrix


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
