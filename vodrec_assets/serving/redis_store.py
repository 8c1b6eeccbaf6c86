"""The week's lists in Redis: publish a version, switch the champion pointer, read a subscriber's list.

The layout is `redis_layout`'s. Every step that must be all-or-nothing for a reader is one Lua script,
which Redis runs atomically (no other command runs in between, and keys do not expire mid-script):

- `publish_week` writes a fresh version's keys (with a TTL, so an interrupted publish leaves nothing for
  long), then `activate`s it: the week's pointer moves to it, and if that week is being served the champion
  pointer moves with it, so a re-published champion week is replaced exactly and at once;
- `activate(week, champion=True)` checks that every key of the week's version still exists, removes their
  TTL and points `{p}:champion` at it; the version served before gets the retired TTL (expires later);
- `read` resolves the champion pointer and reads the subscriber's bucket in one script: the answer is
  wholly from the version the pointer named at that instant, never a mix of two weeks.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import redis

from vodrec_assets.serving import redis_layout as layout

DEFAULT_PREFIX = "vodrec"
DEFAULT_RETIRED_TTL_SECONDS = 3600  # a version neither served nor just published lives this long
COMMANDS_PER_ROUND_TRIP = 500

_KEYS_OF = """
local function keys_of(prefix, version)
  local base = prefix .. ':v:' .. version
  local bits = redis.call('HGET', base .. ':meta', 'bits')
  if not bits then return nil, nil end
  local ks = {base .. ':meta', base .. ':programs', base .. ':popular'}
  for b = 0, 2 ^ tonumber(bits) - 1 do ks[#ks + 1] = base .. ':b:' .. string.format('%d', b) end
  return ks, bits
end
local function version_week(version) return string.sub(version, 1, string.find(version, '.', 1, true) - 1) end
"""

# ARGV: prefix, week, version ('' = the week's current one), mode ('yes' | 'if-serving'), retired ttl.
_ACTIVATE = _KEYS_OF + """
local prefix, week, version, mode, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local week_key = prefix .. ':week:' .. week
local previous = redis.call('GET', week_key)
if version == '' then version = previous end
if not version then return {'missing', 'week ' .. week .. ' has no version in Redis'} end
local ks, bits = keys_of(prefix, version)
if not ks then return {'missing', 'version ' .. version .. ' has no meta (expired or never written)'} end
for _, k in ipairs(ks) do
  if redis.call('EXISTS', k) == 0 then return {'missing', 'key ' .. k .. ' expired'} end
end
local pointer = redis.call('GET', prefix .. ':champion')
local served = nil
if pointer then served = string.sub(pointer, 1, string.find(pointer, '|', 1, true) - 1) end
local make = mode == 'yes' or (mode == 'if-serving' and served ~= nil and served == previous)
local function retire(v)
  if not v or v == version or (not make and v == served) then return end
  local old = keys_of(prefix, v)
  if old then for _, k in ipairs(old) do redis.call('EXPIRE', k, ttl) end end
end
redis.call('SET', week_key, version)
if make then
  for _, k in ipairs(ks) do redis.call('PERSIST', k) end
  redis.call('SET', prefix .. ':champion', version .. '|' .. bits)
  if served and served ~= version then
    retire(served)
    if version_week(served) ~= week then redis.call('EXPIRE', prefix .. ':week:' .. version_week(served), ttl) end
  end
else
  redis.call('EXPIRE', week_key, ttl)
end
retire(previous)
if make then return {'champion', version} end
return {'installed', version}
"""

# KEYS[1]: the champion pointer. ARGV: the id's hash (top 32 bits), the id as text, prefix.
READ_SCRIPT = """
local pointer = redis.call('GET', KEYS[1])
if not pointer then return false end
local sep = string.find(pointer, '|', 1, true)
local bits = tonumber(string.sub(pointer, sep + 1))
local bucket = 0
if bits > 0 then bucket = math.floor(tonumber(ARGV[1]) / 2 ^ (32 - bits)) end
local key = ARGV[3] .. ':v:' .. string.sub(pointer, 1, sep - 1) .. ':b:' .. string.format('%d', bucket)
return {pointer, redis.call('HGET', key, ARGV[2])}
"""


class OneThreadReader:
    """`RedisLists.read` over one connection of its own, for the API's event loop (one thread): the pool's
    lock and its per-call socket check cost twice the read itself (10 against 33 us of CPU, docs/serving.md).
    After an error the connection is dropped and the next read opens a fresh one."""

    def __init__(self, lists: RedisLists):
        self.lists = lists
        self._conn: Any = None
        self._sha: str | None = None

    def _call(self, conn: Any, subsr_id: int) -> Any:
        conn.send_command("EVALSHA", self._sha, 1, self.lists.champion_key, layout.id_hash_high(subsr_id),
                          str(subsr_id), self.lists.prefix)
        return conn.read_response()

    def read(self, subsr_id: int) -> tuple[str, bytes | None] | None:
        conn = self._conn
        try:
            if conn is None:
                conn = self.lists.client.connection_pool.make_connection()
                conn.connect()
                self._conn = conn
            if self._sha is None:
                self._sha = self.lists.client.script_load(READ_SCRIPT)
            try:
                answer = self._call(conn, subsr_id)
            except redis.exceptions.NoScriptError:  # a restarted server forgot the script
                self._sha = self.lists.client.script_load(READ_SCRIPT)
                answer = self._call(conn, subsr_id)
        except BaseException:
            if conn is not None:
                conn.disconnect()
            self._conn = None
            raise
        if not answer:
            return None
        return _text(answer[0]).split("|", 1)[0], (answer[1] if len(answer) > 1 else None)


class VersionMissing(RuntimeError):
    """The week has no complete version in Redis (never published there, or its keys expired)."""


@dataclass(frozen=True)
class Version:
    """What the API caches of one published version: the week, how lists are packed, the catalogue fields
    of each program index as a JSON fragment, and the popularity list."""

    version: str
    week: str
    code: str
    source: str
    programs: tuple[int, ...]
    fragments: tuple[str, ...]  # '"program_id": 1, "program_name": ..., "ct_cl": ..., "program_genre": ...'
    popular: tuple[tuple[int, float], ...]
    popular_fragments: dict[int, str]  # the popularity list's programs by id

    def popular_fragment(self, program_id: int) -> str:
        return self.popular_fragments[program_id]


def client_from_url(url: str, timeout: float = 1.0) -> redis.Redis:
    """redis-py over a URL (redis://host:port/db); short timeouts so a vanished server is noticed fast."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                health_check_interval=0, retry_on_timeout=False)


class RedisLists:
    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX,
                 retired_ttl_seconds: int = DEFAULT_RETIRED_TTL_SECONDS):
        if ":" in prefix or not prefix:
            raise ValueError(f"the key prefix must be non-empty text without ':', got {prefix!r}")
        self.client = client
        self.prefix = prefix
        self.retired_ttl_seconds = int(retired_ttl_seconds)
        self._activate = client.register_script(_ACTIVATE)
        self._read = client.register_script(READ_SCRIPT)
        self.champion_key = f"{prefix}:champion"

    # ------------------------------------------------------------------ publishing

    def publish_week(self, week: str, frame: pd.DataFrame, popular: pd.DataFrame, catalogue: pd.DataFrame,
                     make_champion: bool = False) -> dict[str, Any]:
        """Write `frame` (week, subsr_id, rank, program_id, score, source rows) and `popular` (rank,
        program_id, score) as a fresh version of `week`, then activate it: it replaces the week's previous
        version, and becomes (or stays) the champion when `make_champion` or when the week is served now.
        `catalogue` has program_id, program_name, ct_cl, program_genre. Returns figures for metadata."""
        if "." in week or "|" in week:
            raise ValueError(f"week {week!r} may not contain '.' or '|'")
        t0 = time.perf_counter()
        version = f"{week}.{uuid.uuid4().hex[:12]}"
        lists = _ranked_lists(frame)
        popular = popular.sort_values("rank")
        program_ids = np.unique(np.concatenate([lists.program_ids, popular["program_id"].to_numpy(np.int64)]))
        code = layout.index_code(len(program_ids))
        bits = layout.bucket_bits(len(lists.subsr_ids))
        base = f"{self.prefix}:v:{version}"
        ttl = self.retired_ttl_seconds
        meta = {"week": week, "bits": bits, "index": code, "source": lists.source,
                "subscribers": len(lists.subsr_ids), "rows": len(lists.program_ids),
                "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}

        pipe = self.client.pipeline(transaction=False)
        pipe.hset(f"{base}:meta", mapping=meta)
        pipe.set(f"{base}:programs", json.dumps(_catalogue_rows(program_ids, catalogue)))
        pipe.set(f"{base}:popular", json.dumps([[int(p), float(s)] for p, s in zip(
            popular["program_id"].to_numpy(np.int64).tolist(), popular["score"].to_numpy(np.float64).tolist())]))
        for key in ("meta", "programs", "popular"):
            pipe.expire(f"{base}:{key}", ttl)
        pipe.execute()

        program_index = np.searchsorted(program_ids, lists.program_ids)
        values = layout.pack_lists(lists.starts, lists.lengths, program_index, lists.scores, code)
        buckets = layout.buckets_of(lists.subsr_ids, bits)
        order = np.argsort(buckets, kind="stable")
        bounds = np.searchsorted(buckets[order], np.arange((1 << bits) + 1))
        ids = lists.subsr_ids.tolist()
        order_list = order.tolist()
        pipe = self.client.pipeline(transaction=False)
        for bucket in range(1 << bits):
            members = order_list[bounds[bucket]:bounds[bucket + 1]]
            args: list[Any] = [layout.EMPTY_BUCKET_FIELD, b""] if not members else []
            for i in members:
                args.append(ids[i])
                args.append(values[i])
            key = f"{base}:b:{bucket}"
            pipe.execute_command("HSET", key, *args)
            pipe.expire(key, ttl)
            if len(pipe) >= COMMANDS_PER_ROUND_TRIP:
                pipe.execute()
        pipe.execute()
        written = time.perf_counter() - t0
        outcome = self.activate(week, version=version, make_champion=make_champion, if_serving=True)
        return {"version": version, "subscribers": len(ids), "rows": int(len(lists.program_ids)),
                "buckets": 1 << bits, "write_seconds": round(written, 3),
                "seconds": round(time.perf_counter() - t0, 3), "champion": outcome == "champion"}

    def activate(self, week: str, version: str = "", make_champion: bool = True, if_serving: bool = False) -> str:
        """Point the week at `version` (default: its current one) and, with `make_champion` (or
        `if_serving` and the week is served now), the champion pointer too; all in one atomic script.
        Raises VersionMissing when a key of the version is gone."""
        mode = "yes" if make_champion else ("if-serving" if if_serving else "no")
        status, detail = (_text(x) for x in self._activate(
            args=[self.prefix, week, version, mode, self.retired_ttl_seconds]))
        if status == "missing":
            raise VersionMissing(detail)
        return status

    # ------------------------------------------------------------------ reading

    def champion(self) -> str | None:
        """The served version, or None."""
        pointer = self.client.get(self.champion_key)
        return _text(pointer).split("|", 1)[0] if pointer else None

    def week_version(self, week: str) -> str | None:
        value = self.client.get(f"{self.prefix}:week:{week}")
        return _text(value) if value else None

    def read(self, subsr_id: int) -> tuple[str, bytes | None] | None:
        """(served version, the subscriber's packed list or None) in one atomic round trip; None when no
        version is served."""
        answer = self._read(keys=[self.champion_key],
                            args=[layout.id_hash_high(subsr_id), str(subsr_id), self.prefix])
        if not answer:
            return None
        return _text(answer[0]).split("|", 1)[0], (answer[1] if len(answer) > 1 else None)

    def load_version(self, version: str) -> Version:
        base = f"{self.prefix}:v:{version}"
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(f"{base}:meta")
        pipe.get(f"{base}:programs")
        pipe.get(f"{base}:popular")
        meta, programs, popular = pipe.execute()
        if not meta or programs is None or popular is None:
            raise VersionMissing(f"version {version} is incomplete in Redis")
        meta = {_text(k): _text(v) for k, v in meta.items()}
        rows = json.loads(programs)
        fragments = tuple(json.dumps({"program_id": p, "program_name": n, "ct_cl": c, "program_genre": g})[1:-1]
                          for p, n, c, g in rows)
        ranked = tuple((int(p), float(s)) for p, s in json.loads(popular))
        by_id = dict(zip((r[0] for r in rows), fragments))
        return Version(version=version, week=meta["week"], code=meta["index"], source=meta["source"],
                       programs=tuple(r[0] for r in rows), fragments=fragments, popular=ranked,
                       popular_fragments={p: by_id[p] for p, _ in ranked})

    def drop_prefix(self) -> int:
        """Delete every key under the prefix (tests and `vodrec` tooling); returns how many."""
        n = 0
        for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1000):
            n += self.client.delete(key)
        return n


@dataclass
class _Lists:
    subsr_ids: np.ndarray
    starts: np.ndarray
    lengths: np.ndarray
    program_ids: np.ndarray
    scores: np.ndarray
    source: str


def _ranked_lists(frame: pd.DataFrame) -> _Lists:
    """The frame's lists in (subsr_id, rank) order, checked: ranks 1..n without gaps, one source."""
    subsr = frame["subsr_id"].to_numpy(np.int64)
    rank = frame["rank"].to_numpy(np.int64)
    order = np.lexsort((rank, subsr))
    if not np.array_equal(order, np.arange(len(order))):
        subsr, rank = subsr[order], rank[order]
    else:
        order = None
    program_ids = frame["program_id"].to_numpy(np.int64)
    scores = frame["score"].to_numpy(np.float64)
    if order is not None:
        program_ids, scores = program_ids[order], scores[order]
    starts = np.flatnonzero(np.r_[True, subsr[1:] != subsr[:-1]]) if len(subsr) else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, len(subsr)])
    expected = np.arange(len(subsr)) - np.repeat(starts, lengths) + 1
    bad = int(np.sum(rank != expected))
    if bad:
        raise ValueError(f"recommendations: {bad} rows whose rank is not 1..n within their subscriber's list")
    sources = set(frame["source"].unique().tolist()) if len(frame) else {"model"}
    if len(sources) != 1:
        raise ValueError(f"recommendations: one source per week expected in column source, got {sorted(sources)}")
    return _Lists(subsr[starts], starts, lengths, program_ids, scores, sources.pop())


def _catalogue_rows(program_ids: np.ndarray, catalogue: pd.DataFrame) -> list[list[Any]]:
    """[program_id, name, ct_cl, genre] per program (nulls for one missing from the catalogue). Ids are
    matched as exact integers (int or integer text), never through a float."""
    fields: dict[int, tuple] = {}
    for pid, name, ct_cl, genre in zip(catalogue["program_id"].tolist(), catalogue["program_name"].tolist(),
                                       catalogue["ct_cl"].tolist(), catalogue["program_genre"].tolist()):
        key = exact_int(pid)
        if key is not None and key not in fields:
            fields[key] = tuple(None if (v is None or v != v) else str(v) for v in (name, ct_cl, genre))
    return [[p, *fields.get(p, (None, None, None))] for p in program_ids.tolist()]


def exact_int(value: Any) -> int | None:
    """An int, or text of one, as a Python int; None for anything else (floats included)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (str, bytes)):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
