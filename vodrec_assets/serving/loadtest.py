"""Load test of the serving API, run from a second process on loopback.

    # 1. a serving database: N subscribers x 10 recommendations per week, as the assets write them
    python -m vodrec_assets.serving.loadtest seed --source sqlite:////tmp/serve.db --subscribers 100000

    # 2a. against a server you started (`vodrec serve --port 8000 --source sqlite:////tmp/serve.db`)
    python -m vodrec_assets.serving.loadtest run --url http://127.0.0.1:8000 --source sqlite:////tmp/serve.db

    # 2b. or let the load test start and stop `vodrec serve` itself on a free loopback port
    python -m vodrec_assets.serving.loadtest run --serve --source sqlite:////tmp/serve.db

Bounded on both axes: at most `--requests` requests and at most `--max-seconds` seconds. Each of the
`--concurrency` workers holds one keep-alive HTTP/1.1 connection (stdlib http.client, no extra
dependency). Prints requests/s and latency percentiles; `--json` prints them as JSON.

`--generator wrk` drives the same requests with wrk (Debian's package `wrk`, a C load generator) for
`--max-seconds`: it costs a tenth of the Python generator's CPU per request, which on a 2-core machine
leaves the cores to the server being measured. It counts statuses, not bodies; the Python generator (the
default) also checks every body's `source` and `model_week`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import sqlalchemy as sa

from vodrec_assets.database import engine_for
from vodrec_assets import schema
from vodrec_assets.recsys.promotion import replay_history
from vodrec_assets.resources import SourceDatabase
from vodrec_assets.serving.redis_store import RedisLists, client_from_url

# --------------------------------------------------------------------------- seeding


def seed_serving_db(url: str, subscribers: int, k: int = 10, weeks: int = 2, programs: int = 2000,
                    start: str = "2023-08-07", seed: int = 0, redis_url: str | None = None,
                    redis_prefix: str = "vodrec") -> dict:
    """Fill the serving tables (and vodinfo) the way the pipeline's assets do: `weeks` weeks of
    `subscribers` x `k` model recommendations written by `SourceDatabase.replace_week_rows` (the
    recommendations asset's writer), each week's popularity list, metrics_history in long format (noisy
    values around a model somewhat better than popularity) and the champion_history replayed by the
    promotion rules. With `redis_url`, every week is also published to Redis (`RedisLists.publish_week`,
    the asset's Redis writer) and the champion switched there. Replaces what the tables held; returns the
    seconds each week's database and Redis publish took."""
    rng = np.random.default_rng(seed)
    engine = engine_for(url, "tool")
    schema.metadata.create_all(engine, tables=[schema.vodinfo])
    schema.create_serving_tables(engine)
    db = SourceDatabase(url=url)
    lists = RedisLists(client_from_url(redis_url, timeout=120.0), redis_prefix) if redis_url else None
    first = datetime.strptime(start, "%Y-%m-%d")
    week_keys = [(first + timedelta(weeks=i)).strftime("%Y-%m-%d") for i in range(weeks)]
    program_ids = np.arange(1, programs + 1, dtype=np.int64) * 10
    subsr_ids = np.arange(1, subscribers + 1, dtype=np.int64) * 7 + 100_000
    t0 = time.perf_counter()
    genres = ["drama", "kids", "documentary", "comedy", "action"]
    catalogue = pd.DataFrame({"program_id": program_ids, "program_name": [f"Program {int(p)}" for p in program_ids],
                              "ct_cl": np.where(program_ids % 3 == 0, "series", "movie"),
                              "program_genre": [genres[int(p) % len(genres)] for p in program_ids],
                              "age_limit": 0, "e_bool": 0})
    with engine.begin() as conn:
        for table in (schema.recommendations, schema.popular_programs, schema.metrics_history,
                      schema.champion_history, schema.vodinfo):
            conn.execute(sa.delete(table))
        conn.execute(sa.insert(schema.vodinfo), catalogue.to_dict("records"))
    popularity = rng.permutation(np.round(5000 / np.arange(1, programs + 1) ** 0.8))
    database_seconds, redis_seconds = {}, {}
    for week in week_keys:
        top = np.argsort(-popularity)[:k]
        popular = pd.DataFrame({"week": week, "rank": np.arange(1, len(top) + 1, dtype=np.int32),
                                "program_id": program_ids[top], "score": popularity[top].astype(np.float64)})
        # k distinct programs per subscriber: an arithmetic progression modulo the catalogue, step < programs / k.
        offsets = rng.integers(0, programs, subscribers)[:, None]
        steps = rng.integers(1, max(programs // k, 2), subscribers)[:, None]
        picks = (offsets + steps * np.arange(k)) % programs
        scores = np.sort(rng.random((subscribers, k)).astype(np.float32), axis=1)[:, ::-1]  # float32, as LightFM's
        frame = pd.DataFrame({
            "week": week, "subsr_id": np.repeat(subsr_ids, k), "rank": np.tile(np.arange(1, k + 1, dtype=np.int32), subscribers),
            "program_id": program_ids[picks].ravel(), "score": scores.ravel().astype(np.float64), "source": "model",
        })
        t = time.perf_counter()
        db.replace_week_rows("recommendations", week, frame)
        db.replace_week_rows("popular_programs", week, popular)
        database_seconds[week] = round(time.perf_counter() - t, 2)
        if lists is not None:
            t = time.perf_counter()
            lists.publish_week(week, frame, popular, catalogue)
            redis_seconds[week] = round(time.perf_counter() - t, 2)
        del frame
    metrics, candidates = [], []
    for i, week in enumerate(week_keys):
        pop_p, pop_map = 0.040 + rng.normal(0, 0.002), 0.020 + rng.normal(0, 0.001)
        model_p = pop_p * (1.3 + 0.02 * i) + rng.normal(0, 0.006)
        model_map = pop_map * (1.3 + 0.02 * i) + rng.normal(0, 0.004)
        gate = bool(model_map > pop_map)
        values = {"holdout_precision_at_10": model_p, "holdout_map_at_10": model_map,
                  "holdout_popularity_precision_at_10": pop_p, "holdout_popularity_map_at_10": pop_map,
                  "legacy_diversity": 0.3 + rng.normal(0, 0.01), "quality_gate_passed": float(gate)}
        if i:  # the next-week protocol needs last week's model
            values |= {"precision_at_10": model_p * 0.6, "map_at_10": model_map * 0.5,
                       "popularity_precision_at_10": pop_p * 0.7, "popularity_map_at_10": pop_map * 0.6,
                       "catalog_coverage": 0.35 + rng.normal(0, 0.02), "personalization": 0.9 + rng.normal(0, 0.01)}
        metrics += [{"week": week, "metric": m, "value": float(v)} for m, v in values.items()]
        candidates.append((week, gate, float(model_map)))
    decided_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = [r for r in (d.to_row(decided_at) for d in replay_history(candidates)) if r]
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.metrics_history), metrics)
        conn.execute(sa.insert(schema.champion_history), rows)
    if lists is not None and rows:
        lists.activate(max(rows, key=lambda r: r["week"])["champion_week"])
    engine.dispose()
    return {"subscribers": subscribers, "k": k, "weeks": week_keys, "rows": subscribers * k * weeks,
            "programs": programs, "seconds": round(time.perf_counter() - t0, 1),
            "database_publish_seconds": database_seconds, "redis_publish_seconds": redis_seconds}


# --------------------------------------------------------------------------- load


def served_subscribers(source: str, limit: int = 1_000_000) -> tuple[str, list[int]]:
    """The subscribers with a list in the champion week (what the server serves), up to `limit`."""
    engine = engine_for(source, "tool")
    hist, rec = schema.champion_history, schema.recommendations
    with engine.connect() as conn:
        week = conn.execute(sa.select(hist.c.champion_week).order_by(hist.c.week.desc()).limit(1)).scalar_one()
        ids = [int(r[0]) for r in conn.execute(
            sa.select(rec.c.subsr_id).where(rec.c.week == sa.bindparam("w"), rec.c.rank == 1).limit(sa.bindparam("n")),
            {"w": week, "n": limit})]
    engine.dispose()
    return week, ids


def run_load(url: str, ids: list[int], requests: int, concurrency: int, max_seconds: float, k: int = 10,
             unknown_share: float = 0.0, seed: int = 0) -> dict:
    """`requests` GETs of /recommendations/{id}?k=k over `concurrency` keep-alive connections."""
    if not ids:
        raise ValueError("no subscriber ids to request")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    rng = random.Random(seed)
    unknown_base = max(ids) + 1
    plan = [unknown_base + rng.randrange(1_000_000) if rng.random() < unknown_share else rng.choice(ids)
            for _ in range(requests)]
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    statuses: list[dict] = [{} for _ in range(concurrency)]
    sources: list[dict] = [{} for _ in range(concurrency)]
    weeks: list[dict] = [{} for _ in range(concurrency)]
    errors: list[list[str]] = [[] for _ in range(concurrency)]
    next_index = iter(range(requests))
    lock = threading.Lock()
    start_barrier = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def worker(n: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        start_barrier.wait()
        while time.perf_counter() < deadline[0]:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            path = f"/recommendations/{plan[i]}?k={k}"
            t = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                latencies[n].append(time.perf_counter() - t)
                statuses[n][resp.status] = statuses[n].get(resp.status, 0) + 1
                if resp.status == 200:
                    doc = json.loads(body)
                    sources[n][doc["source"]] = sources[n].get(doc["source"], 0) + 1
                    weeks[n][doc["model_week"]] = weeks[n].get(doc["model_week"], 0) + 1
            except (OSError, http.client.HTTPException, ValueError) as exc:
                errors[n].append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.close()

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    deadline[0] = t0 + max_seconds
    start_barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0

    lat = np.array([x for per in latencies for x in per]) * 1000
    merged = lambda parts: {str(key): sum(p.get(key, 0) for p in parts) for key in sorted({k for p in parts for k in p})}  # noqa: E731
    done = int(lat.size)
    ok = merged(statuses).get("200", 0)
    return {
        "url": url, "requests_planned": requests, "requests_done": done, "ok": ok,
        "errors": sum(len(e) for e in errors), "error_samples": [e for per in errors for e in per][:5],
        "status_counts": merged(statuses), "sources": merged(sources), "model_weeks": merged(weeks),
        "concurrency": concurrency, "seconds": round(elapsed, 2),
        "requests_per_second": round(done / elapsed, 1) if elapsed else None,
        "latency_ms": {q: round(float(np.percentile(lat, p)), 2) for q, p in
                       (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100))} if done else {},
        "stopped_by_time_limit": done < requests,
    }


# wrk runs one Lua state per thread: each walks the same planned paths from its own offset.
_WRK_SCRIPT = r"""
local paths = {}
local position = 0
local thread_count = 0
setup = function(thread)
  thread:set("offset", thread_count)
  thread_count = thread_count + 1
end
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
  position = (tonumber(offset) or 0) * 7919
end
request = function()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'VODREC_WRK {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def run_wrk(url: str, ids: list[int], concurrency: int, seconds: float, k: int = 10,
            unknown_share: float = 0.0, seed: int = 0) -> dict:
    """The same request mix as `run_load`, sent by wrk (one thread, `concurrency` keep-alive connections)
    for `seconds`; wrk reports non-2xx answers as status errors."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("--generator wrk needs wrk on PATH (Debian: apt-get install wrk)")
    rng = random.Random(seed)
    unknown_base = max(ids) + 1
    plan = [unknown_base + rng.randrange(1_000_000) if rng.random() < unknown_share else rng.choice(ids)
            for _ in range(200_000)]
    with tempfile.TemporaryDirectory(prefix="vodrec-wrk-") as tmp:
        paths, script = Path(tmp, "paths.txt"), Path(tmp, "requests.lua")
        paths.write_text("".join(f"/recommendations/{i}?k={k}\n" for i in plan))
        script.write_text(_WRK_SCRIPT)
        out = subprocess.run([wrk, "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
                              "-s", str(script), url, "--", str(paths)], capture_output=True, text=True, check=True)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("VODREC_WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-1000:]} {out.stderr[-1000:]}")
    w = json.loads(line.split(" ", 1)[1])
    elapsed = w["duration_us"] / 1e6
    errors = w["connect"] + w["read"] + w["write"] + w["timeout"]
    return {
        "url": url, "generator": "wrk", "requests_planned": None, "requests_done": w["requests"],
        "ok": w["requests"] - w["status"], "errors": errors + w["status"], "error_samples": [],
        "status_counts": {"non-2xx": w["status"]}, "sources": {}, "model_weeks": {},
        "concurrency": concurrency, "seconds": round(elapsed, 2),
        "requests_per_second": round(w["requests"] / elapsed, 1) if elapsed else None,
        "latency_ms": {q: round(w[q] / 1000, 2) for q in ("p50", "p90", "p99", "max")},
        "stopped_by_time_limit": True,
    }


# --------------------------------------------------------------------------- a server to test


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _vodrec_command() -> list[str]:
    exe = Path(sys.executable).with_name("vodrec")
    return [str(exe)] if exe.exists() else [shutil.which("vodrec") or "vodrec"]


def start_server(source: str, timeout: float = 600.0, env: dict[str, str] | None = None,
                 ready: str | None = None) -> tuple[subprocess.Popen, str]:
    """`vodrec serve` on a free loopback port (`env` added: the store, Redis); returns once /health answers
    200 (and, with `ready`, names that store: a snapshot may take a while to load)."""
    port = _free_port()
    log = tempfile.TemporaryFile()  # a pipe nobody reads could fill and stall the server
    proc = subprocess.Popen([*_vodrec_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--source", source], stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"vodrec serve exited with {proc.returncode}: {log.read().decode()[-2000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            resp = conn.getresponse()
            if resp.status == 200 and (ready is None or json.loads(resp.read()).get("store") == ready):
                conn.close()
                return proc, url
            conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"vodrec serve did not become healthy within {timeout} s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --------------------------------------------------------------------------- CLI


def _print_report(report: dict) -> None:
    lat = report["latency_ms"]
    print(f"{report['requests_done']} requests ({report['ok']} ok, {report['errors']} errors) in {report['seconds']} s "
          f"with {report['concurrency']} workers: {report['requests_per_second']} req/s")
    if lat:
        print(f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    if report.get("cpu_ms_per_request"):
        print(f"CPU ms per request: {report['cpu_ms_per_request']}")
    print(f"status {report['status_counts']}  sources {report['sources']}  model weeks {report['model_weeks']}")


def server_env(store: str | None, redis_url: str | None, redis_prefix: str | None) -> dict[str, str]:
    env = {"VODREC_SERVE_STORE": store} if store else {}
    if redis_url:
        env["VODREC_REDIS_URL"] = redis_url
    if redis_prefix:
        env["VODREC_REDIS_PREFIX"] = redis_prefix
    return env


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(source: str, ids: list[int], args: argparse.Namespace, store: str | None) -> dict:
    """Start `vodrec serve` with `store`, warm it up, run the load, stop it. Besides req/s and latency,
    the CPU milliseconds per request of the server, of the processes given by --watch-pid (the database
    or Redis server) and of this load generator: on a shared machine they compare better than req/s."""
    env = server_env(store, args.redis_url, args.redis_prefix)
    proc, url = start_server(source, env=env, ready=store if store in ("redis", "snapshot", "database") else None)
    try:
        report = timed_load(url, ids, args, proc.pid)
    finally:
        stop_server(proc)
    report["store"] = store or "auto"
    return report


def timed_load(url: str, ids: list[int], args: argparse.Namespace, server_pid: int | None) -> dict:
    """Warm-up, then the measured load, with the CPU per request of the server and the watched processes."""
    if args.warmup:
        run_load(url, ids, args.warmup, args.concurrency, 30.0, args.k, args.unknown_share, seed=1)
    watched = {f"pid {p}": p for p in args.watch_pid or []}
    if server_pid is not None:
        watched = {"server": server_pid, **watched}
    before = {name: process_cpu_seconds(pid) for name, pid in watched.items()}
    own = time.process_time()
    children = os.times()
    if args.generator == "wrk":
        report = run_wrk(url, ids, args.concurrency, args.max_seconds, args.k, args.unknown_share)
    else:
        report = run_load(url, ids, args.requests, args.concurrency, args.max_seconds, args.k, args.unknown_share)
    spent = {name: process_cpu_seconds(pid) - before[name] for name, pid in watched.items()}
    after = os.times()
    spent["load_generator"] = (time.process_time() - own + after.children_user - children.children_user
                               + after.children_system - children.children_system)
    done = max(report["requests_done"], 1)
    report["cpu_ms_per_request"] = {name: round(1000 * s / done, 3) for name, s in spent.items()}
    return report


def _load_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", help="SQLAlchemy URL: the subscriber ids to request are read from it")
    p.add_argument("--id-range", nargs=2, type=int, metavar=("FIRST", "LAST"),
                   help="request ids in FIRST..LAST instead of reading them from --source")
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--unknown-share", type=float, default=0.05, help="share of ids with no list (popularity)")
    p.add_argument("--warmup", type=int, default=200, help="requests sent (and not counted) before measuring")
    p.add_argument("--redis-url", help="VODREC_REDIS_URL for the server it starts")
    p.add_argument("--redis-prefix", help="VODREC_REDIS_PREFIX for the server it starts")
    p.add_argument("--watch-pid", type=int, action="append",
                   help="also report this process's CPU per request (the MariaDB or Redis server); repeatable")
    p.add_argument("--generator", choices=["python", "wrk"], default="python",
                   help="python: threads of http.client, every body checked; wrk: the C load generator for "
                        "--max-seconds (--requests ignored), statuses only")
    p.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vodrec_assets.serving.loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("seed", help="fill a serving database with N subscribers x k recommendations")
    p.add_argument("--source", required=True, help="SQLAlchemy URL")
    p.add_argument("--subscribers", type=int, default=500)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--weeks", type=int, default=2)
    p.add_argument("--programs", type=int, default=2000)
    p.add_argument("--redis-url", help="also publish every week to this Redis and switch its champion")
    p.add_argument("--redis-prefix", default="vodrec")
    p = sub.add_parser("run", help="request /recommendations from a running (or started) server")
    p.add_argument("--url", help="base URL of a running server, e.g. http://127.0.0.1:8000")
    p.add_argument("--serve", action="store_true", help="start `vodrec serve --source SOURCE` on a free port")
    p.add_argument("--store", choices=["auto", "redis", "snapshot", "database"],
                   help="VODREC_SERVE_STORE for the server it starts")
    _load_arguments(p)
    p = sub.add_parser("compare", help="start a server per store in turn, the same load against each")
    p.add_argument("--stores", default="database,redis", help="comma-separated: database, snapshot, redis")
    _load_arguments(p)
    args = parser.parse_args(argv)

    if args.command == "seed":
        print(json.dumps(seed_serving_db(args.source, args.subscribers, args.k, args.weeks, args.programs,
                                         redis_url=args.redis_url, redis_prefix=args.redis_prefix)))
        return 0

    if args.requests < 1 or args.concurrency < 1 or args.max_seconds <= 0:
        parser.error("--requests, --concurrency and --max-seconds must be positive")
    if args.id_range:
        ids = list(range(args.id_range[0], args.id_range[1] + 1))
    elif args.source:
        _, ids = served_subscribers(args.source)
    else:
        parser.error("give --source (ids read from the database) or --id-range")

    if args.command == "compare":
        if not args.source:
            parser.error("compare needs --source")
        reports = [measure(args.source, ids, args, store) for store in args.stores.split(",")]
        for report in reports:
            report["subscribers_sampled"] = len(ids)
        if args.json:
            print(json.dumps(reports, indent=2))
        else:
            base = reports[0]["requests_per_second"] or 0
            print("| store | requests | ok | req/s | x first | p50 ms | p90 ms | p99 ms | max ms | CPU ms/request |")
            print("|---|---|---|---|---|---|---|---|---|---|")
            for r in reports:
                lat = r["latency_ms"]
                cpu = ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_request"].items())
                print(f"| {r['store']} | {r['requests_done']} | {r['ok']} | {r['requests_per_second']} | "
                      f"{r['requests_per_second'] / base if base else float('nan'):.2f} | {lat.get('p50')} | "
                      f"{lat.get('p90')} | {lat.get('p99')} | {lat.get('max')} | {cpu} |")
        return 0 if all(r["errors"] == 0 and r["ok"] == r["requests_done"] for r in reports) else 1

    if args.serve:
        if not args.source:
            parser.error("--serve needs --source")
        report = measure(args.source, ids, args, args.store)
    elif args.url:
        report = timed_load(args.url, ids, args, None)
    else:
        parser.error("give --url or --serve")
    report["subscribers_sampled"] = len(ids)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0 if report["errors"] == 0 and report["ok"] == report["requests_done"] else 1


if __name__ == "__main__":
    sys.exit(main())
