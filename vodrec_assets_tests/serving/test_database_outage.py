"""An honest /health: the serving database (a MariaDB of the test's own) SIGKILLed under load and restarted.

Two servers over it: one answering a query per request (`VODREC_SERVE_STORE=database`), one from its
in-process snapshot of the champion week (the default without Redis). While the database is away /health
is 503 naming it, lists come from memory (the popularity list, saying so, or the snapshot), the endpoints
that need the database answer 503, never 500; everything recovers when the database is back."""

from __future__ import annotations

import time

import httpx
import pytest

from vodrec_assets_tests.reliability.conftest import OwnMariaDB
from vodrec_assets_tests.serving.conftest import (
    SUBSCRIBERS, UNKNOWN_SUBSCRIBER, WEEKS, fill_serving_db, popular_program_id, program_id, serve,
)
from vodrec_assets_tests.serving.test_redis_serving import Hammer

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def wait_for(url: str, want: dict, seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        r = httpx.get(f"{url}/health", timeout=30)
        if all(r.json().get(k) == v for k, v in want.items()):
            return r
        assert time.monotonic() < deadline, f"/health never reached {want}: {r.json()}"
        time.sleep(0.2)


def test_a_killed_database_is_reported_and_answered_around_never_500(tmp_path):
    db = OwnMariaDB(tmp_path / "mariadb")
    db.start()
    try:
        db.connect().cursor().execute("CREATE DATABASE vod_rec")
        fill_serving_db(db.url(), WEEKS[:4])  # champion W1
        week = WEEKS[0]
        with serve(db.url(), tmp_path, env={"VODREC_SERVE_STORE": "database"}) as per_query, \
                serve(db.url(), tmp_path) as snapshot, Hammer(per_query.url) as hammer:
            assert wait_for(per_query.url, {"status": "ok"}).json()["store"] == "database"
            assert wait_for(snapshot.url, {"store": "snapshot"}).json()["snapshot_rows"] > 0
            time.sleep(0.5)
            db.kill()
            killed = time.monotonic()

            down = wait_for(per_query.url, {"store": "memory"})
            assert down.status_code == 503
            body = down.json()
            assert body["status"] == "degraded" and body["database"].startswith("database unreachable"), body
            r = httpx.get(f"{per_query.url}/recommendations/{SUBSCRIBERS[0]}", params={"k": 5})
            assert r.status_code == 200 and r.headers["x-store"] == "memory"
            doc = r.json()
            assert (doc["source"], doc["store"], doc["model_week"]) == ("popularity", "memory", week)
            assert "database unreachable" in doc["fallback_reason"]
            assert [i["program_id"] for i in doc["items"]] == [popular_program_id(week, r) for r in range(1, 6)]
            assert doc["items"][0]["program_name"] == f"Program {popular_program_id(week, 1)}"  # the snapshot's names

            down = httpx.get(f"{snapshot.url}/health")
            assert down.status_code == 503 and (down.json()["status"], down.json()["store"]) == ("degraded", "snapshot")
            r = httpx.get(f"{snapshot.url}/recommendations/{SUBSCRIBERS[3]}", params={"k": 3}).json()
            assert (r["source"], r["store"]) == ("model", "snapshot")  # the subscriber's own list, from memory
            assert [i["program_id"] for i in r["items"]] == [program_id(week, SUBSCRIBERS[3], k) for k in (1, 2, 3)]
            assert httpx.get(f"{snapshot.url}/recommendations/{UNKNOWN_SUBSCRIBER}").json()["source"] == "popularity"

            for server in (per_query, snapshot):
                for path in ("/model", "/metrics/history", "/dashboard"):
                    r = httpx.get(f"{server.url}{path}", timeout=30)
                    assert r.status_code == 503 and "unreachable" in r.text, (path, r.status_code, r.text[:300])

            time.sleep(0.5)
            restarting = time.monotonic()
            db.start()
            restarted = time.monotonic()
            back = wait_for(per_query.url, {"status": "ok", "store": "database"})
            back_at = time.monotonic()
            assert back.status_code == 200 and back.json()["database"] == "ok"
            assert wait_for(snapshot.url, {"status": "ok", "store": "snapshot"}).status_code == 200
            r = httpx.get(f"{per_query.url}/recommendations/{SUBSCRIBERS[3]}").json()
            assert (r["source"], r["store"]) == ("model", "database")
            assert httpx.get(f"{per_query.url}/model").json()["champion_week"] == week
            time.sleep(0.5)
    finally:
        db.kill()
    assert not hammer.failures, hammer.failures[:3]
    responses = hammer.responses()
    statuses = {r[1] for r in responses}
    assert statuses == {200}, statuses  # the popularity list answered throughout: no 500, not even a 503
    stores = {r[2]["store"] for r in responses if killed + 0.5 < r[0] < restarting}
    assert stores == {"memory"}, stores
    assert {r[2]["store"] for r in responses if r[0] > back_at + 0.5} == {"database"}
    print(f"{len(responses)} requests over the outage, all 200; recovered {back_at - restarted:.1f} s after restart")
