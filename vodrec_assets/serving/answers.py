"""Where a `/recommendations` answer comes from, in order, and its JSON.

1. Redis, when configured (`VODREC_REDIS_URL`): one atomic script resolves the champion pointer and reads
   the subscriber's packed list, so the answer is wholly from one published version;
2. else the in-process snapshot of the champion week (`WeekLists`, numpy arrays), once loaded;
3. else (or while the snapshot loads) the database, the source of truth: one indexed query per request;
4. when the database fails too, the champion week's popularity list held in memory, saying so
   (`store: "memory"`, `fallback_reason`), and 503 only when nothing was ever loaded.

Each answer names its store. The catalogue fields come from snapshots (the published version's program
table in Redis, vodinfo read with the champion snapshot), never from a query per request.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import redis
import sqlalchemy as sa

from vodrec_assets.serving import redis_layout, store
from vodrec_assets.serving.redis_store import OneThreadReader, RedisLists, Version, VersionMissing, client_from_url

log = logging.getLogger("vodrec.serving")

REDIS_COOLDOWN_SECONDS = 1.0  # after a Redis error, requests go to the fallback this long before retrying
# The read runs on the event loop (a blocking read on its own connection costs ~10 us of CPU against ~65 for
# redis.asyncio's, docs/serving.md), so a hung Redis may hold the loop this long, once per cool-down.
REDIS_READ_TIMEOUT_SECONDS = 0.25
REDIS_ERRORS = (redis.RedisError, OSError, VersionMissing)


@dataclass(frozen=True)
class Answer:
    body: bytes
    week: str
    store: str


class Unavailable(Exception):
    """Nothing can be served: the message says why (503)."""


def _score(value: float) -> str:
    return repr(float(value)) if math.isfinite(value) else "null"


def render(subsr_id: int, week: str, source: str, store_name: str, k: int, items: list[tuple[int, float]],
           fragment: Callable[[int], str], item_source: str | None = None, fallback_reason: str | None = None,
           ) -> bytes:
    """The response of RecommendationsResponse's shape, assembled from pre-encoded catalogue fragments
    (a response model build and validation per request would cost more than the lookup)."""
    tag = json.dumps(item_source or source)
    parts = [f'{{"rank": {r}, {fragment(p)}, "score": {_score(s)}, "source": {tag}}}'
             for r, (p, s) in enumerate(items, 1)]
    reason = "null" if fallback_reason is None else json.dumps(fallback_reason)
    return (f'{{"subsr_id": {subsr_id}, "model_week": {json.dumps(week)}, "source": {json.dumps(source)}, '
            f'"store": {json.dumps(store_name)}, "fallback_reason": {reason}, "k": {k}, "count": {len(items)}, '
            f'"items": [{", ".join(parts)}]}}').encode()


class RedisAnswers:
    """The Redis store as the API reads it: one blocking round trip a request with a short timeout (on the
    event loop's thread only: `answer` is never called from another), versions' program tables cached, a
    cool-down after an error."""

    def __init__(self, url: str, prefix: str, timeout: float = REDIS_READ_TIMEOUT_SECONDS):
        self.lists = RedisLists(client_from_url(url, timeout), prefix)
        self.reader = OneThreadReader(self.lists)
        self.status = "not checked yet"
        self._versions: OrderedDict[str, Version] = OrderedDict()
        self._lock = threading.Lock()
        self._down_until = 0.0

    def _version(self, name: str) -> Version:
        found = self._versions.get(name)
        if found is not None:
            return found
        with self._lock:
            if name not in self._versions:
                self._versions[name] = self.lists.load_version(name)
                while len(self._versions) > 4:
                    self._versions.popitem(last=False)
            return self._versions[name]

    def _failed(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + REDIS_COOLDOWN_SECONDS
        if not self.status.startswith("unreachable"):
            log.warning("Redis failed, answering from the fallback: %s", exc)
        self.status = f"unreachable: {type(exc).__name__}: {str(exc)[:200]}"

    def answer(self, subsr_id: int, k: int) -> Answer | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            found = self.reader.read(subsr_id)
            if found is None:
                self.status = "no champion published in Redis"
                return None
            version = self._version(found[0])
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return None
        self.status = "ok"
        if found[1] is None:  # no list for this subscriber: the version's popularity list
            body = render(subsr_id, version.week, "popularity", "redis", k, list(version.popular[:k]),
                          version.popular_fragment)
            return Answer(body, version.week, "redis")
        indexes, scores = redis_layout.unpack_list(found[1], version.code)
        n = min(k, len(indexes))
        # The packed list names programs by index: the fragment lookup takes the index as the "id".
        body = render(subsr_id, version.week, version.source, "redis", k, list(zip(indexes[:n], scores[:n])),
                      version.fragments.__getitem__)
        return Answer(body, version.week, "redis")

    def check_sync(self) -> tuple[str, str | None]:
        """(status, served week) from a live read of the champion pointer."""
        if time.monotonic() < self._down_until:
            return self.status, None
        try:
            name = self.lists.champion()
            if name is None:
                self.status = "no champion published in Redis"
                return self.status, None
            week = self._version(name).week
        except REDIS_ERRORS as exc:
            self._failed(exc)
            return self.status, None
        self.status = "ok"
        return "ok", week


def from_snapshot(served: store.ServedModel, lists: store.WeekLists | None, subsr_id: int, k: int) -> Answer | None:
    """Step 2: the champion week's copy in this process, when it is loaded."""
    week = served.champion_week
    if lists is None or lists.week != week:
        return None
    items = lists.lookup(subsr_id, k)
    if items:
        return Answer(render(subsr_id, week, lists.source, "snapshot", k, items, served.fragment), week, "snapshot")
    popular = [(p.program_id, p.score) for p in served.popular[:k]]
    return Answer(render(subsr_id, week, "popularity", "snapshot", k, popular, served.fragment), week, "snapshot")


def from_database_or_memory(engine: sa.Engine, served: store.ServedModel, subsr_id: int, k: int,
                            on_database_error: Callable[[Exception], None]) -> Answer:
    """Steps 3 and 4: the database, else the popularity list in memory."""
    week = served.champion_week
    popular = [(p.program_id, p.score) for p in served.popular[:k]]
    try:
        source, items = store.recommend(engine, week, subsr_id, k)
    except sa.exc.SQLAlchemyError as exc:
        on_database_error(exc)
        if not popular:
            raise Unavailable(f"the database is unreachable and week {week} has no popularity list in memory") from exc
        reason = f"database unreachable ({type(exc).__name__}): the popularity list held in memory"
        return Answer(render(subsr_id, week, "popularity", "memory", k, popular, served.fragment,
                             fallback_reason=reason), week, "memory")
    if items:
        return Answer(render(subsr_id, week, source, "database", k, items, served.fragment), week, "database")
    return Answer(render(subsr_id, week, "popularity", "database", k, popular, served.fragment), week, "database")
