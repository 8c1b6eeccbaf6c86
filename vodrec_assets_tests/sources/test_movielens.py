"""The MovieLens-100K importer, on a small fixture in its format and on the real files when present."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from vodrec_assets import cli
from vodrec_assets.sources.movielens import MovieLensFormatError, import_movielens

ML_100K = Path("/work/shared/data/ml-100k")
GENRES = ["unknown", "Action", "Comedy", "Drama"]
# user item rating timestamp: 874965758 = 1997-09-22 22:02:38 UTC = 1997-09-23 07:02:38 in Seoul
RATINGS = [
    (1, 10, 5, 874965758),
    (1, 20, 1, 875071561),
    (2, 10, 3, 893286638),
    (2, 30, 4, 874965700),
    (3, 20, 2, 880000000),
]


def write_fixture(folder: Path, ratings=RATINGS, data_lines: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.genre").write_text("".join(f"{g}|{i}\n" for i, g in enumerate(GENRES)) + "\n")
    items = [
        "10|Toy Story (1995)|01-Jan-1995||http://example.invalid/1|0|0|1|0",
        "20|Amélie (2001)|25-Apr-2001||http://example.invalid/2|0|1|1|1",
        "30|unknown||||1|0|0|0",
    ]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    users = ["1|17|M|student|55455", "2|45|F|writer|T8H1N", "3|71|M|retired|02139"]
    (folder / "u.user").write_text("\n".join(users) + "\n")
    lines = data_lines if data_lines is not None else ["\t".join(map(str, r)) for r in ratings]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    return folder


def frame(path: Path, sql: str) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        return pd.read_sql_query(sql, conn)


@pytest.fixture
def imported(tmp_path):
    db = tmp_path / "ml.db"
    summary = import_movielens(write_fixture(tmp_path / "ml"), f"sqlite:///{db}")
    return db, summary


def test_each_rating_is_one_watch_whose_ratio_grows_with_the_rating(imported):
    db, summary = imported
    assert summary.rows == {"userinfo": 3, "vodinfo": 3, "vods_sumut": 5, "contlog": 5}
    watches = frame(db, "SELECT * FROM vods_sumut ORDER BY rowid")
    assert watches["log_dt"].is_monotonic_increasing
    by_key = watches.set_index(["subsr_id", "program_id"])
    for user, item, rating, _ in RATINGS:
        row = by_key.loc[(user, item)]
        assert row["use_tms"] / row["disp_rtm_sec"] == pytest.approx(rating / 5)
    assert (watches[["count_watch", "episode_num"]] == 1).all().all() and (watches["e_bool"] == 0).all()


def test_times_are_naive_seoul_local_text(imported):
    db, summary = imported
    watches = frame(db, "SELECT subsr_id, program_id, log_dt, month, typeof(log_dt) AS kind FROM vods_sumut")
    first = watches.set_index(["subsr_id", "program_id"]).loc[(1, 10)]
    assert first["log_dt"] == "1997-09-23 07:02:38" and first["month"] == 9 and first["kind"] == "text"
    last = watches.set_index(["subsr_id", "program_id"]).loc[(2, 10)]
    assert last["log_dt"] == "1998-04-23 08:10:38" and last["month"] == 4
    assert (summary.first_log_dt, summary.last_log_dt) == ("1997-09-23 07:01:40", "1998-04-23 08:10:38")
    assert summary.first_week == "1997-09-22"  # the Monday of that week


def test_one_click_a_minute_before_each_watch(imported):
    db, _ = imported
    watches = frame(db, "SELECT subsr_id, program_id, log_dt FROM vods_sumut")
    clicks = frame(db, "SELECT subsr_id, program_id, log_dt FROM contlog")
    pairs = watches.merge(clicks, on=["subsr_id", "program_id"], suffixes=("", "_click"))
    assert len(pairs) == len(watches) == len(clicks)
    gap = pd.to_datetime(pairs["log_dt"]) - pd.to_datetime(pairs["log_dt_click"])
    assert (gap == pd.Timedelta(seconds=60)).all()


def test_catalogue_and_subscribers(imported):
    db, _ = imported
    programs = frame(db, "SELECT * FROM vodinfo").set_index("program_id")
    assert programs.loc[20, "program_name"] == "Amélie (2001)"
    assert programs.loc[20, "program_genre"] == "Action|Comedy|Drama"
    assert programs.loc[10, "program_genre"] == "Comedy"
    assert programs.loc[30, "program_genre"] == "unknown"
    assert programs.loc[10, "release_date"] == "1995-01-01 00:00:00"
    assert pd.isna(programs.loc[30, "release_date"])
    assert (programs["ct_cl"] == "movie").all() and (programs["e_bool"] == 0).all()
    users = frame(db, "SELECT * FROM userinfo").set_index("subsr_id")
    assert users["age_band"].to_dict() == {1: "<20", 2: "40s", 3: "70+"}
    assert users["region"].to_dict() == {1: "Upper Midwest", 2: "Canada", 3: "New England"}
    assert users["gender"].to_dict() == {1: "M", 2: "F", 3: "M"}
    # join_dt = the subscriber's first rating, Seoul time
    assert users.loc[1, "join_dt"] == "1997-09-23 07:02:38"
    assert users.loc[2, "join_dt"] == "1997-09-23 07:01:40"


def test_a_missing_file_is_named(tmp_path):
    folder = write_fixture(tmp_path / "ml")
    (folder / "u.item").unlink()
    with pytest.raises(MovieLensFormatError, match=r"u\.item: file not found"):
        import_movielens(folder, f"sqlite:///{tmp_path / 'never.db'}")
    assert not (tmp_path / "never.db").exists(), "nothing may be written from invalid files"


@pytest.mark.parametrize("bad_line, message", [
    ("1\t10\t5", r"u\.data line 3: expected 4 fields separated by '\\t'"),
    ("1\t10\tfive\t874965758", r"u\.data line 3: rating is not an integer: 'five'"),
    ("1\t10\t6\t874965758", r"u\.data line 3: rating is not between 1 and 5: '6'"),
    ("1\t99\t4\t874965758", r"u\.data line 3: item_id is not in u\.item: '99'"),
    ("7\t10\t4\t874965758", r"u\.data line 3: user_id is not in u\.user: '7'"),
])
def test_a_malformed_line_is_named_with_its_line_number(tmp_path, bad_line, message):
    lines = ["\t".join(map(str, r)) for r in RATINGS[:2]] + [bad_line] + ["\t".join(map(str, r)) for r in RATINGS[2:]]
    folder = write_fixture(tmp_path / "ml", data_lines=lines)
    with pytest.raises(MovieLensFormatError, match=message):
        import_movielens(folder, f"sqlite:///{tmp_path / 'never.db'}")


def test_a_malformed_item_line_is_named(tmp_path):
    folder = write_fixture(tmp_path / "ml")
    text = (folder / "u.item").read_bytes().decode("latin-1").replace("01-Jan-1995", "1995-01-01")
    (folder / "u.item").write_bytes(text.encode("latin-1"))
    with pytest.raises(MovieLensFormatError, match=r"u\.item line 1: release_date is not a dd-Mon-yyyy date"):
        import_movielens(folder, f"sqlite:///{tmp_path / 'never.db'}")


def test_the_cli_reports_a_bad_directory(tmp_path):
    with pytest.raises(SystemExit, match=r"no such directory"):
        cli.main(["import-movielens", str(tmp_path / "missing"), "--source", f"sqlite:///{tmp_path / 'x.db'}"])


def test_import_into_mariadb(mariadb_url, tmp_path):
    summary = import_movielens(write_fixture(tmp_path / "ml"), mariadb_url)
    assert summary.rows["vods_sumut"] == 5 and summary.database_bytes
    import sqlalchemy as sa

    engine = sa.create_engine(mariadb_url)
    try:
        with engine.connect() as conn:
            name = conn.execute(sa.text("SELECT program_name FROM vodinfo WHERE program_id = :p"), {"p": 20}).scalar_one()
            when = conn.execute(sa.text("SELECT log_dt FROM vods_sumut WHERE subsr_id = :u AND program_id = :p"),
                                {"u": 1, "p": 10}).scalar_one()
    finally:
        engine.dispose()
    assert name == "Amélie (2001)"
    assert str(when) == "1997-09-23 07:02:38"


@pytest.mark.skipif(not (ML_100K / "u.data").is_file(), reason=f"MovieLens-100K is not at {ML_100K}")
def test_the_real_movielens_100k(tmp_path, capsys):
    db = tmp_path / "ml100k.db"
    assert cli.main(["import-movielens", str(ML_100K), "--source", f"sqlite:///{db}"]) == 0
    assert "100,000 watch rows" in capsys.readouterr().out
    counts = frame(db, "SELECT (SELECT count(*) FROM vods_sumut) AS watches, (SELECT count(*) FROM contlog) AS clicks, "
                       "(SELECT count(*) FROM userinfo) AS users, (SELECT count(*) FROM vodinfo) AS programs").iloc[0]
    assert counts.to_dict() == {"watches": 100_000, "clicks": 100_000, "users": 943, "programs": 1_682}
    ratios = frame(db, "SELECT use_tms / disp_rtm_sec AS r FROM vods_sumut")["r"]
    assert set(ratios.round(6)) == {0.2, 0.4, 0.6, 0.8, 1.0}
