"""Serving's share of hostile input: a 5,000-digit id is refused without being echoed whole, the signed
64-bit range is accepted exactly, and `vodrec serve` refuses a SQLite path that holds no database
instead of creating an empty file there."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from vodrec_assets.serving.app import ECHO_LIMIT, create_app

BIN = Path(sys.executable).parent


def test_a_huge_id_gets_a_short_422_and_int64_extremes_are_ids(tmp_path):
    db = tmp_path / "serving.db"
    sqlite3.connect(db).close()
    with TestClient(create_app(f"sqlite:///{db}", refresh_seconds=60)) as client:
        huge = "9" * 5000
        r = client.get(f"/recommendations/{huge}")
        assert r.status_code == 422
        assert huge not in r.text and len(r.text) < 1000
        assert f"({len(huge)} characters)" in r.text
        assert client.get(f"/recommendations/{2**63}").status_code == 422
        for edge in (2**63 - 1, -(2**63), 2**53 + 1):
            assert client.get(f"/recommendations/{edge}").status_code == 503  # valid id, no champion yet
    assert ECHO_LIMIT < 100


def test_serve_refuses_a_sqlite_path_without_a_database(tmp_path):
    missing = tmp_path / "typo" / "source.db"
    done = subprocess.run([str(BIN / "vodrec"), "serve", "--source", f"sqlite:///{missing}", "--port", "0"],
                          capture_output=True, text=True, timeout=60, env={"PATH": f"{BIN}:/usr/bin:/bin",
                                                                           "HOME": str(tmp_path)})
    assert done.returncode != 0
    assert f"no database at {missing}" in done.stderr
    assert not missing.exists() and not missing.parent.exists()
