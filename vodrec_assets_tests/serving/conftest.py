"""A serving database filled the way the pipeline's assets fill it, and `vodrec serve` as a real process.

Weeks and their promotion decisions (holdout map_at_10, quality gate):

    W1 2023-08-07  gate ok,     0.100  -> promoted (first)
    W2 2023-08-14  gate ok,     0.080  -> W1 kept (worse)
    W3 2023-08-21  gate FAILED, 0.200  -> W1 kept; no recommendations written (the asset skips them)
    W4 2023-08-28  gate ok,     0.090  -> W1 kept (worse)
    W5 2023-09-04  gate ok,     0.120  -> promoted (added by the hot-switch test)

So the champion is W1 although W2 and W4 also have recommendations: the API must serve W1, not the
newest week. Week i's program ids are i*1000 + rank*10 + subscriber % 10, so any response tells which
week it came from.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import uuid

import httpx
import pandas as pd
import pytest
import redis
import sqlalchemy as sa

from vodrec_assets import schema
from vodrec_assets.recsys.promotion import replay_history
from vodrec_assets.resources import SourceDatabase
from vodrec_assets.serving.redis_store import RedisLists

WEEKS = ["2023-08-07", "2023-08-14", "2023-08-21", "2023-08-28", "2023-09-04"]
CANDIDATES = [  # (week, gate passed, holdout map_at_10)
    (WEEKS[0], True, 0.100),
    (WEEKS[1], True, 0.080),
    (WEEKS[2], False, 0.200),
    (WEEKS[3], True, 0.090),
    (WEEKS[4], True, 0.120),
]
SUBSCRIBERS = list(range(1, 41))
SHORT_LIST_SUBSCRIBER = 7  # only 3 recommendations in every week
UNKNOWN_SUBSCRIBER = 999_999
DECIDED_AT = {w: f"{w}T03:00:00+09:00" for w in WEEKS}
REFRESH_SECONDS = 0.5


def week_number(week: str) -> int:
    return WEEKS.index(week) + 1


def week_of_program(program: int) -> str:
    """Which week's data a program id of these fixtures comes from."""
    return WEEKS[program // 1000 - 1]


def program_id(week: str, subsr_id: int, rank: int) -> int:
    return week_number(week) * 1000 + rank * 10 + subsr_id % 10


def popular_program_id(week: str, rank: int) -> int:
    return week_number(week) * 1000 + 900 + rank


def recommendation_frame(week: str) -> pd.DataFrame:
    rows = [
        {"week": week, "subsr_id": s, "rank": r, "program_id": program_id(week, s, r), "score": 1.0 - r / 100,
         "source": "model"}
        for s in SUBSCRIBERS for r in range(1, (3 if s == SHORT_LIST_SUBSCRIBER else 10) + 1)
    ]
    return pd.DataFrame(rows)


def popular_frame(week: str) -> pd.DataFrame:
    return pd.DataFrame([{"week": week, "rank": r, "program_id": popular_program_id(week, r), "score": 100.0 - r}
                         for r in range(1, 21)])


def metrics_frame(weeks: list[str]) -> pd.DataFrame:
    """metrics_history in long format, as the metrics_history asset melts it."""
    rows = []
    for i, week in enumerate(weeks):
        _, gate, holdout_map = CANDIDATES[WEEKS.index(week)]
        values = {
            "holdout_precision_at_10": 0.20 + 0.01 * i, "holdout_map_at_10": holdout_map,
            "holdout_popularity_precision_at_10": 0.15, "holdout_popularity_map_at_10": 0.085,
            "legacy_diversity": 0.3, "quality_gate_passed": float(gate),
        }
        if i:  # no next-week protocol in the first week
            values |= {"precision_at_10": 0.10 + 0.01 * i, "map_at_10": 0.05 + 0.005 * i,
                       "popularity_precision_at_10": 0.08, "popularity_map_at_10": 0.04,
                       "catalog_coverage": 0.5, "personalization": 0.9}
        rows += [{"week": week, "metric": m, "value": v} for m, v in values.items()]
    return pd.DataFrame(rows)


def champion_frame(weeks: list[str]) -> pd.DataFrame:
    """champion_history rebuilt whole from the partitions by the promotion rules."""
    decisions = replay_history([c for c in CANDIDATES if c[0] in weeks])
    rows = [d.to_row(DECIDED_AT[d.week]) for d in decisions]
    return pd.DataFrame([r for r in rows if r])


def publish_week(db: SourceDatabase, week: str, decided_weeks: list[str]) -> None:
    """What the weekly run writes, in the assets' order: the week's recommendations and popularity list
    (only when its gate passed), then metrics_history, then champion_history."""
    _, gate, _ = CANDIDATES[WEEKS.index(week)]
    if gate:
        db.replace_week_rows("recommendations", week, recommendation_frame(week))
        db.replace_week_rows("popular_programs", week, popular_frame(week))
    db.replace_all_rows("metrics_history", metrics_frame(decided_weeks))
    db.replace_all_rows("champion_history", champion_frame(decided_weeks))


def fill_source_db(path: Path, weeks: list[str]) -> SourceDatabase:
    return fill_serving_db(f"sqlite:///{path}", weeks)


def catalogue_programs() -> list[int]:
    """Every program of every week, but one left out of the catalogue (its name is null)."""
    programs = sorted({program_id(w, s, r) for w in WEEKS for s in SUBSCRIBERS for r in range(1, 11)}
                      | {popular_program_id(w, r) for w in WEEKS for r in range(1, 21)})
    return [p for p in programs if p != program_id(WEEKS[0], 1, 2)]


def catalogue_frame() -> pd.DataFrame:
    programs = catalogue_programs()
    return pd.DataFrame({"program_id": programs, "program_name": [f"Program {p}" for p in programs],
                         "ct_cl": "movie", "program_genre": "drama"})


def fill_serving_db(url: str, weeks: list[str]) -> SourceDatabase:
    db = SourceDatabase(url=url)
    schema.create_source_tables(db.engine)
    schema.create_serving_tables(db.engine)
    with db.engine.begin() as conn:
        conn.execute(sa.insert(schema.vodinfo), [
            {"program_id": p, "program_name": f"Program {p}", "ct_cl": "movie", "program_genre": "drama", "e_bool": 0}
            for p in catalogue_programs()
        ])
    for n, week in enumerate(weeks):
        publish_week(db, week, weeks[: n + 1])
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, proc: subprocess.Popen, log: Path):
        self.url, self.proc, self.log = url, proc, log

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)


