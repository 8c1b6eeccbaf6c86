"""The hot request answered below FastAPI: `GET /recommendations/<id>[?k=<k>]` from Redis or the snapshot.

FastAPI's routing, parameter validation and response handling cost about twice what a Redis read does
(docs/serving.md), and at prime time every request is this one. This ASGI middleware answers a
well-formed request whose list comes from memory (Redis or the snapshot) itself; anything else - another
path, a malformed id or k (FastAPI then answers its 422), extra query parameters, an answer that needs the
database - goes on to the FastAPI app unchanged. Same bodies, same headers as the endpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vodrec_assets.serving.answers import Answer

PREFIX = "/recommendations/"
MAX_SUBSR_ID = 2**63 - 1
DEFAULT_K, MAX_K = 10, 100


def parse(path: str, query: bytes) -> tuple[int, int] | None:
    """(subsr_id, k) of a request the fast path may answer; None to leave it to FastAPI."""
    text = path[len(PREFIX):]
    if not text or len(text) > 19 or not text.isdigit() or not text.isascii():
        return None
    subsr_id = int(text)
    if subsr_id > MAX_SUBSR_ID:
        return None
    if not query:
        return subsr_id, DEFAULT_K
    if not query.startswith(b"k=") or not query[2:].isdigit() or len(query) > 5:
        return None
    k = int(query[2:])
    return (subsr_id, k) if 1 <= k <= MAX_K else None


class FastRecommendations:
    def __init__(self, app: Any, answer: Callable[[int, int], Answer | None]):
        self.app = app
        self.answer = answer

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith(PREFIX):
            request = parse(scope["path"], scope["query_string"])
            answer = self.answer(*request) if request is not None else None
            if answer is not None:
                await send({"type": "http.response.start", "status": 200, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(answer.body)).encode()),
                    (b"x-model-week", answer.week.encode()), (b"x-store", answer.store.encode())]})
                await send({"type": "http.response.body", "body": answer.body})
                return
        await self.app(scope, receive, send)
