"""The instance configurations (production dagster.yaml, the local one written by instance_config), the
MySQL init script and the bucket one-shot, each exercised for real where it can be (MariaDB, moto)."""

from __future__ import annotations

import subprocess

import pymysql
import pytest
import yaml

from vodrec_assets import instance_config
from vodrec_assets_tests.integration.harness import BIN, REPO, clean_env

SHARED_KEYS = ("run_coordinator", "concurrency", "run_monitoring", "python_logs", "freshness", "telemetry", "nux")


def production_yaml() -> dict:
    return yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())


def local_yaml() -> dict:
    return yaml.safe_load((REPO / "dagster.yaml").read_text())


def test_production_yaml_holds_no_credential_and_reads_mysql_settings_from_the_environment():
    """deploy/dagster.yaml: dagster-mysql's own storage, every connection setting an `env:` source."""
    assert production_yaml()["storage"] == {"mysql": {"mysql_db": {
        "hostname": {"env": "DAGSTER_MYSQL_HOST"}, "port": {"env": "DAGSTER_MYSQL_PORT"},
        "username": {"env": "DAGSTER_MYSQL_USER"}, "password": {"env": "DAGSTER_MYSQL_PASSWORD"},
        "db_name": {"env": "DAGSTER_MYSQL_DB"}}}}
    assert "vodrec_assets" not in (REPO / "deploy" / "dagster.yaml").read_text()  # no custom class of ours


def test_the_root_dagster_yaml_is_the_local_sqlite_instance_under_dot_vodrec(tmp_path, monkeypatch):
    """Run from a folder holding the root dagster.yaml (as `dg dev` and `vodrec demo` are, from the
    repository root), the instance keeps everything under .vodrec/dagster_home there."""
    import dagster as dg

    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    monkeypatch.chdir(tmp_path)
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    try:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert not instance.telemetry_enabled
    finally:
        instance.dispose()
    assert (tmp_path / ".vodrec" / "dagster_home" / "history" / "runs.db").is_file()


