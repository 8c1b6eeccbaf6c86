"""The MySQL/MariaDB logs read through connectorx (sources/mysql_arrow.py) on the local MariaDB: the same
Arrow text columns, rows and order as the SQLite path gives for the same rows (exact 64-bit ids, text,
reals as SQLite's text, datetimes as text, a zero date included), in any number of time slices. A locked
table failing the read after the timeout: hostile/test_timeouts.py."""

from __future__ import annotations

from datetime import datetime

import connectorx
import pyarrow as pa
import pytest
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.resources import SourceDatabase
from vodrec_assets.sources import mysql_arrow

pytestmark = pytest.mark.integration
START, END = datetime(2023, 8, 7), datetime(2023, 8, 14)

ROWS = [
    {"subsr_id": 2**63 - 1, "program_id": 2**53 + 1, "program_name": "한국어 드라마 🙂", "episode_num": 3,
     "log_dt": "2023-08-07 00:00:00", "use_tms": 0.1, "disp_rtm_sec": 1e300, "count_watch": 1, "month": 8, "e_bool": 0},
    {"subsr_id": -(2**63), "program_id": 2**53, "program_name": None, "episode_num": None,
     "log_dt": "2023-08-13 23:59:59", "use_tms": None, "disp_rtm_sec": 1.0 / 3, "count_watch": None, "month": None,
     "e_bool": None},
    {"subsr_id": None, "program_id": 1, "program_name": "", "episode_num": 0, "log_dt": "2023-08-14 00:00:00",
     "use_tms": 1.0, "disp_rtm_sec": 2.0, "count_watch": 0, "month": 8, "e_bool": 1},  # the next week
    # Ties on log_dt: kept in the order they were written, as SQLite's index scan gives them.
    *({"subsr_id": 7, "program_id": p, "program_name": "tie", "episode_num": 1, "log_dt": "2023-08-10 12:00:00",
       "use_tms": 120.0, "disp_rtm_sec": -0.0, "count_watch": 1, "month": 8, "e_bool": 0} for p in (9, 3, 5, 1)),
]


def _both(mariadb_url: str, tmp_path) -> tuple[SourceDatabase, SourceDatabase]:
    sqlite_url = f"sqlite:///{tmp_path / 'source.db'}"
    for url in (mariadb_url, sqlite_url):
        engine = sa.create_engine(url)
        schema.create_source_tables(engine)
        with engine.begin() as conn:
            conn.execute(schema.TABLES["vods_sumut"].insert(),
                         [{**r, "log_dt": datetime.fromisoformat(r["log_dt"])} for r in ROWS])
        engine.dispose()
    return SourceDatabase(url=mariadb_url), SourceDatabase(url=sqlite_url)


@pytest.mark.parametrize("parts", [1, 2, 3])
def test_the_window_reaches_arrow_as_the_sqlite_path_gives_it(mariadb_url, tmp_path, parts, monkeypatch):
    monkeypatch.setenv("VODREC_SOURCE_READ_PARTS", str(parts))
    mysql, sqlite = _both(mariadb_url, tmp_path)
    columns = schema.column_names("vods_sumut")
    got = mysql.read_window_text("vods_sumut", START, END, columns)
    assert got.equals(sqlite.read_window_text("vods_sumut", START, END, columns))
    assert got.schema == pa.schema([(name, pa.string()) for name in columns])
    rows = got.to_pylist()
    assert [r["subsr_id"] for r in rows] == [str(2**63 - 1), "7", "7", "7", "7", str(-(2**63))]
    assert [r["program_id"] for r in rows][1:5] == ["9", "3", "5", "1"]
    assert rows[0]["program_name"] == "한국어 드라마 🙂" and rows[-1]["program_name"] is None
    assert [r["log_dt"] for r in rows][::5] == ["2023-08-07 00:00:00", "2023-08-13 23:59:59"]
    assert rows[1]["use_tms"] == "120.0" and rows[-1]["use_tms"] is None
    assert "FORCE INDEX (`ix_vods_sumut_log_dt`)" in mysql_arrow.window_sql("vods_sumut", columns, START, END, "log_dt",
                                                                             mysql._index_on("vods_sumut", "log_dt"))


def test_the_resource_reads_mysql_through_connectorx_and_a_zero_date_is_text(mariadb_url, tmp_path):
    mysql, _ = _both(mariadb_url, tmp_path)
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        conn.execute(sa.text("SET SESSION sql_mode = ''"))  # a zero date, as a lenient server keeps one
        conn.execute(sa.text("INSERT INTO vods_sumut (subsr_id, program_id, log_dt) VALUES (5, 6, '0000-00-00 00:00:00')"))
    engine.dispose()
    assert mysql.read_window_text("vods_sumut", START, END, ["subsr_id", "log_dt"]).num_rows == 6
    # A zero date (outside every window: read_outside's) is text too, where a typed read panics in connectorx.
    select = mysql_arrow.select_list(schema.TABLES["vods_sumut"], ["log_dt"])
    everything = connectorx.read_sql(mysql_arrow.connectorx_url(mariadb_url), f"SELECT {select} FROM vods_sumut",
                                     return_type="arrow")
    assert "0000-00-00 00:00:00" in mysql_arrow.whole_seconds(everything.column("log_dt")).to_pylist()
