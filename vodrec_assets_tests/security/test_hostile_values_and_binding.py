"""Hostile strings through every configurable value that reaches SQL, on SQLite and on MariaDB (whose
backslash escapes differ); more key-like patterns over the tracked files; loopback-only defaults."""

from __future__ import annotations

import re
import shlex
from datetime import datetime

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from vodrec_assets import schema
from vodrec_assets.partitions import week_bounds
from vodrec_assets.resources import SourceDatabase, SourceSchemaError

from .test_secrets_and_sql import REPO, tracked_files

HOSTILE = [
    "2023-08-07'); DROP TABLE userinfo; --",
    "x\\'; DROP TABLE vods_sumut; -- ",  # a backslash before the quote: MySQL's escape
    "\" OR \"1\"=\"1",
    "`; TRUNCATE contlog; #",
    "🙂 %s %(week)s ? :w $1 {week}",
    "a\x00b",
]


@pytest.fixture(params=["sqlite", "mariadb"])
def db(request, tmp_path) -> SourceDatabase:
    url = f"sqlite:///{tmp_path / 'source.db'}" if request.param == "sqlite" else request.getfixturevalue("mariadb_url")
    db = SourceDatabase(url=url)
    schema.create_source_tables(db.engine)
    with db.engine.begin() as conn:
        conn.execute(sa.insert(schema.userinfo), [{"subsr_id": 1, "age_band": "30s"}])
        conn.execute(sa.insert(schema.vods_sumut), [{"subsr_id": 1, "program_id": 5, "log_dt": datetime(2023, 8, 8)}])
        conn.execute(sa.insert(schema.contlog), [{"subsr_id": 1, "program_id": 5, "log_dt": datetime(2023, 8, 8)}])
    return db


def _intact(db: SourceDatabase) -> None:
    for table in ("userinfo", "vods_sumut", "contlog"):
        assert db.count_rows(table) == 1, table


def _stored_as_data(value: str) -> bool:
    return "\x00" not in value  # MariaDB text columns refuse NUL; SQLite keeps it. Either way: data, not SQL.


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_written_are_data_everywhere_they_reach_sql(db, hostile):
    value = hostile if _stored_as_data(hostile) or db.engine.dialect.name == "sqlite" else hostile.replace("\x00", "")
    week = value[:10]  # the week column is 10 characters (a partition key); the rest goes in text columns
    row = {"subsr_id": [1], "rank": [1], "program_id": [5], "score": [1.0]}
    # recommendations / popular_programs: the week (a delete then an insert, both bound)
    db.replace_week_rows("recommendations", week, pd.DataFrame({"week": [week], **row, "source": [value[:16]]}))
    db.replace_week_rows("recommendations", week, pd.DataFrame({"week": [week], **row, "source": [value[:16]]}))
    db.replace_week_rows("popular_programs", week, pd.DataFrame({"week": [week], "rank": [1], "program_id": [5],
                                                                "score": [1.0]}))
    # metrics_history: metric names come from the metrics dict; champion_history: free-text reasons
    db.replace_all_rows("metrics_history", pd.DataFrame({"week": [week], "metric": [value[:64]], "value": [0.5]}))
    db.replace_all_rows("champion_history", pd.DataFrame({
        "week": [week], "champion_week": [week], "promoted": [1], "reason": [value], "candidate_map_at_10": [0.1],
        "champion_map_at_10": [0.1], "decided_at": ["2023-08-14T03:00:00+00:00"]}))
    _intact(db)
    assert db.read_table("recommendations")[["week", "source"]].values.tolist() == [[week, value[:16]]]
    assert db.read_table("metrics_history")["metric"].tolist() == [value[:64]]
    assert db.read_table("champion_history")["reason"].tolist() == [value]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_are_refused_before_any_sql(db, hostile):
    with pytest.raises(ValueError, match="unknown table"):
        db.read_table(hostile)
    with pytest.raises(ValueError, match="unknown table"):
        db.count_rows(hostile)
    with pytest.raises(ValueError, match="unknown table"):
        db.read_window(hostile, datetime(2023, 8, 7), datetime(2023, 8, 14))
    with pytest.raises(ValueError, match="unknown table"):
        db.replace_week_rows(hostile, "2023-08-07", pd.DataFrame())
    # Column names are checked against the live schema first: a hostile one never reaches a statement.
    with pytest.raises(SourceSchemaError, match="missing column"):
        db.read_table("vods_sumut", ["subsr_id", hostile])
    with pytest.raises(SourceSchemaError, match="missing column"):
        db.read_window("vods_sumut", datetime(2023, 8, 7), datetime(2023, 8, 14), time_column=hostile)
    with pytest.raises(ValueError, match="unknown table"):
        db.has_table(hostile)
    _intact(db)
    # The window's bounds are datetimes parsed from the partition key: a hostile key is refused there.
    with pytest.raises(ValueError):
        week_bounds(hostile)
    assert len(db.read_window("vods_sumut", *week_bounds("2023-08-07"))) == 1


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_start_date_is_refused_by_the_partitions(hostile):
    """VODREC_START_DATE becomes the partitions' start: anything but a date is refused there, so partition
    keys (bound into SQL as the week) are always dates."""
    with pytest.raises(Exception):  # noqa: B017 - Dagster raises its own check/parse errors
        dg.WeeklyPartitionsDefinition(start_date=hostile, day_offset=1, timezone="Asia/Seoul")