@contextmanager
def serve(source_url: str, log_dir: Path, refresh_seconds: float = REFRESH_SECONDS, env: dict | None = None):
    """`vodrec serve` as a subprocess on a free loopback port (`env` added to the environment: Redis, the
    store); yields once it answers /health."""
    port = free_port()
    vodrec = Path(sys.executable).with_name("vodrec")
    log = log_dir / f"serve-{port}.log"
    env = {**os.environ, "VODREC_SERVE_REFRESH_SECONDS": str(refresh_seconds), **(env or {})}
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(vodrec), "serve", "--host", "127.0.0.1", "--port", str(port),
                                 "--source", source_url], stdout=fh, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"vodrec serve exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"vodrec serve did not answer within 60 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield Server(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server over weeks W1..W4 (champion W1), shared by the read-only tests of a module."""
    root = tmp_path_factory.mktemp("serving")
    fill_source_db(root / "source.db", WEEKS[:4])
    with serve(f"sqlite:///{root / 'source.db'}", root) as server:
        yield server


REDIS_URL = "redis://127.0.0.1:6379/0"


def local_redis() -> redis.Redis:
    """The machine's Redis (`.ci/run` starts it); the test is skipped, saying so, without one."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    return client


@pytest.fixture
def redis_lists():
    """`RedisLists` on the local Redis under a prefix of its own, deleted afterwards."""
    lists = RedisLists(local_redis(), prefix=f"vodrectest{uuid.uuid4().hex[:10]}", retired_ttl_seconds=600)
    try:
        yield lists
    finally:
        lists.drop_prefix()
