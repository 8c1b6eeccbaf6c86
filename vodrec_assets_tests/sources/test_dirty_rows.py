"""Dirty rows: found in the database by an independent detector, at the configured rate."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from vodrec_assets.sources.dirty import CLICK_DIRTY, WATCH_DIRTY
from vodrec_assets.sources.synthetic import generate

START = datetime(2023, 8, 7)
ID_COLUMNS = ["subsr_id", "program_id"]


def _numeric(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _parse(value):
    if isinstance(value, datetime):  # MySQL DATETIME columns come back typed
        return value
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None


def detect(rows: pd.DataFrame, table: str, subscribers: set, programs: set, weeks: int) -> pd.Series:
    """Each row's dirty class (or '' when clean), from the values alone."""
    numeric = ID_COLUMNS + (["use_tms", "disp_rtm_sec"] if table == "vods_sumut" else [])
    end = START + timedelta(weeks=weeks)
    cls = pd.Series("", index=rows.index, dtype=object)

    def mark(mask, name):
        cls[mask & (cls == "")] = name

    mark(rows[ID_COLUMNS].isna().any(axis=1), "null_id")
    text_in_number = pd.Series(False, index=rows.index)
    for col in numeric:
        text_in_number |= rows[col].map(lambda v: v is not None and not _numeric(v))
    mark(text_in_number, "non_numeric")
    parsed = rows["log_dt"].map(_parse)
    mark(parsed.isna(), "unparsable_log_dt")
    mark(parsed.map(lambda d: d is not None and not (START <= d < end)), "log_dt_outside_week")
    mark(~rows["subsr_id"].isin(subscribers) | ~rows["program_id"].isin(programs), "unknown_id")
    if table == "vods_sumut":
        use, runtime = pd.to_numeric(rows["use_tms"], errors="coerce"), pd.to_numeric(rows["disp_rtm_sec"], errors="coerce")
        mark(runtime == 0, "zero_runtime")
        mark(use < 0, "negative_use_tms")
        mark(use > runtime, "use_tms_above_runtime")
    mark(rows.astype(str).duplicated(keep="first"), "duplicate")
    return cls


def read(url: str, table: str) -> pd.DataFrame:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            result = conn.execute(sa.text(f"SELECT * FROM {table}"))  # noqa: S608 - our table names
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()), dtype=object)
    finally:
        engine.dispose()


def detected_counts(url: str, weeks: int) -> dict[str, dict[str, int]]:
    subscribers = set(read(url, "userinfo")["subsr_id"])
    programs = set(read(url, "vodinfo")["program_id"])
    out = {}
    for table in ("vods_sumut", "contlog"):
        found = detect(read(url, table), table, subscribers, programs, weeks)
        out[table] = found[found != ""].value_counts().to_dict()
    return out


@pytest.fixture(scope="module")
def five_percent(tmp_path_factory):
    path = tmp_path_factory.mktemp("dirty5") / "source.db"
    summary = generate(f"sqlite:///{path}", scale="tiny", weeks=2, seed=4, dirty_rate=0.05)
    return f"sqlite:///{path}", summary


def test_every_dirty_class_is_in_the_database_as_the_summary_says(five_percent):
    url, summary = five_percent
    found = detected_counts(url, summary.weeks)
    for table, classes in (("vods_sumut", WATCH_DIRTY), ("contlog", CLICK_DIRTY)):
        assert set(summary.dirty_rows[table]) == set(classes)
        assert all(summary.dirty_rows[table][c] > 0 for c in classes), summary.dirty_rows[table]
        assert found[table] == summary.dirty_rows[table], table


def test_dirty_share_matches_the_configured_rate(five_percent):
    url, summary = five_percent
    found = detected_counts(url, summary.weeks)
    for table in ("vods_sumut", "contlog"):
        share = sum(found[table].values()) / summary.rows[table]
        assert 0.045 <= share <= 0.055, (table, share)
        # split evenly over the classes
        counts = list(found[table].values())
        assert max(counts) - min(counts) <= 0.5 * max(counts)


def test_default_rate_is_one_percent(tiny_dirty):
    s = tiny_dirty.summary
    assert s.dirty_rate == 0.01
    found = detected_counts(tiny_dirty.url, s.weeks)
    for table in ("vods_sumut", "contlog"):
        assert found[table] == s.dirty_rows[table]
        assert 0.008 <= sum(found[table].values()) / s.rows[table] <= 0.012


def test_rate_zero_leaves_the_logs_clean(tiny_clean):
    assert detected_counts(tiny_clean.url, tiny_clean.summary.weeks) == {"vods_sumut": {}, "contlog": {}}
    assert all(v == 0 for t in tiny_clean.summary.dirty_rows.values() for v in t.values())


def test_sqlite_keeps_dirty_text_as_written(five_percent):
    url, _ = five_percent
    with sqlite3.connect(sa.make_url(url).database) as conn:
        kinds = dict(conn.execute("SELECT typeof(use_tms), count(*) FROM vods_sumut GROUP BY 1").fetchall())
        junk = conn.execute("SELECT log_dt FROM contlog WHERE log_dt LIKE '%?%' OR log_dt LIKE '% 24:60:60'").fetchall()
    assert kinds.get("text", 0) > 0 and kinds["real"] > 0
    assert junk


def test_mariadb_gets_every_class_it_can_store(mariadb_url, tmp_path):
    summary = generate(mariadb_url, scale="tiny", weeks=1, seed=2, dirty_rate=0.05)
    assert summary.database_bytes is not None and summary.database_bytes > 0
    for table, classes in (("vods_sumut", WATCH_DIRTY), ("contlog", CLICK_DIRTY)):
        assert set(summary.dirty_rows[table]) == set(classes) - {"non_numeric", "unparsable_log_dt"}
    found = detected_counts(mariadb_url, summary.weeks)
    assert found == {t: {k: v for k, v in c.items() if v} for t, c in summary.dirty_rows.items()}
    assert len(read(mariadb_url, "vods_sumut")) == summary.rows["vods_sumut"]
    # The catalogue and subscribers do not depend on the target database.
    lite = tmp_path / "same.db"
    generate(f"sqlite:///{lite}", scale="tiny", weeks=1, seed=2, dirty_rate=0.05)
    def plain(value):
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return None if pd.isna(value) else value

    for table in ("userinfo", "vodinfo"):
        key = read(mariadb_url, table).columns[0]
        mysql_rows = read(mariadb_url, table).sort_values(key, ignore_index=True)
        lite_rows = read(f"sqlite:///{lite}", table).sort_values(key, ignore_index=True)
        for col in mysql_rows.columns:
            assert [plain(v) for v in mysql_rows[col]] == [plain(v) for v in lite_rows[col]], (table, col)
