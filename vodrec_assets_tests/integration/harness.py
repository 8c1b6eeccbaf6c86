"""Real-process integration harness: the production deployment's pieces, run on loopback.

- `MotoS3Server`: a moto S3 server in its own process on a free 127.0.0.1 port.
- `MariaDB` / `ThrowawayDatabase`: a throwaway database and a throwaway user with a random password
  (with characters that need quoting), dropped afterwards.
- `DagsterService`: a DAGSTER_HOME holding the repository's production `dagster.yaml`, then the three
  processes of the compose stack: `dagster code-server start` (gRPC), `dagster-webserver` and
  `dagster-daemon run`, both reading a workspace file that points at the code server over gRPC.
  Each runs in its own process group and is stopped at exit (also on failure); logs are kept for messages.
- `GraphQLClient`: the few webserver GraphQL calls the tests need (launch a partition backfill, wait for
  it, the runs it launched).

No Docker here: this is what docker-compose.yml runs, minus the containers.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PRODUCTION_DAGSTER_YAML = REPO / "deploy" / "dagster.yaml"

TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
TERMINAL_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}

# Dummy credentials for moto: never real ones.
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# Outer variables that would leak a developer's settings into the processes under test.
_SCRUBBED_PREFIXES = ("VODREC_", "DAGSTER_", "AWS_")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without VODREC_*/DAGSTER_*/AWS_* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class GiveUp(RuntimeError):
    """Raised by a polled predicate when waiting longer cannot help (a process died, code failed to load)."""


def wait_until(predicate, timeout: float, interval: float = 0.5, what: str = "condition", details=None):
    """Poll `predicate` until it returns a truthy value; raise TimeoutError (with `details()`) after `timeout`.

    Other exceptions from `predicate` count as "not yet", except GiveUp, which ends the wait at once."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except GiveUp:
            raise
        except Exception as exc:  # noqa: BLE001 - polled again until the deadline
            last_exc = exc
        time.sleep(interval)
    message = f"timed out after {timeout:.0f}s waiting for {what}"
    if last_exc is not None:
        message += f" (last error: {last_exc!r})"
    if details is not None:
        message += "\n" + details()
    raise TimeoutError(message)


# --------------------------------------------------------------------------- processes


@dataclass
class ManagedProcess:
    """A subprocess in its own process group, its output in a log file."""

    name: str
    args: list[str]
    env: dict[str, str]
    log_path: Path
    cwd: Path = REPO
    proc: subprocess.Popen | None = None
    _log: Any = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.args, env=self.env, cwd=str(self.cwd), stdout=self._log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to the whole process group (children too: run workers), SIGKILL after `grace`."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left in the group (the leader or its children) is killed.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log_path})"
        return "\n".join(text[-lines:])


def _http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


# --------------------------------------------------------------------------- moto S3


class MotoS3Server:
    """`moto_server` on a free loopback port, in its own process; `create_bucket` through boto3."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        self.process = ManagedProcess(
            "moto", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            clean_env(DUMMY_AWS_ENV), workdir / "moto.log", cwd=workdir,
        )

    def __enter__(self) -> MotoS3Server:
        self.process.start()
        try:
            wait_until(lambda: self.process.alive() and _http_ok(f"{self.endpoint_url}/moto-api/"), 60,
                       what="moto_server", details=self.process.tail)
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.process.stop(grace=5)

    def client(self):
        import boto3

        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def create_bucket(self, prefix: str = "vodrec-test") -> str:
        name = f"{prefix}-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        keys: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(keys)

    def env(self, bucket: str, prefix: str = "vodrec") -> dict[str, str]:
        """The variables that point vodrec's production resources at this server."""
        return {**DUMMY_AWS_ENV, "VODREC_S3_BUCKET": bucket, "VODREC_S3_PREFIX": prefix,
                "VODREC_S3_ENDPOINT_URL": self.endpoint_url}


# --------------------------------------------------------------------------- MariaDB / MySQL


