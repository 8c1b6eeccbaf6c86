"""`vodrec bench-backfill`: how long a backfill takes through the Dagster daemon, as an operator starts it,
against `vodrec demo` doing the same weeks in one process.

In a project folder of its own (the repository's dagster.yaml and pyproject.toml, the package linked in):
synthetic data of `--weeks` weeks at `--scale` (generated once, untimed, kept when the folder is reused),
then `vodrec demo --no-backtest` over it (timed: the sum of its per-week times, and the whole process),
then `dg dev` on a free loopback port and, for each `--kind` in turn, one backfill launched through the
webserver's GraphQL API exactly as the UI does it:
- `assets`: "Materialize all…" on the lineage page (every asset, the chosen weeks);
- `job`: the weekly_retrain job's partitions page (the job's assets, the chosen weeks);
- `range`: the weekly_retrain_range job's Launchpad (one run over the chosen weeks).
`--code DIR` benchmarks the package of another checkout (e.g. `git worktree add /tmp/base main`) with
this benchmark. Prints the runs, seconds and ratios to the demo as JSON. Nothing is asserted: the figures
go to docs/performance.md with the command.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from vodrec_assets.instance_config import repository_root

LAUNCH = """mutation($data: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $data) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status startTime endTime } } }"""
RANGE_RUNS = """query($tag: String!) { runsOrError(filter: {tags: [{key: "vodrec/range_run", value: $tag}]}) {
  ... on Runs { results { status } } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
  status timestamp endTimestamp runs(limit: 2000) { runId status startTime endTime } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    reply = requests.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60).json()
    if "errors" in reply:
        raise RuntimeError(reply["errors"])
    return reply["data"]


def _demo(bin_dir: Path, workdir: Path, env: dict, scale: str, weeks: int) -> dict:
    """Generate once (untimed), then time `vodrec demo --no-backtest` over the weeks."""
    if not (workdir / ".vodrec" / "source.db").is_file():
        subprocess.run([str(bin_dir / "vodrec"), "generate", "--scale", scale, "--weeks", str(weeks)], cwd=workdir,
                       env=env, check=True, stdout=subprocess.DEVNULL)
    started = time.perf_counter()
    out = subprocess.run([str(bin_dir / "vodrec"), "demo", "--no-backtest"], cwd=workdir, env=env, check=True,
                         capture_output=True, text=True).stdout
    process_seconds = time.perf_counter() - started
    week_seconds = [float(s) for s in re.findall(r"^  week \S+: .* in ([0-9.]+)s$", out, flags=re.M)]
    return {"demo_weeks": len(week_seconds), "demo_weeks_seconds": round(sum(week_seconds), 1),
            "demo_process_seconds": round(process_seconds, 1)}


def _range_run(url: str, chosen: list[str]) -> dict:
    """The weekly_retrain_range job over the weeks, launched from its Launchpad: one run, queued like any."""
    params = {"selector": {"repositoryLocationName": "vodrec_assets", "repositoryName": "__repository__",
                           "jobName": "weekly_retrain_range"},
              "runConfigData": {"ops": {"retrain_weeks": {"config": {"first_week": chosen[0], "last_week": chosen[-1]}}}}}
    launched_at = time.time()
    launched = _graphql(url, LAUNCH_RUN, {"params": params})["launchRun"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(launched)
    run_id = launched["run"]["runId"]
    while (run := _graphql(url, RUN, {"id": run_id})["runOrError"])["status"] not in ("SUCCESS", "FAILURE", "CANCELED"):
        time.sleep(2)
    weeks = _graphql(url, RANGE_RUNS, {"tag": run_id})["runsOrError"]["results"]
    return {"status": "COMPLETED_SUCCESS" if run["status"] == "SUCCESS" else run["status"], "runs": 1,
            "week_runs": len(weeks), "failed_week_runs": sum(w["status"] != "SUCCESS" for w in weeks),
            "backfill_seconds": round((run["endTime"] or time.time()) - launched_at, 1)}


def _backfill(url: str, kind: str, chosen: list[str]) -> dict:
    if kind == "range":
        return _range_run(url, chosen)
    data: dict = {"partitionNames": chosen, "fromFailure": False}
    if kind == "assets":
        # What the button selects: every asset in view that can be materialized (not the external
        # model_zoo_backtest, which the daemon would refuse: no job can run it).
        nodes = _graphql(url, "{ assetNodes { assetKey { path } isMaterializable } }")["assetNodes"]
        data["assetSelection"] = [n["assetKey"] for n in nodes if n["isMaterializable"]]
    else:
        data["selector"] = {"partitionSetName": "weekly_retrain_partition_set", "repositorySelector": {
            "repositoryLocationName": "vodrec_assets", "repositoryName": "__repository__"}}
    launched_at = time.time()
    launched = _graphql(url, LAUNCH, {"data": data})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(launched)
    while True:
        backfill = _graphql(url, BACKFILL, {"id": launched["backfillId"]})["partitionBackfillOrError"]
        if backfill["status"] not in ("REQUESTED", "CANCELING"):
            break
        time.sleep(2)
    runs = backfill["runs"]
    return {
        "status": backfill["status"], "runs": len(runs),
        "failed_runs": sum(r["status"] != "SUCCESS" for r in runs),
        "backfill_seconds": round((backfill["endTimestamp"] or time.time()) - launched_at, 1),
        "busy_run_seconds": round(sum((r["endTime"] or 0) - (r["startTime"] or 0) for r in runs), 1),
    }


def run(weeks: int, first: int, count: int, kinds: list[str], workdir: Path, scale: str = "tiny",
        code: Path | None = None) -> dict:
    root = repository_root()
    package = (code or root) / "vodrec_assets"
    for name in ("dagster.yaml", "pyproject.toml"):
        shutil.copy(package.parent / name, workdir / name)
    link = workdir / "vodrec_assets"
    if link.is_symlink() and link.resolve() != package.resolve():  # a reused workdir, another --code
        link.unlink()
    if not link.exists():
        link.symlink_to(package)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VODREC_", "DAGSTER_"))}
    env["VODREC_HOME"] = str(workdir / ".vodrec")
    env["PYTHONPATH"] = str(package.parent)  # the package under test, before the installed one
    bin_dir = Path(sys.executable).parent
    result: dict = {"scale": scale, "weeks_of_data": weeks, "code": str(package.parent),
                    **_demo(bin_dir, workdir, env, scale, weeks)}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(workdir / "dg-dev.log", "wb") as log:
        dev = subprocess.Popen([str(bin_dir / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)], cwd=workdir,
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if _graphql(url, "{ assetNodes { id } }")["assetNodes"]:
                    break
            except (requests.RequestException, RuntimeError):
                pass
            if time.monotonic() > deadline or dev.poll() is not None:
                raise RuntimeError("dg dev did not serve the code location; see " + str(workdir / "dg-dev.log"))
            time.sleep(1)
        keys = _graphql(url, '{ assetNodeOrError(assetKey: {path: ["weekly_metrics"]}) { ... on AssetNode '
                             '{ partitionKeys } } }')["assetNodeOrError"]["partitionKeys"]
        chosen = keys[first:][:count]
        result["weeks_backfilled"] = [chosen[0], chosen[-1], len(chosen)]
        for kind in kinds:
            result[kind] = _backfill(url, kind, chosen)
            if result["demo_weeks"] == len(chosen):
                result[kind]["ratio_to_demo_weeks"] = round(
                    result[kind]["backfill_seconds"] / result["demo_weeks_seconds"], 2)
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(timeout=30)
    return result


def cli_bench_backfill(args: argparse.Namespace) -> int:
    # Stopped with SIGTERM, still stop `dg dev` and its daemon (the `finally` above).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="vodrec-bench-backfill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    kinds = args.kind.split(",")
    result = run(args.weeks, args.first, args.count, kinds, workdir, scale=args.scale,
                 code=Path(args.code).resolve() if args.code else None)
    print(json.dumps(result, indent=1))
    return 0 if all(result[k]["status"] == "COMPLETED_SUCCESS" for k in kinds) else 1
