"""The package uses Dagster's public API only: a `dagster._…` module may change in any release."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "vodrec_assets"


def private_dagster_imports(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return [n for n in names if n.split(".")[0].startswith("dagster") and any(
        part.startswith("_") for part in n.split(".")[1:])]


def test_the_finder_sees_a_private_import():
    assert private_dagster_imports("from dagster._core.instance import DagsterInstance") == [
        "dagster._core.instance", "dagster._core.instance.DagsterInstance"]
    assert private_dagster_imports("import dagster_aws._private") == ["dagster_aws._private"]
    assert private_dagster_imports("from dagster import _check") == ["dagster._check"]
    assert private_dagster_imports("import dagster as dg\nfrom dagster_aws.s3 import S3Resource") == []


def test_no_module_of_the_package_imports_private_dagster_api():
    found = {str(path.relative_to(PACKAGE.parent)): hits for path in sorted(PACKAGE.rglob("*.py"))
             if (hits := private_dagster_imports(path.read_text()))}
    assert found == {}
