"""The serving API, through a real `vodrec serve` (uvicorn) process over a SQLite file."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest

from vodrec_assets_tests.serving.conftest import (
    DECIDED_AT, SHORT_LIST_SUBSCRIBER, UNKNOWN_SUBSCRIBER, WEEKS, fill_source_db, popular_program_id,
    program_id, publish_week, serve,
)

CHAMPION = WEEKS[0]  # W2 and W4 have recommendations too, but lost to W1; W3 failed its gate


def test_health_names_the_champion_week(served):
    r = httpx.get(f"{served.url}/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["champion_week"] == CHAMPION


def test_recommendations_come_from_the_champion_week_with_names(served):
    r = httpx.get(f"{served.url}/recommendations/13")
    assert r.status_code == 200
    body = r.json()
    assert body["model_week"] == CHAMPION and r.headers["x-model-week"] == CHAMPION
    assert body["source"] == "model" and body["subsr_id"] == 13 and body["k"] == 10 and body["count"] == 10
    assert [i["rank"] for i in body["items"]] == list(range(1, 11))
    assert [i["program_id"] for i in body["items"]] == [program_id(CHAMPION, 13, r) for r in range(1, 11)]
    assert all(i["source"] == "model" for i in body["items"])
    assert body["items"][0]["program_name"] == f"Program {program_id(CHAMPION, 13, 1)}"
    assert body["items"][0]["ct_cl"] == "movie" and body["items"][0]["program_genre"] == "drama"
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)


def test_k_limits_the_list(served):
    body = httpx.get(f"{served.url}/recommendations/13", params={"k": 3}).json()
    assert body["count"] == 3 and [i["rank"] for i in body["items"]] == [1, 2, 3]


def test_a_program_missing_from_the_catalogue_has_no_name(served):
    # conftest leaves program_id(W1, 1, 2) out of vodinfo: the row is still served, unnamed.
    items = httpx.get(f"{served.url}/recommendations/1").json()["items"]
    assert items[1]["program_id"] == program_id(CHAMPION, 1, 2) and items[1]["program_name"] is None


def test_a_short_list_stays_short(served):
    body = httpx.get(f"{served.url}/recommendations/{SHORT_LIST_SUBSCRIBER}", params={"k": 10}).json()
    assert body["source"] == "model" and body["count"] == 3


@pytest.mark.parametrize("k", [1, 10, 20, 100])
def test_an_unknown_subscriber_gets_the_champion_weeks_popularity_list(served, k):
    r = httpx.get(f"{served.url}/recommendations/{UNKNOWN_SUBSCRIBER}", params={"k": k})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "popularity" and body["model_week"] == CHAMPION
    expected = [popular_program_id(CHAMPION, r) for r in range(1, min(k, 20) + 1)]  # the list has 20
    assert [i["program_id"] for i in body["items"]] == expected
    assert all(i["source"] == "popularity" and i["program_name"] for i in body["items"])


@pytest.mark.parametrize("path", [
    "/recommendations/abc", "/recommendations/-9223372036854775809", "/recommendations/1.5", "/recommendations/1e3",
    "/recommendations/99999999999999999999999",  # beyond BIGINT
    "/recommendations/1?k=0", "/recommendations/1?k=101", "/recommendations/1?k=-5", "/recommendations/1?k=ten",
])
def test_malformed_requests_get_a_clear_422(served, path):
    r = httpx.get(f"{served.url}{path}")
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail and detail[0]["loc"][0] in ("path", "query") and detail[0]["msg"]


def test_unknown_route_is_404(served):
    assert httpx.get(f"{served.url}/recommendations/").status_code == 404


def test_hostile_strings_are_rejected_not_executed(served):
    for hostile in ["1%20OR%201=1", "1;DROP%20TABLE%20recommendations", "%27"]:
        assert httpx.get(f"{served.url}/recommendations/{hostile}").status_code == 422
    assert httpx.get(f"{served.url}/recommendations/13").json()["count"] == 10


def test_model_says_what_is_served_and_why(served):
    r = httpx.get(f"{served.url}/model")
    assert r.status_code == 200
    body = r.json()
    assert body["champion_week"] == CHAMPION
    assert body["promoted_at"] == DECIDED_AT[CHAMPION]
    assert body["promotion_reason"].startswith(f"promoted {CHAMPION}: first model")
    latest = body["latest_decision"]
    assert latest["week"] == WEEKS[3] and latest["champion_week"] == CHAMPION and latest["promoted"] is False
    assert "kept" in latest["reason"] and latest["candidate_map_at_10"] == 0.09 and latest["champion_map_at_10"] == 0.1
    assert body["metrics"]["holdout_map_at_10"] == 0.1 and body["metrics"]["quality_gate_passed"] == 1.0
    assert "precision_at_10" not in body["metrics"]  # the first week has no next-week protocol
    # W2's next-week keys score W1's model on what subscribers newly watched in W2.
    nxt = body["next_week_evaluation"]
    assert nxt["week"] == WEEKS[1]
    assert nxt["metrics"]["precision_at_10"] == pytest.approx(0.11)
    assert not any(m.startswith("holdout_") for m in nxt["metrics"])


def test_metrics_history_endpoint(served):
    history = httpx.get(f"{served.url}/metrics/history").json()
    assert sorted(history["holdout_map_at_10"]) == WEEKS[:4]
    assert history["holdout_map_at_10"][WEEKS[2]] == 0.2
    assert sorted(history["precision_at_10"]) == WEEKS[1:4]


def test_openapi_schema_describes_the_endpoints(served):
    r = httpx.get(f"{served.url}/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in ("/recommendations/{subsr_id}", "/model", "/health", "/dashboard"):
        assert "get" in paths[path], path
    params = {p["name"]: p for p in paths["/recommendations/{subsr_id}"]["get"]["parameters"]}
    assert params["subsr_id"]["in"] == "path" and params["subsr_id"]["schema"]["minimum"] == -(2**63)
    assert params["k"]["schema"]["minimum"] == 1 and params["k"]["schema"]["maximum"] == 100
    assert params["k"]["schema"]["default"] == 10
    rec = spec["components"]["schemas"]["RecommendationsResponse"]["properties"]
    assert {"model_week", "source", "items"} <= set(rec)
    assert httpx.get(f"{served.url}/docs").status_code == 200


def test_without_a_champion_the_api_says_503_then_serves_once_one_is_promoted(tmp_path):
    db = fill_source_db(tmp_path / "source.db", [])  # tables exist, nothing decided yet
    with serve(db.url, tmp_path) as server, server.client() as client:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable" and "no champion yet" in health.json()["detail"]
        r = client.get("/recommendations/13")
        assert r.status_code == 503 and "no champion yet" in r.json()["detail"]
        assert client.get("/model").status_code == 503
        dashboard = client.get("/dashboard")
        assert dashboard.status_code == 200 and "No model served yet" in dashboard.text

        publish_week(db, WEEKS[0], WEEKS[:1])
        deadline = time.monotonic() + 10
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "the first champion was not picked up within 10 s"
            time.sleep(0.1)
        assert client.get("/recommendations/13").json()["model_week"] == WEEKS[0]


def test_without_any_table_the_api_starts_and_says_why(tmp_path):
    sqlite3.connect(tmp_path / "empty.db").close()  # a database without tables (a missing file is refused)
    with serve(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path) as server:
        r = httpx.get(f"{server.url}/health")
        assert r.status_code == 503 and "does not exist" in r.json()["detail"]
        assert httpx.get(f"{server.url}/dashboard").status_code == 200
