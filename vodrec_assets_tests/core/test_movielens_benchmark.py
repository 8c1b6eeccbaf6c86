import json
from pathlib import Path

import numpy as np
import pytest

from vodrec_assets.benchmarks.movielens import (
    MODELS,
    MovieLensFormatError,
    load_movielens,
    run_benchmark,
)
from vodrec_assets.cli import main

ML100K = Path("/work/shared/data/ml-100k")
OCCUPATIONS = ("student", "engineer", "artist", "other")


def write_fixture(directory: Path, n_users: int = 160, n_items: int = 90, n_groups: int = 3, seed: int = 0) -> Path:
    """MovieLens-shaped files with planted taste groups: item i belongs to group i % n_groups, user u
    to group u % n_groups; a user rates mostly items of their own group (with a within-group popularity
    skew) and a few random ones. The first 5 ratings of each user (random order) go to ua.test, as
    MovieLens' allbut.pl does; genres reveal the item's group, occupation the user's."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    item_group = np.arange(n_items) % n_groups
    skew = 1.0 / (1.0 + np.arange(n_items) // n_groups)  # earlier items of a group are more popular
    base, test = [], []
    for u in range(n_users):
        own = np.flatnonzero(item_group == u % n_groups)
        p_own = skew[own] / skew[own].sum()
        liked = rng.choice(own, size=rng.integers(10, 18), replace=False, p=p_own)
        noise = rng.choice(n_items, size=3, replace=False)
        items = rng.permutation(np.unique(np.concatenate([liked, noise])))
        for j, i in enumerate(items):
            line = f"{u + 1}\t{i + 1}\t{rng.integers(1, 6)}\t{880000000 + j}\n"
            (test if j < 5 else base).append(line)
    (directory / "ua.base").write_text("".join(base))
    (directory / "ua.test").write_text("".join(test))
    genres = np.zeros((n_items, 19), int)
    genres[np.arange(n_items), item_group] = 1
    item_lines = [f"{i + 1}|Movie {i + 1} (199{i % 8})|01-Jan-199{i % 8}||http://example.invalid/{i + 1}|"
                  + "|".join(map(str, genres[i])) + "\n" for i in range(n_items)]
    (directory / "u.item").write_text("".join(item_lines), encoding="latin-1")
    user_lines = [f"{u + 1}|{18 + u % 50}|{'MF'[u % 2]}|{OCCUPATIONS[u % n_groups]}|0000{u % 10}\n" for u in range(n_users)]
    (directory / "u.user").write_text("".join(user_lines))
    return directory


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory) -> Path:
    return write_fixture(tmp_path_factory.mktemp("ml") / "ml-synthetic")


@pytest.fixture(scope="module")
def fixture_result(fixture_dir) -> dict:
    return run_benchmark(fixture_dir, seeds=2)


def test_loader_reads_the_four_files(fixture_dir):
    data = load_movielens(fixture_dir)
    assert data.shape == (160, 90)
    assert data.test.nnz == 160 * 5
    assert data.train.multiply(data.test).nnz == 0
    assert set(np.unique(data.train.data)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # one genre + one year bucket per item; one age band, one gender, one occupation per user
    np.testing.assert_array_equal(np.asarray(data.item_features.sum(axis=1)).ravel(), 2)
    np.testing.assert_array_equal(np.asarray(data.user_features.sum(axis=1)).ravel(), 3)
    assert "occupation=engineer" in data.user_feature_names and "year=1995" in data.item_feature_names


def test_benchmark_returns_every_model_with_metrics_in_range(fixture_result):
    assert tuple(fixture_result["models"]) == MODELS
    assert fixture_result["users"] == 160
    for name, row in fixture_result["models"].items():
        for key in ("precision_at_10", "recall_at_10", "map_at_10", "ndcg_at_10"):
            assert 0.0 <= row[key] <= 1.0, (name, key, row[key])
        assert row["fit_s"] >= 0.0
    assert fixture_result["models"]["lightfm_best"]["runs"] == 2
    assert fixture_result["models"]["ease"]["runs"] == 1
    assert "precision_at_10_std" in fixture_result["models"]["lightfm_default"]


def test_neighbourhood_models_find_the_planted_groups(fixture_result):
    models = fixture_result["models"]
    pop = models["popularity"]["precision_at_10"]
    assert models["ease"]["precision_at_10"] > pop
    assert models["item_knn"]["precision_at_10"] > pop
    assert models["ease"]["ndcg_at_10"] > models["popularity"]["ndcg_at_10"]
    assert models["lightfm_best"]["precision_at_10"] > pop


def test_popularity_row_equals_a_direct_computation(fixture_dir, fixture_result):
    """Popularity by hand from the files: count users per item in ua.base, rank unseen items, score
    against ua.test."""
    base = np.loadtxt(fixture_dir / "ua.base", dtype=np.int64)
    test = np.loadtxt(fixture_dir / "ua.test", dtype=np.int64)
    counts = np.bincount(base[:, 1], minlength=91).astype(float)
    precisions, recalls = [], []
    for u in np.unique(test[:, 0]):
        seen = set(base[base[:, 0] == u, 1])
        relevant = set(test[test[:, 0] == u, 1])
        ranked = [i for i in sorted(range(1, 91), key=lambda i: (-counts[i], i)) if i not in seen][:10]
        hits = len(relevant & set(ranked))
        precisions.append(hits / 10)
        recalls.append(hits / len(relevant))
    row = fixture_result["models"]["popularity"]
    assert row["precision_at_10"] == pytest.approx(np.mean(precisions))
    assert row["recall_at_10"] == pytest.approx(np.mean(recalls))


def test_cli_json_prints_one_object(fixture_dir, capsys):
    assert main(["movielens-benchmark", str(fixture_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["models"]) == set(MODELS)
    assert {"precision_at_10", "recall_at_10", "map_at_10", "ndcg_at_10", "fit_s"} <= set(result["models"]["ease"])


def test_cli_table(fixture_dir, capsys):
    assert main(["movielens-benchmark", str(fixture_dir)]) == 0
    out = capsys.readouterr().out
    for name in MODELS:
        assert name in out
    assert "P@10" in out


def test_missing_file_is_named(fixture_dir, tmp_path, capsys):
    broken = write_fixture(tmp_path / "ml", n_users=20, n_items=60)
    (broken / "u.user").unlink()
    with pytest.raises(MovieLensFormatError, match=r"u\.user: file not found"):
        run_benchmark(broken)
    assert main(["movielens-benchmark", str(broken)]) == 2
    assert "u.user" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("ua.base", "1\t2\t3\n", r"ua\.base: expected 4"),
        ("ua.test", "1\tx\t3\t4\n", r"ua\.test: line 1: field 'item' is not an integer"),
        ("u.item", "1|a|b\n", r"u\.item: expected 24"),
        ("u.user", "1|abc|M|other|00000\n", r"u\.user: line 1: field 'age'"),
        ("ua.base", "", r"ua\.base"),
    ],
)
def test_malformed_file_is_named(tmp_path, name, content, message):
    broken = write_fixture(tmp_path / "ml", n_users=20, n_items=60)
    (broken / name).write_text(content)
    with pytest.raises(MovieLensFormatError, match=message):
        load_movielens(broken)


@pytest.mark.slow
@pytest.mark.skipif(not (ML100K / "ua.base").exists(), reason="MovieLens-100K is not at /work/shared/data/ml-100k")
def test_real_movielens_lightfm_best_reaches_the_target():
    result = run_benchmark(ML100K, seeds=1, models=("popularity", "ease", "lightfm_best"))
    models = result["models"]
    assert result["users"] == 943
    assert models["popularity"]["precision_at_10"] == pytest.approx(0.121, abs=0.002)
    assert models["ease"]["precision_at_10"] == pytest.approx(0.269, abs=0.002)
    assert models["lightfm_best"]["precision_at_10"] >= 0.24
