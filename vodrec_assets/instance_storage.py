"""The Dagster instance storage named in the repository's dagster.yaml, chosen by the environment.

One dagster.yaml serves both worlds: with `DAGSTER_MYSQL_HOST` set (the compose stack, the production
integration tests), runs, event logs and schedules go to MySQL through dagster-mysql with every
credential read from `DAGSTER_MYSQL_*`; with it unset (a laptop running `dg check defs`, `dg dev` or
`dagster dev` from the repository root), they go to SQLite under `$DAGSTER_HOME`, else under
`$VODREC_HOME/dagster_home`, the folder `vodrec demo` writes, so the UI shows the demo's history.

dagster.yaml's own `env:` sources cannot express this: an unset variable is an error there.
"""

from __future__ import annotations

import os
from typing import Any

from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from vodrec_assets import settings

MYSQL_ENV = {
    "hostname": "DAGSTER_MYSQL_HOST",
    "username": "DAGSTER_MYSQL_USER",
    "password": "DAGSTER_MYSQL_PASSWORD",
    "db_name": "DAGSTER_MYSQL_DB",
    "port": "DAGSTER_MYSQL_PORT",
}


class MissingStorageSetting(RuntimeError):
    """DAGSTER_MYSQL_HOST is set but another variable MySQL storage needs is not."""


def mysql_settings(environ: dict[str, str] | os._Environ | None = None) -> dict[str, Any] | None:
    """dagster-mysql's `mysql_db` config from the environment, or None when no MySQL host is set."""
    env = os.environ if environ is None else environ
    if not env.get(MYSQL_ENV["hostname"]):
        return None
    missing = [var for key, var in MYSQL_ENV.items() if key != "port" and not env.get(var)]
    if missing:
        raise MissingStorageSetting(
            f"{MYSQL_ENV['hostname']} is set, so the instance stores runs in MySQL, but {missing} "
            "are not set (see .env.example)")
    return {
        "hostname": env[MYSQL_ENV["hostname"]],
        "username": env[MYSQL_ENV["username"]],
        "password": env[MYSQL_ENV["password"]],
        "db_name": env[MYSQL_ENV["db_name"]],
        "port": int(env.get(MYSQL_ENV["port"]) or 3306),
    }


class EnvironmentSelectedStorage(DagsterStorage, ConfigurableClass):
    """A factory, not a storage: `from_config_value` returns dagster-mysql's or Dagster's SQLite storage.
    (Dagster checks that the class named in dagster.yaml is a DagsterStorage; it is never instantiated.)"""

    @classmethod
    def config_type(cls) -> dict:
        return {}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict) -> DagsterStorage:
        mysql = mysql_settings()
        if mysql is not None:
            from dagster_mysql import DagsterMySQLStorage
            from dagster_mysql.utils import mysql_url_from_config

            return DagsterMySQLStorage(mysql_url=mysql_url_from_config({"mysql_db": mysql}))
        from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

        return DagsterSqliteStorage.from_local(str(settings.dagster_home()))

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return None

    @property
    def event_log_storage(self):
        raise NotImplementedError("EnvironmentSelectedStorage only builds storages")

    @property
    def run_storage(self):
        raise NotImplementedError("EnvironmentSelectedStorage only builds storages")

    @property
    def schedule_storage(self):
        raise NotImplementedError("EnvironmentSelectedStorage only builds storages")
