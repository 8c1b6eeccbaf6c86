"""`SourceDatabase` on SQLite and on the local MariaDB: the week window, chunked reads, schema checks."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.resources import SourceDatabase, SourceSchemaError

START = datetime(2023, 8, 7)
END = START + timedelta(days=7)
# (subscriber, log_dt): the bounds and their neighbours
BOUNDARY_ROWS = [
    (1, START - timedelta(seconds=1)),
    (2, START),
    (3, START + timedelta(days=3, hours=21, minutes=15)),
    (4, END - timedelta(seconds=1)),
    (5, END),
    (6, END + timedelta(seconds=1)),
]


@pytest.fixture(params=["sqlite", "mariadb"])
def source_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}"
    return request.getfixturevalue("mariadb_url")


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(url)


def _click_rows(rows) -> list[dict]:
    return [{"subsr_id": sub, "program_id": 100 + sub, "program_name": f"Program {sub}", "episode_num": 1,
             "log_dt": when, "month": when.month, "e_bool": 0} for sub, when in rows]


@pytest.fixture
def with_boundaries(source_url):
    engine = _engine(source_url)
    try:
        schema.create_source_tables(engine, drop_existing=True)
        with engine.begin() as conn:
            conn.execute(sa.insert(schema.contlog), _click_rows(BOUNDARY_ROWS))
    finally:
        engine.dispose()
    db = SourceDatabase(url=source_url)
    yield db
    db.engine.dispose()


def test_read_window_is_half_open(with_boundaries):
    rows = with_boundaries.read_window("contlog", START, END)
    assert sorted(rows["subsr_id"].astype(int)) == [2, 3, 4], "start included, end excluded"
    assert set(rows.columns) == set(schema.column_names("contlog"))
    previous = with_boundaries.read_window("contlog", START - timedelta(days=7), START)
    assert sorted(previous["subsr_id"].astype(int)) == [1]
    following = with_boundaries.read_window("contlog", END, END + timedelta(days=7))
    assert sorted(following["subsr_id"].astype(int)) == [5, 6]


def test_chunked_reads_give_the_same_frame(with_boundaries, source_url):
    whole = with_boundaries.read_window("contlog", START - timedelta(days=1), END + timedelta(days=1))
    chunked_db = SourceDatabase(url=source_url, chunk_rows=2)
    chunked = chunked_db.read_window("contlog", START - timedelta(days=1), END + timedelta(days=1))
    assert len(whole) == len(BOUNDARY_ROWS)
    pd.testing.assert_frame_equal(whole, chunked)
    pd.testing.assert_frame_equal(with_boundaries.read_table("contlog"),
                                  SourceDatabase(url=source_url, chunk_rows=4).read_table("contlog"))


def test_an_empty_window_has_the_columns(with_boundaries):
    empty = with_boundaries.read_window("contlog", datetime(2030, 1, 7), datetime(2030, 1, 14), ["subsr_id", "log_dt"])
    assert empty.empty and list(empty.columns) == ["subsr_id", "log_dt"]


def test_check_columns_names_the_table_and_the_column(source_url):
    engine = _engine(source_url)
    try:
        schema.create_source_tables(engine, drop_existing=True)
        with engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE vods_sumut DROP COLUMN disp_rtm_sec"))
            conn.execute(sa.text("DROP TABLE userinfo"))
    finally:
        engine.dispose()
    db = SourceDatabase(url=source_url)
    with pytest.raises(SourceSchemaError, match=r"'vods_sumut' is missing column\(s\) \['disp_rtm_sec'\]"):
        db.check_columns("vods_sumut", ["subsr_id", "use_tms", "disp_rtm_sec"])
    with pytest.raises(SourceSchemaError, match=r"'vods_sumut' is missing column\(s\) \['disp_rtm_sec'\]"):
        db.read_window("vods_sumut", START, END)
    with pytest.raises(SourceSchemaError, match=r"source table 'userinfo' does not exist"):
        db.read_table("userinfo")
    db.check_columns("vods_sumut", ["subsr_id", "use_tms"])  # what is there passes
    db.engine.dispose()


def _sqlite_with_raw_watches(path, rows: list[dict]) -> str:
    """An SQLite source whose vods_sumut holds `rows` (s, p, n, dt, use, rt) through raw SQL with bound
    parameters: SQLite stores text in numeric columns as it is."""
    url = f"sqlite:///{path}"
    engine = _engine(url)
    try:
        schema.create_source_tables(engine, drop_existing=True)
        with engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO vods_sumut (subsr_id, program_id, program_name, episode_num, log_dt, use_tms, "
                "disp_rtm_sec, count_watch, month, e_bool) VALUES (:s, :p, :n, 1, :dt, :use, :rt, 1, 8, 0)"),
                [{"n": "X", "rt": 1800} | row for row in rows])
    finally:
        engine.dispose()
    return url


def test_read_table_returns_dirty_sqlite_values_as_they_are(tmp_path):
    url = _sqlite_with_raw_watches(tmp_path / "dirty.db", [
        {"s": 1, "p": 2, "dt": "2023-08-09 21:00:00", "use": 100, "rt": 200},
        {"s": None, "p": "VOD-2", "dt": "2023-08-09 24:60:60", "use": "N/A", "rt": 0},
        {"s": 3, "p": 2, "dt": "1970-01-01 00:00:05", "use": -5, "rt": 200}])
    db = SourceDatabase(url=url)
    rows = db.read_table("vods_sumut")
    assert rows["use_tms"].tolist() == [100.0, "N/A", -5.0]
    assert rows["program_id"].tolist() == [2, "VOD-2", 2]
    assert rows["log_dt"].tolist() == ["2023-08-09 21:00:00", "2023-08-09 24:60:60", "1970-01-01 00:00:05"]
    assert rows["subsr_id"].isna().tolist() == [False, True, False]
    # The unparsable text still sorts inside its week, so the week's read delivers it to cleaning.
    window = db.read_window("vods_sumut", datetime(2023, 8, 7), datetime(2023, 8, 14))
    assert window["log_dt"].tolist() == ["2023-08-09 21:00:00", "2023-08-09 24:60:60"]
    db.engine.dispose()


def test_read_window_on_generated_data_is_the_text_range(tiny_dirty):
    db = SourceDatabase(url=tiny_dirty.url, chunk_rows=1000)
    table = db.read_table("vods_sumut")
    week = db.read_window("vods_sumut", datetime(2023, 8, 14), datetime(2023, 8, 21))
    text = table["log_dt"].astype("string")
    expected = table[(text >= "2023-08-14 00:00:00") & (text < "2023-08-21 00:00:00")]
    assert len(week) == len(expected) > 1000
    assert sorted(week["subsr_id"].astype("string").fillna("<null>")) == \
        sorted(expected["subsr_id"].astype("string").fillna("<null>"))
    db.engine.dispose()


def test_sqlite_window_as_text_keeps_every_value_exactly(tmp_path):
    reals = [0.1, 1 / 3, 1234.0, 1e300, -2.5e-7, 2**53 + 0.0]
    url = _sqlite_with_raw_watches(tmp_path / "text.db", [
        {"s": 60_000_001 + i, "p": 100_001, "n": "드라마 '1'; --", "dt": f"2023-08-09 2{i % 10}:00:00", "use": v}
        for i, v in enumerate(reals)
    ] + [{"s": None, "p": "VOD-2", "n": None, "dt": "2023-08-09 24:60:60", "use": "N/A"},
         {"s": 9_007_199_254_740_993, "p": 7, "n": "", "dt": "2023-08-10 01:00:00", "use": -5}])
    db = SourceDatabase(url=url)
    text = db.read_window_text("vods_sumut", START, END, ["subsr_id", "program_id", "program_name", "log_dt", "use_tms"])
    assert text.num_rows == len(reals) + 2
    rows = text.to_pandas()
    real_rows = rows[rows["subsr_id"].str.startswith("6000000", na=False)].sort_values("subsr_id")
    assert [float(v) for v in real_rows["use_tms"]] == reals  # every real reads back exactly
    shown = real_rows["use_tms"].tolist()
    assert [shown[0], shown[2], shown[3]] == ["0.1", "1234.0", "1.0e+300"]  # SQLite's short text where exact
    assert len(shown[1]) == len("0.") + 17  # 1/3 needs 17 significant digits
    big = rows[rows["subsr_id"] == "9007199254740993"]  # an integer past 2**53 stays exact as text
    assert big[["program_id", "program_name", "use_tms"]].values.tolist() == [["7", "", "-5.0"]]  # REAL affinity
    last = rows[rows["subsr_id"].isna()].iloc[0]
    assert pd.isna(last["program_name"])
    assert [last["program_id"], last["use_tms"], last["log_dt"]] == ["VOD-2", "N/A", "2023-08-09 24:60:60"]
    assert real_rows["program_name"].iloc[0] == "드라마 '1'; --"
    # The same rows as the generic read, value for value.
    generic = db.read_window("vods_sumut", START, END, ["subsr_id", "program_id", "use_tms"])
    assert len(generic) == text.num_rows
    db.engine.dispose()


def test_window_as_text_for_sqlite_files_and_mysql(source_url, with_boundaries):
    text = with_boundaries.read_window_text("contlog", START, END, ["subsr_id", "log_dt"])
    # The same text either way (MySQL through connectorx, sources/mysql_arrow.py).
    assert text.num_rows == 3 and text.column("subsr_id").to_pylist() == ["2", "3", "4"]
    empty = with_boundaries.read_window_text("contlog", datetime(2030, 1, 7), datetime(2030, 1, 14), ["subsr_id"])
    assert empty.num_rows == 0 and empty.column_names == ["subsr_id"] and empty.schema.field(0).type == pa.string()
    assert SourceDatabase(url="sqlite://").read_window_text("contlog", START, END, ["subsr_id"]) is None


def test_recommendations_are_keyed_by_week_subscriber_and_rank(source_url):
    db = SourceDatabase(url=source_url)
    engine = _engine(source_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS recommendations"))
        frame = pd.DataFrame({"week": "2023-08-07", "subsr_id": [2, 1, 1], "rank": [1, 2, 1], "program_id": [7, 8, 9],
                              "score": [0.3, 0.2, 0.9], "source": "model"})
        assert db.replace_week_rows("recommendations", "2023-08-07", frame) == 3
        assert sa.inspect(engine).get_pk_constraint("recommendations")["constrained_columns"] == ["week", "subsr_id", "rank"]
        if source_url.startswith("sqlite"):
            with engine.connect() as conn:
                ddl = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE name = 'recommendations'")).scalar_one()
            assert "WITHOUT ROWID" in ddl.upper()  # the key is the table: no second B-tree
        # A list cannot hold the same rank twice (the driver's IntegrityError names the key).
        with pytest.raises(Exception, match=r"(?i)UNIQUE constraint failed: recommendations|Duplicate entry"):
            db.replace_week_rows("recommendations", "2023-08-07", pd.concat([frame, frame.iloc[:1]]))
        with engine.connect() as conn:  # the failed replacement left the week as it was
            assert conn.execute(sa.text("SELECT COUNT(*) FROM recommendations")).scalar_one() == 3
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS recommendations"))
        engine.dispose()
        db.engine.dispose()
