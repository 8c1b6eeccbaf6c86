"""`vodrec serve` reading Redis, on real servers: a champion switch under load (no mixed week, no failed
request), Redis killed mid-load (the database answers, /health says so, Redis answers again when it is
back), and two API processes sharing one Redis."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import redis

from vodrec_assets.serving.redis_store import RedisLists
from vodrec_assets_tests.serving.conftest import (
    REDIS_URL, SUBSCRIBERS, UNKNOWN_SUBSCRIBER, WEEKS, catalogue_frame, fill_source_db, free_port, popular_frame,
    program_id, recommendation_frame, serve, week_of_program,
)

pytestmark = pytest.mark.slow

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class OwnRedis:
    """A redis-server of the test's own on a free port; `kill()` is SIGKILL, `start()` brings back what the
    last SAVE wrote (automatic snapshots are off: `--save ''`)."""

    def __init__(self, workdir: Path):
        self.workdir, self.port = workdir, free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--dbfilename", "dump.rdb"],
            stdout=open(self.workdir / "redis.log", "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError((self.workdir / "redis.log").read_text()[-2000:])
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def own_redis(tmp_path):
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed")
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def publish(lists: RedisLists, week: str, champion: bool) -> dict:
    return lists.publish_week(week, recommendation_frame(week), popular_frame(week), catalogue_frame(), champion)


class Hammer:
    """Client threads requesting lists until stopped; every response kept as (time, status, body)."""

    def __init__(self, url: str, clients: int = 2):
        self.url, self.stop = url, threading.Event()
        self.results: list[list[tuple]] = [[] for _ in range(clients)]
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]

    def _run(self, n: int) -> None:
        i = 0
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set() and i < 50_000:
                subsr = UNKNOWN_SUBSCRIBER if i % 10 == 9 else SUBSCRIBERS[i % len(SUBSCRIBERS)]
                try:
                    r = client.get(f"/recommendations/{subsr}", params={"k": 10})
                    self.results[n].append((time.monotonic(), r.status_code, r.json() if r.status_code == 200 else r.text))
                except httpx.HTTPError as exc:
                    self.failures.append(f"client {n}: {type(exc).__name__}: {exc}")
                i += 1

    def __enter__(self) -> Hammer:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def responses(self) -> list[tuple]:
        return [r for per in self.results for r in per]


def assert_whole(responses: list[tuple]) -> None:
    """Every response 200 and wholly from the week it names: no item of another week."""
    bad = [r[1:] for r in responses if r[1] != 200]
    assert not bad, f"{len(bad)} failed of {len(responses)}, first: {bad[:3]}"
    mixed = [r[2] for r in responses if {week_of_program(i["program_id"]) for i in r[2]["items"]} != {r[2]["model_week"]}]
    assert not mixed, f"{len(mixed)} responses mix weeks, first: {mixed[:1]}"


def test_champion_switch_under_load_serves_old_then_new_never_a_mix(tmp_path, redis_lists):
    db = fill_source_db(tmp_path / "source.db", WEEKS[:4])
    old, new = WEEKS[0], WEEKS[4]
    publish(redis_lists, old, champion=True)
    publish(redis_lists, new, champion=False)
    env = {"VODREC_REDIS_URL": REDIS_URL, "VODREC_REDIS_PREFIX": redis_lists.prefix}
    with serve(db.url, tmp_path, env=env) as server, Hammer(server.url) as hammer:
        time.sleep(1.0)
        redis_lists.activate(new)
        switched = time.monotonic()
        time.sleep(1.0)
        hammer.stop.set()
        for t in hammer.threads:
            t.join(timeout=60)
        first_phase = hammer.responses()
        per_client = [[r[2]["model_week"] for r in per if r[1] == 200] for per in hammer.results]
        # Then flip between the two weeks every 20 ms: still no response mixes them.
        hammer.stop.clear()
        hammer.results = [[] for _ in hammer.results]
        hammer.threads = [threading.Thread(target=hammer._run, args=(n,)) for n in range(len(hammer.results))]
        for t in hammer.threads:
            t.start()
        flips = 0
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            redis_lists.activate(old if flips % 2 else new)
            flips += 1
            time.sleep(0.02)
    assert not hammer.failures, hammer.failures[:3]
    assert len(first_phase) > 100
    assert_whole(first_phase)
    assert {r[2]["store"] for r in first_phase} == {"redis"}
    for weeks in per_client:  # each client's requests follow one another: old ones, then new ones only
        assert set(weeks) == {old, new} and weeks == sorted(weeks), "a client saw the old week after the new"
    assert min(r[0] for r in first_phase if r[2]["model_week"] == new) >= switched - 0.5
    flipped = hammer.responses()
    assert flips > 20 and len(flipped) > 100
    assert_whole(flipped)
    assert {r[2]["model_week"] for r in flipped} == {old, new}


def test_redis_killed_mid_load_the_database_answers_then_redis_again(tmp_path, own_redis):
    db = fill_source_db(tmp_path / "source.db", WEEKS[:4])  # the database's champion is W1 too
    lists = RedisLists(redis.Redis.from_url(own_redis.url))
    publish(lists, WEEKS[0], champion=True)
    lists.client.save()  # what the restarted server loads
    env = {"VODREC_REDIS_URL": own_redis.url}
    with serve(db.url, tmp_path, env=env) as server, Hammer(server.url) as hammer:
        assert httpx.get(f"{server.url}/health").json()["store"] == "redis"
        time.sleep(0.7)
        own_redis.kill()
        killed = time.monotonic()
        time.sleep(1.5)
        down = httpx.get(f"{server.url}/health")
        own_redis.start()
        restarted = time.monotonic()
        deadline = restarted + 10
        while httpx.get(f"{server.url}/health").json()["store"] != "redis":
            assert time.monotonic() < deadline, "Redis is back but the API does not read it"
            time.sleep(0.1)
        back, back_at = httpx.get(f"{server.url}/health"), time.monotonic()
        time.sleep(0.7)
    assert not hammer.failures, hammer.failures[:3]
    responses = hammer.responses()
    assert_whole(responses)
    assert down.status_code == 200, down.text  # the database answers every endpoint: degraded, not down
    body = down.json()
    assert (body["status"], body["store"], body["database"]) == ("degraded", "database", "ok"), body
    assert body["redis"].startswith("unreachable") and "redis: unreachable" in body["detail"]
    assert back.status_code == 200 and back.json()["status"] == "ok"
    stores = [r[2]["store"] for r in sorted(responses)]
    during = {r[2]["store"] for r in responses if killed + 0.1 < r[0] < restarted}
    after = [r[2]["store"] for r in responses if r[0] > back_at + 0.1]
    assert stores[0] == "redis" and during == {"database"} and after and set(after) == {"redis"}, set(stores)
    assert {r[2]["model_week"] for r in responses} == {WEEKS[0]}


def test_two_api_processes_share_one_redis(tmp_path, redis_lists):
    db = fill_source_db(tmp_path / "source.db", WEEKS[:4])
    publish(redis_lists, WEEKS[0], champion=True)
    publish(redis_lists, WEEKS[4], champion=False)
    env = {"VODREC_REDIS_URL": REDIS_URL, "VODREC_REDIS_PREFIX": redis_lists.prefix}
    with serve(db.url, tmp_path, env=env) as a, serve(db.url, tmp_path, env=env) as b:
        for week in (WEEKS[0], WEEKS[4]):
            if week != WEEKS[0]:
                redis_lists.activate(week)  # both answer the new week at once: the pointer is read per request
            for subsr in [*SUBSCRIBERS, UNKNOWN_SUBSCRIBER]:
                ra, rb = (httpx.get(f"{s.url}/recommendations/{subsr}") for s in (a, b))
                assert ra.status_code == rb.status_code == 200
                assert ra.json() == rb.json() and ra.json()["model_week"] == week and ra.json()["store"] == "redis"
            assert_whole([(0, 200, ra.json())])
            health = httpx.get(f"{a.url}/health")
            assert health.status_code == 200 and health.json()["champion_week"] == week
            if week == WEEKS[0]:
                assert health.json()["status"] == "ok"
            else:  # Redis was switched by hand, champion_history still names W1: /health says they disagree
                assert health.json()["status"] == "degraded" and health.json()["database_champion_week"] == WEEKS[0]
                assert "champion_history names" in health.json()["detail"]


def test_64_bit_ids_stay_exact_in_every_store(tmp_path, redis_lists):
    """2**53 and 2**53 + 1 are one float64: each must get its own list, from every store."""
    big = [2**53, 2**53 + 1, 2**63 - 1]
    db = fill_source_db(tmp_path / "source.db", WEEKS[:4])  # champion W1
    week = WEEKS[0]
    frame = pd.concat([recommendation_frame(week), pd.DataFrame([
        {"week": week, "subsr_id": s, "rank": r, "program_id": program_id(week, s, r), "score": 1.0 - r / 64,
         "source": "model"} for s in big for r in range(1, 11)])], ignore_index=True)
    db.replace_week_rows("recommendations", week, frame)
    redis_lists.publish_week(week, frame, popular_frame(week), catalogue_frame(), make_champion=True)
    stores = {"redis": {"VODREC_REDIS_URL": REDIS_URL, "VODREC_REDIS_PREFIX": redis_lists.prefix},
              "snapshot": {}, "database": {"VODREC_SERVE_STORE": "database"}}
    for store, env in stores.items():
        with serve(db.url, tmp_path, env=env) as server:
            deadline = time.monotonic() + 30
            while httpx.get(f"{server.url}/health").json()["store"] != store:
                assert time.monotonic() < deadline, f"{store} never answered"
                time.sleep(0.1)
            for s in big:
                body = httpx.get(f"{server.url}/recommendations/{s}").json()
                assert (body["subsr_id"], body["store"], body["source"]) == (s, store, "model"), body
                assert [i["program_id"] for i in body["items"]] == [program_id(week, s, r) for r in range(1, 11)]
