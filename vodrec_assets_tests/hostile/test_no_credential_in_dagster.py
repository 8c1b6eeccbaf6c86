"""No credential in Dagster's storage or UI: `vodrec demo --source` of a MySQL URL with a password on the
local MariaDB, with the instance in SQLite (the embedded default) and in MySQL (deploy/dagster.yaml of the
repository), leaves the password nowhere: not in any file under VODREC_HOME (instance databases opened
and every value read, zlib/gzip payloads decompressed), not in any table of the MySQL instance storage,
not on the terminal. The source database is new: `vodrec generate` creates it."""

from __future__ import annotations

import gzip
import secrets
import shutil
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from ..conftest import MYSQL_HOST, MYSQL_PORT, _mysql_admin

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]


def _payloads(value) -> list[bytes]:
    """A stored value as bytes, plus what it decompresses to (Dagster zlib-compresses snapshots)."""
    if value is None:
        return []
    raw = value if isinstance(value, (bytes, bytearray, memoryview)) else str(value).encode()
    raw = bytes(raw)
    out = [raw]
    for unpack in (zlib.decompress, gzip.decompress, lambda b: zlib.decompress(b, -15)):
        try:
            out.append(unpack(raw))
        except Exception:  # noqa: BLE001 - not that format
            pass
    return out


def _leaks_in_files(root: Path, secret: bytes) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if any(secret in p for p in _payloads(path.read_bytes())):
            found.append(str(path))
        if path.suffix == ".db" or path.name.endswith(".sqlite"):
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
                for table in tables:
                    for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite_master
                        if any(secret in p for v in row for p in _payloads(v)):
                            found.append(f"{path}:{table}")
            except sqlite3.DatabaseError:
                pass
            finally:
                conn.close()
    return found


def _leaks_in_mysql(database: str, secret: bytes) -> list[str]:
    admin = _mysql_admin()
    found = []
    try:
        with admin.cursor() as cur:
            cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,))
            for (table,) in cur.fetchall():
                cur.execute(f"SELECT * FROM `{database}`.`{table}`")  # noqa: S608 - names from information_schema
                if any(secret in p for row in cur.fetchall() for v in row for p in _payloads(v)):
                    found.append(table)
    finally:
        admin.close()
    return found


@pytest.fixture
def password_user():
    """A MariaDB user with a password, allowed on two databases that do not exist yet."""
    try:
        admin = _mysql_admin()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"MariaDB not reachable: {exc}")
    tag = secrets.token_hex(4)
    user, password = f"vr_cred_{tag}", f"Pw-{secrets.token_hex(12)}"
    source_db, dagster_db = f"vodrec_cred_src_{tag}", f"vodrec_cred_dag_{tag}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT ALL PRIVILEGES ON `{source_db}`.* TO '{user}'@'%'")
        cur.execute(f"GRANT ALL PRIVILEGES ON `{dagster_db}`.* TO '{user}'@'%'")
        cur.execute(f"CREATE DATABASE `{dagster_db}`")
    try:
        yield user, password, source_db, dagster_db
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{source_db}`")
            cur.execute(f"DROP DATABASE IF EXISTS `{dagster_db}`")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


def _run(args: list[str], env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "vodrec"), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("instance", ["sqlite", "mysql"])
def test_a_mariadb_demo_with_a_password_leaves_it_nowhere(tmp_path, password_user, instance):
    user, password, source_db, dagster_db = password_user
    url = f"mysql+pymysql://{user}:{password}@{MYSQL_HOST}:{MYSQL_PORT}/{source_db}"
    home = tmp_path / "home"
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path), "VODREC_HOME": str(home)}
    generated = _run(["generate", "--source", url, "--scale", "tiny", "--weeks", "2"], env)
    assert generated.returncode == 0, generated.stdout + generated.stderr  # the database did not exist
    if instance == "mysql":
        dagster_home = home / "dagster_home"
        dagster_home.mkdir(parents=True)
        shutil.copy(REPO / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
        env |= {"DAGSTER_HOME": str(dagster_home), "DAGSTER_MYSQL_HOST": MYSQL_HOST, "DAGSTER_MYSQL_PORT": str(MYSQL_PORT),
                "DAGSTER_MYSQL_USER": user, "DAGSTER_MYSQL_PASSWORD": password, "DAGSTER_MYSQL_DB": dagster_db}
    demo = _run(["demo", "--source", url, "--limit-weeks", "1"], env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "week 2023-08-07: ok" in demo.stdout
    assert password not in demo.stdout + demo.stderr
    secret = password.encode()
    assert list(home.rglob("*.db")) or instance == "mysql"  # the instance really was searched
    assert _leaks_in_files(home, secret) == []
    if instance == "mysql":
        tables = _leaks_in_mysql(dagster_db, b"")  # every table is readable: the search is real
        assert "runs" in tables and "event_logs" in tables
        assert _leaks_in_mysql(dagster_db, secret) == []
