"""The synthetic generator: determinism, the original's schema, arguments, volumes, the CLI."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest

from vodrec_assets import cli, schema
from vodrec_assets.sources.synthetic import SCALES, generate

# The columns the original pipeline reads (ORIGINAL_SYSTEM.md), in the original's order for the logs.
ORIGINAL_COLUMNS = {
    "userinfo": ["subsr_id"],
    "vodinfo": ["program_id", "program_name", "ct_cl", "program_genre", "release_date", "age_limit", "e_bool"],
    "vods_sumut": ["subsr_id", "program_id", "program_name", "episode_num", "log_dt", "use_tms", "disp_rtm_sec",
                   "count_watch", "month", "e_bool"],
    "contlog": ["subsr_id", "program_id", "program_name", "episode_num", "log_dt", "month", "e_bool"],
}


def table_rows(path, table: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608 - our table names


def test_same_arguments_give_identical_tables(tmp_path, tiny_dirty):
    again = tmp_path / "again.db"
    generate(f"sqlite:///{again}", scale="tiny", weeks=3, seed=0)
    for table in schema.SOURCE_TABLES:
        first, second = table_rows(tiny_dirty.path, table), table_rows(again, table)
        assert len(first) > 0
        assert first == second, f"{table} differs between two runs with the same arguments"


def test_worker_processes_write_the_same_rows_as_one_process(tmp_path, tiny_dirty):
    sharded = tmp_path / "sharded.db"
    summary = generate(f"sqlite:///{sharded}", scale="tiny", weeks=3, seed=0, workers=2)
    assert summary.workers == 2
    for table in schema.SOURCE_TABLES:
        assert table_rows(tiny_dirty.path, table) == table_rows(sharded, table), table
    assert not any(p.name.startswith(".sharded.db") for p in tmp_path.iterdir()), "shard files left behind"


def test_another_seed_gives_other_data(tmp_path, tiny_dirty):
    other = tmp_path / "other.db"
    generate(f"sqlite:///{other}", scale="tiny", weeks=1, seed=1)
    week1 = [r for r in table_rows(tiny_dirty.path, "vods_sumut") if str(r[4]) < "2023-08-14"]
    assert table_rows(other, "vods_sumut") != week1
    assert table_rows(other, "userinfo") != table_rows(tiny_dirty.path, "userinfo")


def test_tables_have_the_original_columns_and_the_log_dt_indexes(tiny_dirty):
    with sqlite3.connect(tiny_dirty.path) as conn:
        for table, wanted in ORIGINAL_COLUMNS.items():
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            assert columns == schema.column_names(table)
            assert [c for c in columns if c in wanted] == wanted, table
        for table in schema.LOG_TABLES:
            indexed = {row[1] for row in conn.execute(f"PRAGMA index_list({table})")}
            assert f"ix_{table}_log_dt" in indexed


def test_clean_log_dt_is_text_in_the_window_format(tiny_clean):
    for table in schema.LOG_TABLES:
        frame = tiny_clean.frame(f"SELECT log_dt, typeof(log_dt) AS kind FROM {table}")
        assert (frame["kind"] == "text").all()
        assert frame["log_dt"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
        assert frame["log_dt"].min() >= "2023-08-07 00:00:00"
        assert frame["log_dt"].max() < "2023-09-18 00:00:00"  # 6 weeks
    users = tiny_clean.frame("SELECT join_dt FROM userinfo")
    assert users["join_dt"].str.fullmatch(r"\d{4}-\d\d-\d\d 00:00:00").all()


def test_logs_are_in_time_order_week_after_week(tiny_clean):
    for table in schema.LOG_TABLES:
        log_dt = tiny_clean.frame(f"SELECT log_dt FROM {table} ORDER BY rowid")["log_dt"]
        assert log_dt.is_monotonic_increasing, table


def test_volumes_per_subscriber_week(tiny_clean):
    s = tiny_clean.summary
    assert (s.subscribers, s.programs) == (SCALES["tiny"].subscribers, SCALES["tiny"].programs)
    watches = s.rows["vods_sumut"] / (s.subscribers * s.weeks)
    clicks = s.rows["contlog"] / (s.subscribers * s.weeks)
    assert 4.0 <= watches <= 6.0
    assert 1.7 <= clicks / watches <= 2.4
    counted = tiny_clean.frame("SELECT (SELECT count(*) FROM vods_sumut) AS w, (SELECT count(*) FROM contlog) AS c")
    assert (counted["w"][0], counted["c"][0]) == (s.rows["vods_sumut"], s.rows["contlog"])
    assert [w["vods_sumut"] for w in s.weekly_rows] and all(w["vods_sumut"] > 0 for w in s.weekly_rows)


def test_scales_keep_about_five_watches_per_subscriber():
    assert {k: (v.subscribers, v.programs, v.default_weeks) for k, v in SCALES.items()} == {
        "tiny": (500, 200, 8), "small": (10_000, 2_000, 12), "medium": (100_000, 10_000, 12),
        "large": (1_000_000, 30_000, 12),
    }


@pytest.mark.parametrize("kwargs, message", [
    ({"start": "2023-08-08"}, r"'2023-08-08' is a Tuesday, not a Monday"),
    ({"start": "2023/08/07"}, r"not a date in YYYY-MM-DD form"),
    ({"scale": "huge"}, r"unknown scale 'huge'; choose one of tiny, small, medium, large"),
    ({"weeks": 0}, r"weeks must be at least 1"),
    ({"dirty_rate": 0.9}, r"dirty_rate must be between 0 and 0.5"),
])
def test_bad_arguments_are_rejected_before_anything_is_written(tmp_path, kwargs, message):
    path = tmp_path / "never.db"
    with pytest.raises(ValueError, match=message):
        generate(f"sqlite:///{path}", **kwargs)
    assert not path.exists()


def test_cli_prints_json_and_a_readable_error(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert cli.main(["generate", "--source", url, "--weeks", "1", "--seed", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["scale"] == "tiny" and out["weeks"] == 1 and out["seed"] == 3
    assert out["rows"]["vods_sumut"] == len(table_rows(tmp_path / "cli.db", "vods_sumut"))
    assert set(out["dirty_rows"]) == {"vods_sumut", "contlog"}
    assert cli.main(["generate", "--source", url, "--weeks", "1"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"vods_sumut\s+[\d,]+ watch rows", text) and "dirty contlog:" in text
    with pytest.raises(SystemExit, match="not a Monday"):
        cli.main(["generate", "--source", url, "--start", "2023-08-09"])
