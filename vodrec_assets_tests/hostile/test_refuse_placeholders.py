"""The containers' entrypoint (deploy/mysql/initdb/00-refuse-placeholders.sh) refuses to start with a
`changeme` of an unedited .env.example, run as a process the way the image and the mysql service run it."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "deploy" / "mysql" / "initdb" / "00-refuse-placeholders.sh"
BASE = {"PATH": "/usr/bin:/bin"}


def _env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (REPO / ".env.example").read_text().splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _entrypoint(env: dict, *command: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", str(SCRIPT), *command], env={**BASE, **env}, capture_output=True, text=True,
                          timeout=30)


def test_an_unedited_env_example_is_refused_naming_every_placeholder():
    example = _env_example()
    placeholders = sorted(k for k, v in example.items() if v == "changeme")
    assert len(placeholders) >= 4
    done = _entrypoint(example, "echo", "started")
    assert done.returncode == 78
    assert "started" not in done.stdout
    assert all(name in done.stderr for name in placeholders), done.stderr
    assert "changeme" in done.stderr and ".env" in done.stderr


def test_real_values_start_the_command():
    real = {k: ("s3cr3t-" + k.lower() if v == "changeme" else v) for k, v in _env_example().items()}
    done = _entrypoint(real, "echo", "started")
    assert done.returncode == 0 and done.stdout.strip() == "started", done.stderr


def test_sourced_by_the_mysql_image_it_only_checks():
    """docker-entrypoint.sh sources the init folder's scripts with its own arguments: no exec there."""
    clean = subprocess.run(["bash", "-c", f'set -- mysqld --user=mysql; . "{SCRIPT}"; echo continued'],
                           env=BASE, capture_output=True, text=True, timeout=30)
    assert clean.returncode == 0 and clean.stdout.strip() == "continued"
    refused = subprocess.run(["bash", "-c", f'. "{SCRIPT}"; echo continued'], env={**BASE, "MYSQL_PASSWORD": "changeme"},
                             capture_output=True, text=True, timeout=30)
    assert refused.returncode == 78 and "MYSQL_PASSWORD" in refused.stderr and "continued" not in refused.stdout


def test_the_image_and_the_mysql_service_use_it():
    assert 'ENTRYPOINT ["/bin/sh", "/opt/dagster/app/deploy/00-refuse-placeholders.sh"]' in (REPO / "Dockerfile").read_text()
    assert "/docker-entrypoint-initdb.d/00-refuse-placeholders.sh" in (REPO / "docker-compose.yml").read_text()
