"""`vodrec bench-backfill`: how long a backfill takes through the Dagster daemon, as an operator starts it.

In a project folder of its own (the repository's dagster.yaml and pyproject.toml, the package linked in):
`vodrec demo` on tiny synthetic data of `--weeks` weeks (timed), then `dg dev` on a free loopback port,
then one backfill launched through the webserver's GraphQL API exactly as the UI does it:
- `--kind assets`: "Materialize all…" on the lineage page (every asset, the chosen weeks);
- `--kind job`: the weekly_retrain job's partitions page (the job's assets, the chosen weeks).
Prints the runs and seconds as JSON. Nothing is asserted: the figures go to docs/ui.md and
docs/performance.md with the command.
"""

from __future__ import annotations

import argparse
import json
import os
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


def run(weeks: int, first: int, count: int, kind: str, workdir: Path) -> dict:
    root = repository_root()
    for name in ("dagster.yaml", "pyproject.toml"):
        shutil.copy(root / name, workdir / name)
    (workdir / "vodrec_assets").symlink_to(root / "vodrec_assets")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VODREC_", "DAGSTER_"))}
    env["VODREC_HOME"] = str(workdir / ".vodrec")
    bin_dir = Path(sys.executable).parent
    started = time.perf_counter()
    subprocess.run([str(bin_dir / "vodrec"), "demo", "--weeks", str(weeks)], cwd=workdir, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    result: dict = {"weeks_of_data": weeks, "demo_seconds": round(time.perf_counter() - started, 1), "kind": kind}
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
        data: dict = {"partitionNames": chosen, "fromFailure": False}
        if kind == "assets":
            nodes = _graphql(url, "{ assetNodes { assetKey { path } } }")["assetNodes"]
            data["assetSelection"] = [n["assetKey"] for n in nodes]
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
        result |= {
            "weeks_backfilled": chosen, "status": backfill["status"], "runs": len(runs),
            "failed_runs": sum(r["status"] != "SUCCESS" for r in runs),
            "backfill_seconds": round((backfill["endTimestamp"] or time.time()) - launched_at, 1),
            "busy_run_seconds": round(sum((r["endTime"] or 0) - (r["startTime"] or 0) for r in runs), 1),
        }
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
            dev.wait(timeout=30)
    return result


def cli_bench_backfill(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="vodrec-bench-backfill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    result = run(args.weeks, args.first, args.count, args.kind, workdir)
    print(json.dumps(result, indent=1))
    return 0 if result["status"] == "COMPLETED_SUCCESS" else 1
