"""Promotion switches the served model without a restart and without a failed request."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from vodrec_assets_tests.serving.conftest import (
    REFRESH_SECONDS, SUBSCRIBERS, UNKNOWN_SUBSCRIBER, WEEKS, champion_frame, fill_source_db, popular_program_id,
    program_id, publish_week, serve, week_number,
)

pytestmark = pytest.mark.slow

MAX_REQUESTS_PER_CLIENT = 20_000
MAX_SECONDS = 60


def test_a_new_champion_is_served_without_restart_or_failed_request(tmp_path):
    db = fill_source_db(tmp_path / "source.db", WEEKS[:4])  # champion W1
    old, new = WEEKS[0], WEEKS[4]
    stop = threading.Event()
    results: list[list[tuple]] = [[], []]  # per client: (time, status, model week, program ids) or error
    failures: list[str] = []

    def hammer(n: int, url: str) -> None:
        i = 0
        started = time.monotonic()
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set() and i < MAX_REQUESTS_PER_CLIENT and time.monotonic() - started < MAX_SECONDS:
                subsr = UNKNOWN_SUBSCRIBER if i % 10 == 9 else SUBSCRIBERS[i % len(SUBSCRIBERS)]
                try:
                    r = client.get(f"/recommendations/{subsr}", params={"k": 10})
                    body = r.json() if r.status_code == 200 else None
                    results[n].append((time.monotonic(), r.status_code, subsr, body))
                except httpx.HTTPError as exc:
                    failures.append(f"client {n}: {type(exc).__name__}: {exc}")
                i += 1

    with serve(db.url, tmp_path) as server:
        threads = [threading.Thread(target=hammer, args=(n, server.url)) for n in range(2)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)  # traffic on the old champion first
            publish_week(db, new, WEEKS)  # recommendations, popularity, metrics, then the champion row
            promoted_at = time.monotonic()
            switched_at = None
            while time.monotonic() - promoted_at < 15:
                seen = [r for per in results for r in list(per) if r[3] and r[3]["model_week"] == new]
                if seen:
                    switched_at = min(r[0] for r in seen)
                    break
                time.sleep(0.05)
            time.sleep(1.0)  # and traffic on the new one
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)

        # The new champion is what the other endpoints report too.
        assert httpx.get(f"{server.url}/health").json()["champion_week"] == new
        model = httpx.get(f"{server.url}/model").json()
        assert model["champion_week"] == new and model["promotion_reason"].startswith(f"promoted {new}")

    assert not failures, failures[:5]
    responses = [r for per in results for r in per]
    assert len(responses) > 100
    bad = [r[:3] for r in responses if r[1] != 200]
    assert not bad, f"{len(bad)} failed requests, first: {bad[:5]}"
    assert switched_at is not None, "the API never served the new champion"
    switch_seconds = switched_at - promoted_at
    assert switch_seconds < 5 * REFRESH_SECONDS + 3, f"switch took {switch_seconds:.2f} s"

    for per in results:
        weeks = [r[3]["model_week"] for r in per]
        assert set(weeks) == {old, new}
        # Each client sees the old champion, then the new one, never back again.
        first_new = weeks.index(new)
        assert all(w == old for w in weeks[:first_new]) and all(w == new for w in weeks[first_new:])
    # Every response is wholly from the week it names: never a mix of two snapshots.
    for _, _, subsr, body in responses:
        week = body["model_week"]
        ids = [i["program_id"] for i in body["items"]]
        if subsr == UNKNOWN_SUBSCRIBER:
            assert body["source"] == "popularity" and ids == [popular_program_id(week, r) for r in range(1, 11)]
        else:
            assert body["source"] == "model"
            assert ids == [program_id(week, subsr, r) for r in range(1, len(ids) + 1)] and ids
            assert all(i // 1000 == week_number(week) for i in ids)
    print(f"\nhot switch: {len(responses)} requests, 0 failed; new champion served "
          f"{switch_seconds:.2f} s after its champion_history row was committed (refresh {REFRESH_SECONDS} s)")


def test_a_rollback_of_the_history_is_followed_too(tmp_path):
    """If champion_history is rebuilt naming an older week again (a re-run with other metrics), the API
    follows the table: it serves whatever the newest row names."""
    db = fill_source_db(tmp_path / "source.db", WEEKS)  # champion W5
    with serve(db.url, tmp_path) as server, server.client() as client:
        assert client.get("/health").json()["champion_week"] == WEEKS[4]
        db.replace_all_rows("champion_history", champion_frame(WEEKS[:4]))  # W5's decision withdrawn
        deadline = time.monotonic() + 10
        while client.get("/recommendations/13").json()["model_week"] != WEEKS[0]:
            assert time.monotonic() < deadline, "the API did not follow the rebuilt history within 10 s"
            time.sleep(0.1)


def test_a_champion_row_without_its_recommendations_does_not_switch(tmp_path):
    """Written out of order (champion_history before the week's rows), the API keeps the old champion,
    says why in /health, and switches once the rows arrive."""
    db = fill_source_db(tmp_path / "source.db", WEEKS[:4])  # champion W1
    with serve(db.url, tmp_path) as server, server.client() as client:
        db.replace_all_rows("champion_history", champion_frame(WEEKS))  # names W5, which has no rows yet
        time.sleep(4 * REFRESH_SECONDS)
        health = client.get("/health").json()
        assert health["champion_week"] == WEEKS[0]
        assert f"champion week {WEEKS[4]} has no rows" in health["detail"]
        assert client.get("/recommendations/13").json()["model_week"] == WEEKS[0]
        publish_week(db, WEEKS[4], WEEKS)
        deadline = time.monotonic() + 10
        while client.get("/recommendations/13").json()["model_week"] != WEEKS[4]:
            assert time.monotonic() < deadline, "the API did not switch once the rows arrived"
            time.sleep(0.1)
        assert client.get("/health").json()["detail"] is None
