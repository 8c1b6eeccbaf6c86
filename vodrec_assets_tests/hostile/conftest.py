"""Hypothesis profiles: `default` runs in CI (the hostile tests take about a minute together); `deep`
(VODREC_HYPOTHESIS_PROFILE=deep) tries many more rows and runs the whole weekly graph on them
(docs/reliability.md has the command)."""

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from ..assets.conftest import tiny_source_db  # noqa: F401 - the session's tiny source, shared

COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
              derandomize=False, print_blob=True)
settings.register_profile("default", max_examples=150, **COMMON)
settings.register_profile("deep", max_examples=1500, **COMMON)
PROFILE = os.environ.get("VODREC_HYPOTHESIS_PROFILE", "default")
settings.load_profile(PROFILE)
# Examples of the slower properties (a SQLite source and Dagster materializations each).
SLOW_EXAMPLES = {"default": 60, "deep": 300}[PROFILE]
GRAPH_EXAMPLES = {"default": 0, "deep": 25}[PROFILE]

# What the property tests tried and what it got (examples, rows, reasons), written as JSON to the file
# VODREC_HOSTILE_TALLY names at the end of the session: the figures of docs/reliability.md.
TALLY: Counter = Counter()


@pytest.fixture(scope="session", autouse=True)
def _write_tally():
    yield
    target = os.environ.get("VODREC_HOSTILE_TALLY")
    if target and TALLY:
        Path(target).write_text(json.dumps(dict(sorted(TALLY.items())), indent=1))
