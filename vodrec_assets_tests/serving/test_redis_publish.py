"""The weekly graph with Redis configured: what `recommendations` and `champion_model` publish there is what the
database holds, the served version follows champion_history, a re-materialized week replaces its version, and
`vodrec serve` answers the same bodies from Redis as from the database."""

from __future__ import annotations

import uuid

import httpx
import numpy as np
import pytest
import sqlalchemy as sa

from vodrec_assets.resources import ServingRedis
from vodrec_assets.serving import redis_layout as layout
from vodrec_assets_tests.assets.conftest import WEEKS, Workspace
from vodrec_assets_tests.serving.conftest import REDIS_URL, local_redis, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    from vodrec_assets.sources.synthetic import generate

    local_redis()
    root = tmp_path_factory.mktemp("redis_publish")
    generate(f"sqlite:///{root / 'tiny.db'}", scale="tiny", weeks=3, seed=0)
    (root / "ws").mkdir()
    ws = Workspace(root / "ws", root / "tiny.db")
    cache = ServingRedis(url=REDIS_URL, prefix=f"vodrectest{uuid.uuid4().hex[:10]}", retired_ttl_seconds=600)
    ws.resources["serving_redis"] = cache
    results = [ws.materialize(week) for week in WEEKS[:2]]
    try:
        yield ws, cache, results
    finally:
        cache.lists().drop_prefix()


def db_champion(ws: Workspace) -> str:
    with ws.source.engine.connect() as conn:
        return conn.execute(sa.text("SELECT champion_week FROM champion_history ORDER BY week DESC LIMIT 1")).scalar_one()


def db_lists(ws: Workspace, week: str) -> dict[int, list[tuple[int, float]]]:
    out: dict[int, list[tuple[int, float]]] = {}
    with ws.source.engine.connect() as conn:
        for s, p, v in conn.execute(sa.text("SELECT subsr_id, program_id, score FROM recommendations WHERE week = :w "
                                            "ORDER BY subsr_id, rank"), {"w": week}):
            out.setdefault(int(s), []).append((int(p), float(v)))
    return out


def redis_lists(cache: ServingRedis, subscribers) -> tuple[str, dict[int, list[tuple[int, float]]]]:
    lists = cache.lists()
    version = lists.load_version(lists.champion())
    out = {}
    for s in subscribers:
        name, value = lists.read(s)
        assert name == version.version
        idx, scores = layout.unpack_list(value, version.code)
        out[s] = [(version.programs[i], v) for i, v in zip(idx, scores)]
    return version.week, out


def assert_same_lists(db: dict, cached: dict) -> None:
    assert set(db) == set(cached)
    for s, rows in db.items():
        assert [p for p, _ in cached[s]] == [p for p, _ in rows], s
        # Redis keeps float32 scores; LightFM's are float32, so they read back as the database's doubles.
        np.testing.assert_array_equal(np.float32([v for _, v in cached[s]]), np.float32([v for _, v in rows]))


def test_the_champion_weeks_lists_in_redis_are_the_databases(published):
    ws, cache, results = published
    assert all(r.success for r in results)
    week = db_champion(ws)
    db = db_lists(ws, week)
    served_week, cached = redis_lists(cache, db)
    assert served_week == week and len(db) > 50
    assert_same_lists(db, cached)
    recs = [e for e in results[-1].get_asset_materialization_events() if e.asset_key.to_user_string() == "champion_model"]
    assert "champion " + week in recs[0].materialization.metadata["redis"].value


def test_rematerializing_the_served_week_replaces_its_version(published):
    ws, cache, _ = published
    lists = cache.lists()
    week = db_champion(ws)
    before = lists.champion()
    assert ws.materialize(week).success
    after = lists.champion()
    assert after != before and after.startswith(week)
    assert 0 < lists.client.ttl(f"{cache.prefix}:v:{before}:meta") <= 600  # the replaced version expires
    assert lists.client.ttl(f"{cache.prefix}:v:{after}:meta") == -1
    db = db_lists(ws, week)
    assert_same_lists(db, redis_lists(cache, db)[1])


def test_the_api_answers_the_same_from_redis_as_from_the_database(published, tmp_path):
    ws, cache, _ = published
    week = db_champion(ws)
    subscribers = sorted(db_lists(ws, week))[:25] + [2**63 - 1]  # the last has no list: popularity
    redis_env = {"VODREC_REDIS_URL": REDIS_URL, "VODREC_REDIS_PREFIX": cache.prefix}
    with serve(ws.source.url, tmp_path, env=redis_env) as from_redis, \
            serve(ws.source.url, tmp_path, env={"VODREC_SERVE_STORE": "database"}) as from_db:
        health = httpx.get(f"{from_redis.url}/health").json()
        assert (health["status"], health["store"], health["champion_week"]) == ("ok", "redis", week), health
        assert httpx.get(f"{from_db.url}/health").json()["store"] == "database"
        for s in subscribers:
            a = httpx.get(f"{from_redis.url}/recommendations/{s}", params={"k": 7})
            b = httpx.get(f"{from_db.url}/recommendations/{s}", params={"k": 7})
            assert a.status_code == b.status_code == 200
            assert a.headers["x-store"] == "redis" and b.headers["x-store"] == "database"
            ja, jb = a.json(), b.json()
            assert ja.pop("store") == "redis" and jb.pop("store") == "database"
            for item_a, item_b in zip(ja["items"], jb["items"]):
                assert np.float32(item_a.pop("score")) == np.float32(item_b.pop("score"))
            assert ja == jb, s
        assert ja["source"] == "popularity" and ja["count"] > 0