def test_dg_check_defs_works_from_the_repository_root_with_no_setting(tmp_path):
    """`dg check defs` with no DAGSTER_HOME and no variable: Dagster reads ./dagster.yaml (the local
    instance) and says nothing about an unused one."""
    env = clean_env({"VODREC_HOME": str(tmp_path / "vodrec_home")})
    done = subprocess.run([str(BIN / "dg"), "check", "defs"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr
    assert "will not be used" not in done.stdout + done.stderr


def test_local_and_production_instances_share_the_scheduling_rules():
    prod, local = production_yaml(), local_yaml()
    for key in SHARED_KEYS:
        assert local[key] == prod[key], key
    assert prod["concurrency"]["runs"]["max_concurrent_runs"] == 2
    assert prod["concurrency"]["pools"]["default_limit"] == 1
    assert prod["telemetry"] == {"enabled": False}
    assert "storage" not in instance_config.local_instance_settings()  # elsewhere: SQLite in DAGSTER_HOME


def test_weekly_runs_are_serialized_by_the_tag_the_job_really_sets():
    from vodrec_assets.defs.jobs import weekly_retrain

    [limit] = production_yaml()["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limit["limit"] == 1
    assert weekly_retrain.tags.get(limit["key"]) == limit["value"], "the weekly_retrain job must tag its runs"


def test_local_instance_config_loads_as_a_sqlite_instance(tmp_path, monkeypatch):
    import dagster as dg

    path = instance_config.write_local_instance_config(tmp_path / "home")
    assert path == (tmp_path / "home" / "dagster.yaml").resolve()
    instance = dg.DagsterInstance.from_config(str(tmp_path / "home"))
    try:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 2
        assert [(t["key"], t["value"], t["limit"]) for t in config.run_queue_config.tag_concurrency_limits] == \
            [("vodrec/job", "weekly_retrain", 1)]
        assert config.pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled
        assert not instance.telemetry_enabled
        # Rewriting is allowed (and keeps the file loadable).
        instance_config.write_local_instance_config(tmp_path / "home")
        assert yaml.safe_load(path.read_text())["concurrency"]["pools"]["default_limit"] == 1
    finally:
        instance.dispose()


@pytest.mark.integration
def test_production_instance_runs_on_mariadb_with_the_env_password(tmp_path, throwaway_db, monkeypatch):
    """The production dagster.yaml, with its password from DAGSTER_MYSQL_PASSWORD (quoting characters
    included), creates its tables in MariaDB and keeps the pool limit."""
    import dagster as dg
    from dagster_mysql import MySQLEventLogStorage, MySQLRunStorage, MySQLScheduleStorage

    db = throwaway_db("vodrec_dag")
    for name, value in db.dagster_env().items():
        monkeypatch.setenv(name, value)
    home = tmp_path / "home"
    instance_config.write_production_instance_config(home)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        assert isinstance(instance.run_storage, MySQLRunStorage)
        assert isinstance(instance.event_log_storage, MySQLEventLogStorage)
        assert isinstance(instance.schedule_storage, MySQLScheduleStorage)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 2
        # The pool limit comes from pools.default_limit, as a run worker initializes an unconfigured pool;
        # then a second step cannot claim the slot until the first frees it.
        events = instance.event_log_storage
        events.initialize_concurrency_limit_to_default("lightfm_training")
        assert events.get_concurrency_info("lightfm_training").slot_count == 1
        assert events.claim_concurrency_slot("lightfm_training", "run-a", "trained_model").is_claimed
        assert not events.claim_concurrency_slot("lightfm_training", "run-b", "trained_model").is_claimed
        events.free_concurrency_slot_for_step("run-a", "trained_model")
        assert events.claim_concurrency_slot("lightfm_training", "run-b", "trained_model").is_claimed
    finally:
        instance.dispose()
    tables = {row[0] for row in db.query("SHOW TABLES")}
    assert {"runs", "event_logs", "jobs", "concurrency_slots"} <= tables


@pytest.mark.integration
def test_mysql_init_script_creates_the_storage_database_and_user(mariadb, tmp_path):
    """deploy/mysql/initdb/10-dagster-storage.sh against MariaDB, with a password full of quotes."""
    import secrets

    suffix = secrets.token_hex(4)
    name, user = f"vodrec_init_{suffix}", f"vodrec_i_{suffix}"
    password = "it's a \\ test' -- " + secrets.token_hex(4)
    env = clean_env({"DAGSTER_MYSQL_DB": name, "DAGSTER_MYSQL_USER": user, "DAGSTER_MYSQL_PASSWORD": password,
                     "INIT_MYSQL_HOST": mariadb.host, "INIT_MYSQL_PORT": str(mariadb.port),
                     "MYSQL_ROOT_PASSWORD": mariadb.admin_password})
    script = REPO / "deploy" / "mysql" / "initdb" / "10-dagster-storage.sh"
    try:
        for _ in range(2):  # idempotent: a second run changes nothing and does not fail
            result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        conn = pymysql.connect(host=mariadb.host, port=mariadb.port, user=user, password=password, database=name)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE t (x INT)")
            cur.execute("SHOW DATABASES")
            visible = {r[0] for r in cur.fetchall()}
        conn.close()
        assert name in visible and "mysql" not in visible  # only its own database
        bad = subprocess.run(["bash", str(script)], env={**env, "DAGSTER_MYSQL_DB": "x`; DROP DATABASE mysql; --"},
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "not a plain name" in bad.stderr

        # As the mysql image does it: sourced by an entrypoint running `set -eo pipefail` that provides
        # docker_process_sql. The script must not leak `set -u` into it, and a failure must stop it.
        entrypoint = (
            "set -eo pipefail\n"
            'docker_process_sql() { MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql --user=root --host="$INIT_MYSQL_HOST" '
            '--port="$INIT_MYSQL_PORT" --batch "$@"; }\n'
            f". '{script}'\n"
            '[[ $- != *u* ]] || { echo "nounset leaked" >&2; exit 3; }\n'
            "echo entrypoint-continues\n"
        )
        sourced = subprocess.run(["bash", "-c", entrypoint], env=env, capture_output=True, text=True, timeout=60)
        assert sourced.returncode == 0 and "entrypoint-continues" in sourced.stdout, sourced.stderr
        stopped = subprocess.run(["bash", "-c", entrypoint], env={**env, "DAGSTER_MYSQL_USER": "bad name"},
                                 capture_output=True, text=True, timeout=60)
        assert stopped.returncode != 0 and "entrypoint-continues" not in stopped.stdout
    finally:
        admin = pymysql.connect(host=mariadb.host, port=mariadb.port, user=mariadb.admin_user,
                                password=mariadb.admin_password, autocommit=True)
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute("DROP USER IF EXISTS %s@'%%'", (user,))
        admin.close()


@pytest.mark.integration
def test_create_bucket_one_shot_is_idempotent(moto_s3):
    import secrets

    bucket = f"vodrec-oneshot-{secrets.token_hex(4)}"
    env = clean_env({**moto_s3.env(bucket)})
    outputs = []
    for _ in range(2):
        result = subprocess.run([str(BIN / "python"), str(REPO / "deploy" / "create_bucket.py")], env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout.strip())
    assert outputs == [f"create_bucket: bucket {bucket} created", f"create_bucket: bucket {bucket} already there"]
    assert bucket in {b["Name"] for b in moto_s3.client().list_buckets()["Buckets"]}
