"""Fixtures of the real-process integration tests (helpers in harness.py)."""

from __future__ import annotations

import pytest

from vodrec_assets_tests.integration.harness import MariaDB, MotoS3Server


@pytest.fixture(scope="session")
def mariadb() -> MariaDB:
    """The local MariaDB/MySQL as admin. .ci/run starts it; without it these tests fail, loudly."""
    server = MariaDB()
    try:
        server.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(
            f"MariaDB is not reachable at {server.host}:{server.port} as {server.admin_user} ({exc}). Start it: "
            "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd", pytrace=False)
    yield server
    server.drop_all()


@pytest.fixture
def throwaway_db(mariadb):
    """Factory: throwaway_db("prefix") -> ThrowawayDatabase; every one is dropped (with its user) afterwards."""
    made = []

    def make(prefix: str = "vodrec_t"):
        db = mariadb.create(prefix)
        made.append(db)
        return db

    yield make
    for db in made:
        mariadb.drop(db)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory) -> MotoS3Server:
    """A moto S3 server process on a free loopback port, for the whole session."""
    with MotoS3Server(tmp_path_factory.mktemp("moto")) as server:
        yield server