# ----------------------------------------------------------------------------- credentials

MORE_KEY_PATTERNS = {
    "secret assigned a literal": re.compile(
        r"(?i)\b\w*(password|passwd|secret|secret_key|api_key|token|access_key)\b['\"]?\s*[:=]\s*['\"]"
        r"(?!changeme|testing|example|\$\{|(?-i:[A-Z0-9_]+['\"]))[A-Za-z0-9/+=_\-]{16,}['\"]"),  # not an ENV_VAR name
    "Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
}


def test_more_key_patterns_find_what_they_look_for():
    fake = "Sx" + "9fQ2mL0pW7rT4vB8nK3e"
    assert MORE_KEY_PATTERNS["secret assigned a literal"].search(f'aws_secret_access_key = "{fake}"')
    assert MORE_KEY_PATTERNS["secret assigned a literal"].search(f"password: '{fake}'")
    assert not MORE_KEY_PATTERNS["secret assigned a literal"].search('password: "changeme"')
    assert not MORE_KEY_PATTERNS["secret assigned a literal"].search('"password": "DAGSTER_MYSQL_PASSWORD"')
    assert MORE_KEY_PATTERNS["Slack token"].search("xoxb-" + "1234567890-abcdef")


def test_no_key_like_strings_and_no_env_files_in_tracked_files():
    files = tracked_files()
    names = [p.relative_to(REPO).as_posix() for p in files]
    assert not [n for n in names if re.search(r"(^|/)\.env$|\.pem$|id_rsa|\.p12$|credentials$", n)], names
    hits = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for name, pattern in MORE_KEY_PATTERNS.items():
            hits += [f"{path.relative_to(REPO)}: {name}: {m.group(0)[:16]}..." for m in pattern.finditer(text)]
    assert not hits, "key-like strings in tracked files:\n" + "\n".join(hits)


# ----------------------------------------------------------------------------- loopback by default


def test_the_ui_and_the_api_listen_on_loopback_by_default():
    from vodrec_assets.cli import build_parser

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    ui = re.search(r"^ui:.*\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M).group(1)
    argv = shlex.split(ui.strip().splitlines()[-1])
    assert "dev" in argv and argv[argv.index("--host") + 1] == "127.0.0.1", argv


def test_compose_listens_on_all_interfaces_only_inside_containers_published_on_loopback():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    assert "ports" not in services["code"]  # the gRPC code server is reachable only on the compose network