@dataclass
class ThrowawayDatabase:
    name: str
    user: str
    password: str
    host: str
    port: int

    def sqlalchemy_url(self, driver: str = "mysql+pymysql") -> str:
        import sqlalchemy as sa

        return sa.engine.URL.create(driver, username=self.user, password=self.password, host=self.host,
                                    port=self.port, database=self.name).render_as_string(hide_password=False)

    def dagster_env(self) -> dict[str, str]:
        """The variables the production dagster.yaml reads."""
        return {"DAGSTER_MYSQL_HOST": self.host, "DAGSTER_MYSQL_PORT": str(self.port),
                "DAGSTER_MYSQL_USER": self.user, "DAGSTER_MYSQL_PASSWORD": self.password,
                "DAGSTER_MYSQL_DB": self.name}

    def connect(self):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               database=self.name, autocommit=True)

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> list[tuple]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return list(cur.fetchall())
        finally:
            conn.close()


def random_password() -> str:
    # Characters that must be quoted in a URL and escaped in SQL, so both paths are exercised.
    return secrets.token_urlsafe(15) + "@:/%'!"


class MariaDB:
    """An admin connection to the local MariaDB/MySQL (root, from VODREC_TEST_MYSQL_* or the defaults)."""

    def __init__(self):
        self.host = os.environ.get("VODREC_TEST_MYSQL_HOST", "127.0.0.1")
        self.port = int(os.environ.get("VODREC_TEST_MYSQL_PORT", "3306"))
        self.admin_user = os.environ.get("VODREC_TEST_MYSQL_USER", "root")
        self.admin_password = os.environ.get("VODREC_TEST_MYSQL_PASSWORD", "")
        self._created: list[ThrowawayDatabase] = []

    def _admin(self):
        import pymysql

        return pymysql.connect(host=self.host, port=self.port, user=self.admin_user,
                               password=self.admin_password, autocommit=True, connect_timeout=5)

    def ping(self) -> str:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                return cur.fetchone()[0]
        finally:
            conn.close()

    def create(self, prefix: str = "vodrec_t") -> ThrowawayDatabase:
        """A new database and a user that may use only it, with a random password."""
        suffix = secrets.token_hex(4)
        # Identifiers cannot be bound; these are ours (prefix checked, hex suffix), never user input.
        if not prefix.replace("_", "").isalnum():
            raise ValueError(f"bad prefix {prefix!r}")
        db = ThrowawayDatabase(name=f"{prefix}_{suffix}", user=f"{prefix[:16]}_{suffix}",
                               password=random_password(), host=self.host, port=self.port)
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{db.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (db.user, db.password))
                cur.execute(f"GRANT ALL PRIVILEGES ON `{db.name}`.* TO %s@'%%'", (db.user,))
        finally:
            conn.close()
        self._created.append(db)
        return db

    def drop(self, db: ThrowawayDatabase) -> None:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{db.name}`")
                cur.execute("DROP USER IF EXISTS %s@'%%'", (db.user,))
        finally:
            conn.close()
        if db in self._created:
            self._created.remove(db)

    def drop_all(self) -> None:
        for db in list(self._created):
            self.drop(db)

    def database_exists(self, name: str) -> bool:
        conn = self._admin()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
                return cur.fetchone()[0] == 1
        finally:
            conn.close()


# --------------------------------------------------------------------------- GraphQL


class GraphQLError(RuntimeError):
    pass


LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId launchedRunIds }
    ... on PythonError { message stack }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on UnauthorizedError { message }
    ... on InvalidSubsetError { message }
  }
}
"""

BACKFILL_STATUS = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { id status numPartitions partitionNames error { message stack } }
    ... on BackfillNotFoundError { message }
    ... on PythonError { message stack }
  }
}
"""

RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId jobName status startTime endTime tags { key value } } }
    ... on PythonError { message }
  }
}
"""

RUN_FAILURES = """
query RunLogs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on MessageEvent { message level stepKey }
        ... on ExecutionStepFailureEvent { error { message } }
        ... on RunFailureEvent { error { message } }
      }
    }
  }
}
"""

WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""

JOB_ASSETS = """
query JobAssets($selector: PipelineSelector!) {
  assetNodes(pipeline: $selector) { assetKey { path } }
}
"""

DAEMONS = """
query Daemons {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy lastHeartbeatTime } } }
}
"""


@dataclass
class RunInfo:
    run_id: str
    status: str
    partition: str | None
    job_name: str
    start_time: float | None
    end_time: float | None
    tags: dict[str, str] = field(default_factory=dict)


class GraphQLClient:
    """A small client for the webserver's /graphql endpoint (plain requests, no dagster import)."""

    def __init__(self, base_url: str, location_name: str, repository_name: str = "__repository__"):
        self.base_url = base_url.rstrip("/")
        self.location_name = location_name
        self.repository_name = repository_name
        self.session = requests.Session()

    def query(self, text: str, variables: Mapping[str, Any] | None = None, timeout: float = 60) -> dict:
        response = self.session.post(f"{self.base_url}/graphql", json={"query": text, "variables": variables or {}},
                                     timeout=timeout)
        response.raise_for_status()
        payload = response.json()
        if payload.get("errors"):
            raise GraphQLError(str(payload["errors"])[:2000])
        return payload["data"]

    # -- workspace

    def location_status(self) -> tuple[str | None, str | None]:
        """(loadStatus, error message or None) of this client's code location."""
        data = self.query(WORKSPACE)["workspaceOrError"]
        if data["__typename"] != "Workspace":
            return None, data.get("message")
        for entry in data["locationEntries"]:
            if entry["name"] == self.location_name:
                loc = entry["locationOrLoadError"] or {}
                error = loc.get("message") if loc.get("__typename") == "PythonError" else None
                return entry["loadStatus"], error
        return None, None

    def daemon_statuses(self) -> dict[str, dict]:
        statuses = self.query(DAEMONS)["instance"]["daemonHealth"]["allDaemonStatuses"]
        return {s["daemonType"]: s for s in statuses}

    def job_asset_keys(self, job_name: str) -> list[str]:
        """The asset keys a job materializes, as the code location reports them ("a/b" for multi-part)."""
        selector = {"pipelineName": job_name, "repositoryName": self.repository_name,
                    "repositoryLocationName": self.location_name}
        nodes = self.query(JOB_ASSETS, {"selector": selector})["assetNodes"]
        return sorted("/".join(n["assetKey"]["path"]) for n in nodes)

    # -- backfills

    def launch_partition_backfill(
        self, partition_names: Sequence[str], asset_keys: Sequence[str | Sequence[str]] | None = None,
        job_name: str | None = None, tags: Mapping[str, str] | None = None, title: str | None = None,
        exact: bool = True,
    ) -> str:
        """Launch a backfill of `partition_names` (mutation launchPartitionBackfill); returns its id.

        - asset_keys: an asset backfill, which the daemon runs in dependency order. With `exact` (the
          default) every asset gets exactly these partitions (`partitionsByAssets`). With exact=False the
          partitions apply to the root assets and Dagster extends the target downstream through the
          partition mappings (`partitionNames` + `assetSelection`): with vodrec's lookback window that
          adds the later weeks whose window includes these.
        - job_name: a backfill of a partitioned job (one run per partition, submitted at once).
        """
        if (asset_keys is None) == (job_name is None):
            raise ValueError("give exactly one of asset_keys or job_name")
        params: dict[str, Any] = {}
        if asset_keys is not None:
            paths = [k.split("/") if isinstance(k, str) else list(k) for k in asset_keys]
            if exact:
                ranges = [{"start": p, "end": p} for p in partition_names]
                params["partitionsByAssets"] = [{"assetKey": {"path": path}, "partitions": {"ranges": ranges}}
                                                for path in paths]
            else:
                params["partitionNames"] = list(partition_names)
                params["assetSelection"] = [{"path": path} for path in paths]
        else:
            params["partitionNames"] = list(partition_names)
            params["selector"] = {
                "partitionSetName": f"{job_name}_partition_set",
                "repositorySelector": {"repositoryLocationName": self.location_name,
                                       "repositoryName": self.repository_name},
            }
        if tags:
            params["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        if title:
            params["title"] = title
        result = self.query(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}\n{result.get('stack') or ''}")
        return result["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        result = self.query(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
        return result

    def runs_for_backfill(self, backfill_id: str) -> list[RunInfo]:
        return self.runs(tags={"dagster/backfill": backfill_id})

    def runs(self, tags: Mapping[str, str] | None = None) -> list[RunInfo]:
        flt = {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
        result = self.query(RUNS, {"filter": flt})["runsOrError"]
        if result["__typename"] != "Runs":
            raise GraphQLError(f"{result['__typename']}: {result.get('message')}")
        runs = []
        for r in result["results"]:
            t = {tag["key"]: tag["value"] for tag in r["tags"]}
            runs.append(RunInfo(run_id=r["runId"], status=r["status"], partition=t.get("dagster/partition"),
                                job_name=r["jobName"], start_time=r["startTime"], end_time=r["endTime"], tags=t))
        return runs

    def wait_for_backfill(self, backfill_id: str, timeout: float, interval: float = 2.0,
                          details=None) -> tuple[str, list[RunInfo]]:
        """Wait until the backfill is in a final state AND every run it launched is finished.

        Returns (backfill status, runs). A job backfill is COMPLETED once its runs are submitted, so the
        runs are waited for too."""
        def done():
            status = self.backfill(backfill_id)["status"]
            if status not in TERMINAL_BACKFILL_STATUSES:
                return None
            runs = self.runs_for_backfill(backfill_id)
            if any(r.status not in TERMINAL_RUN_STATUSES for r in runs):
                return None
            return status, runs

        def describe() -> str:
            parts = []
            with contextlib.suppress(Exception):
                parts.append(f"backfill: {self.backfill(backfill_id)}")
            with contextlib.suppress(Exception):
                parts.append("runs: " + ", ".join(f"{r.partition}:{r.status}" for r in self.runs_for_backfill(backfill_id)))
            if details is not None:
                parts.append(details())
            return "\n".join(parts)

        return wait_until(done, timeout, interval=interval, what=f"backfill {backfill_id}", details=describe)

    def run_failure_messages(self, run_id: str, limit: int = 10) -> list[str]:
        result = self.query(RUN_FAILURES, {"runId": run_id})["logsForRun"]
        if result["__typename"] != "EventConnection":
            return [result["__typename"]]
        messages = []
        for e in result["events"]:
            if e["__typename"] in ("ExecutionStepFailureEvent", "RunFailureEvent"):
                err = (e.get("error") or {}).get("message") or e.get("message")
                messages.append(f"{e.get('stepKey') or 'run'}: {(err or '').strip()[:500]}")
        return messages[:limit]


# --------------------------------------------------------------------------- Dagster processes


def grpc_workspace_yaml(host: str, port: int, location_name: str) -> str:
    """A workspace file that loads the code location from a code server over gRPC (as in compose)."""
    return yaml.safe_dump({"load_from": [{"grpc_server": {"host": host, "port": port,
                                                          "location_name": location_name}}]})


class DagsterService:
    """DAGSTER_HOME with the production dagster.yaml, and the code server, webserver and daemon.

    with DagsterService(tmp_path, env, module="vodrec_assets.definitions") as service:
        service.graphql.launch_partition_backfill(...)
    """

    def __init__(self, workdir: Path, env: Mapping[str, str], module: str = "vodrec_assets.definitions",
                 location_name: str = "vodrec_assets", dagster_yaml: Path = PRODUCTION_DAGSTER_YAML,
                 startup_timeout: float = 180.0, working_directory: Path = REPO):
        self.workdir = Path(workdir)
        self.dagster_home = self.workdir / "dagster_home"
        self.logs = self.workdir / "logs"
        self.module = module
        self.location_name = location_name
        self.dagster_yaml = Path(dagster_yaml)
        self.startup_timeout = startup_timeout
        self.working_directory = Path(working_directory)
        self.grpc_port = free_port()
        self.web_port = free_port()
        while self.web_port == self.grpc_port:
            self.web_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self.workspace_file = self.workdir / "workspace.yaml"
        self.env = clean_env({**env, "DAGSTER_HOME": str(self.dagster_home)})
        self.processes: list[ManagedProcess] = []
        self.graphql = GraphQLClient(self.base_url, location_name)
        self.startup_seconds: dict[str, float] = {}

    # -- lifecycle

    def __enter__(self) -> DagsterService:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _process(self, name: str, args: list[str]) -> ManagedProcess:
        proc = ManagedProcess(name, args, self.env, self.logs / f"{name}.log", cwd=self.working_directory).start()
        self.processes.append(proc)
        return proc

    def _check_alive(self) -> None:
        for p in self.processes:
            if not p.alive():
                raise GiveUp(f"{p.name} exited with {p.proc.returncode}\n{self.tail_logs()}")

    def start(self) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.dagster_yaml, self.dagster_home / "dagster.yaml")
        self.workspace_file.write_text(grpc_workspace_yaml("127.0.0.1", self.grpc_port, self.location_name))
        t0 = time.perf_counter()

        self._process("code-server", [
            str(BIN / "dagster"), "code-server", "start", "-m", self.module, "-h", "127.0.0.1",
            "-p", str(self.grpc_port), "--location-name", self.location_name,
            "-d", str(self.working_directory),
        ])
        wait_until(lambda: self._check_alive() or self._grpc_serving(), self.startup_timeout,
                   interval=1.0, what="the code server", details=self.tail_logs)
        self.startup_seconds["code-server"] = time.perf_counter() - t0

        t1 = time.perf_counter()
        self._process("webserver", [
            str(BIN / "dagster-webserver"), "-w", str(self.workspace_file), "-h", "127.0.0.1",
            "-p", str(self.web_port),
        ])
        self._process("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(self.workspace_file)])
        wait_until(lambda: self._check_alive() or _http_ok(f"{self.base_url}/server_info"), self.startup_timeout,
                   interval=1.0, what="webserver /server_info", details=self.tail_logs)
        wait_until(self._location_loaded, self.startup_timeout, interval=1.0,
                   what=f"code location {self.location_name} loaded", details=self.tail_logs)
        self.startup_seconds["webserver"] = time.perf_counter() - t1
        # The daemons write their first heartbeat when they start: the queue and backfills are served.
        wait_until(self._daemons_beating, self.startup_timeout, interval=1.0,
                   what="daemon heartbeats", details=self.tail_logs)
        self.startup_seconds["all"] = time.perf_counter() - t0

    def _grpc_serving(self) -> bool:
        from dagster._grpc.client import DagsterGrpcClient

        # A plain TCP connect first: the gRPC client prints every refused connection.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            if s.connect_ex(("127.0.0.1", self.grpc_port)) != 0:
                return False
        try:
            return DagsterGrpcClient(port=self.grpc_port, host="127.0.0.1").health_check_query() == "SERVING"
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def _location_loaded(self) -> bool:
        self._check_alive()
        status, error = self.graphql.location_status()
        if error:
            raise GiveUp(f"code location failed to load: {error}\n{self.tail_logs()}")
        return status == "LOADED"

    def _daemons_beating(self) -> bool:
        self._check_alive()
        statuses = self.graphql.daemon_statuses()
        needed = ("BACKFILL", "QUEUED_RUN_COORDINATOR")
        return all(statuses.get(d, {}).get("lastHeartbeatTime") for d in needed)

    def stop(self) -> None:
        # Daemon first (no new launches), then the webserver, then the code server and its run workers.
        for p in reversed(self.processes):
            p.stop()

    # -- diagnostics

    def tail_logs(self, lines: int = 40) -> str:
        return "\n".join(f"----- {p.name} ({p.log_path}) -----\n{p.tail(lines)}" for p in self.processes)

    def failure_report(self, runs: Sequence[RunInfo]) -> str:
        parts = []
        for r in runs:
            if r.status != "SUCCESS":
                with contextlib.suppress(Exception):
                    parts.append(f"run {r.run_id} ({r.partition}) {r.status}: "
                                 + " | ".join(self.graphql.run_failure_messages(r.run_id)))
        parts.append(self.tail_logs())
        return "\n".join(parts)


def week_keys(start: str, n: int) -> list[str]:
    """`n` consecutive weekly partition keys from the Monday `start`."""
    from datetime import datetime, timedelta

    first = datetime.strptime(start, "%Y-%m-%d")
    return [(first + timedelta(days=7 * i)).strftime("%Y-%m-%d") for i in range(n)]


@contextlib.contextmanager
def timed(store: dict[str, float], name: str) -> Iterator[None]:
    """Measure (never assert) a wall time into `store[name]`."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        store[name] = time.perf_counter() - t0
