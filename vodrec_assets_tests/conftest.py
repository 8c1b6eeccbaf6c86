"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import secrets
import tempfile

import pytest
import sqlalchemy as sa

# Steps are retried with exponential backoff (vodrec_assets.asset_defaults.io_retry_policy); in tests the
# base delay is short so that a failing step fails in well under a second instead of about 50 s. Set
# before any test module imports the assets (the policy is read when they are defined).
os.environ.setdefault("VODREC_RETRY_DELAY_SECONDS", "0.05")
# Never the developer's .vodrec (the Makefile exports it): its local_settings.json, written by `make demo`,
# would pin the partitions every test module sees. Tests that need a home make their own.
os.environ["VODREC_HOME"] = tempfile.mkdtemp(prefix="vodrec-test-home-")

MYSQL_HOST = os.environ.get("VODREC_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("VODREC_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("VODREC_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("VODREC_TEST_MYSQL_PASSWORD", "")


def _mysql_admin():
    import pymysql

    return pymysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
                           autocommit=True, connect_timeout=5)


@pytest.fixture
def mariadb_url() -> str:
    """A SQLAlchemy URL of a new, empty MariaDB/MySQL database, dropped after the test.

    Skips (saying why) only when the server cannot be reached at VODREC_TEST_MYSQL_HOST:PORT
    (default 127.0.0.1:3306, root, empty password).
    """
    try:
        admin = _mysql_admin()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        pytest.skip(f"MariaDB not reachable at {MYSQL_HOST}:{MYSQL_PORT} as {MYSQL_USER}: {exc}")
    name = f"vodrec_test_{secrets.token_hex(6)}"  # ours, never user input: safe as an identifier
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        yield sa.URL.create("mysql+pymysql", username=MYSQL_USER, password=MYSQL_PASSWORD or None,
                            host=MYSQL_HOST, port=MYSQL_PORT, database=name).render_as_string(hide_password=False)
    finally:
        try:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            admin.close()
