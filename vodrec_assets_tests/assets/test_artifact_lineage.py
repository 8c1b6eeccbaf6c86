"""The lineage Dagster shows is what the code reads: each asset, materialized alone for a week over a store
that records every key it touches, reads the artifacts of exactly the assets it declares as dependencies
(itself included for the previous week's model), apart from the reads artifacts.UNDECLARED_READS lists
with their reason. And every key written belongs to an artifact of the catalogue."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from vodrec_assets.asset_defaults import WEEKLY_STEP
from vodrec_assets.artifacts import CATALOGUE, MODEL_SELECTION, UNDECLARED_READS, artifact_of
from vodrec_assets import fused_weeks
from vodrec_assets.definitions import defs
from vodrec_assets.defs.evaluation.assets import rebuild_metrics_history
from vodrec_assets.resources import LocalArtifactStore

from .conftest import ASSETS, WEEKS, Workspace

TOUCHED: list[tuple[str, str]] = []  # (how, key) in the order the code under test touched the store


def unrecorded(refresh_summary):
    """The weekly step's rebuild of a summary after its weeks, left out of the record: it is the summary's
    own work, recorded for it alone, not the work of the weekly asset whose run triggered it."""
    def refresh(context, asset):
        before = len(TOUCHED)
        yield from refresh_summary(context, asset)
        del TOUCHED[before:]
    return refresh


class RecordingArtifactStore(LocalArtifactStore):
    """A local store that records every key read, probed or listed, and every key written."""

    def get_bytes(self, key: str) -> bytes:
        TOUCHED.append(("read", key))
        return super().get_bytes(key)

    def open_parquet(self, key: str) -> pq.ParquetFile:
        TOUCHED.append(("read", key))
        return super().open_parquet(key)

    def exists(self, key: str) -> bool:
        TOUCHED.append(("read", key))
        return super().exists(key)

    def list_keys(self, prefix: str) -> list[str]:
        TOUCHED.append(("list", prefix))
        return super().list_keys(prefix)

    def put_bytes(self, key: str, data: bytes) -> None:
        TOUCHED.append(("write", key))
        super().put_bytes(key, data)


def artifacts_listed(prefix: str) -> set[str]:
    return {name for name, artifact in CATALOGUE.items() if artifact.prefix == prefix}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, tiny_source_db) -> dict[str, dict[str, set[str]]]:
    """For each weekly asset and metrics_history: the catalogue names it read and wrote on the second week."""
    ws = Workspace(tmp_path_factory.mktemp("lineage"), tiny_source_db)
    ws.resources["artifacts"] = RecordingArtifactStore(root=ws.artifacts.root)
    for week in WEEKS[:2]:
        assert ws.materialize(week).success
    # A recorded model selection, so that trained_model's run with use_model_selection reads one.
    MODEL_SELECTION.write(ws.artifacts, {"week": WEEKS[0], "metric": "holdout_map_at_10", "winner": {}, "table": []},
                          WEEKS[0])
    runs = [(key, None) for asset in ASSETS for key in asset.keys] + [
        (dg.AssetKey("trained_model"), {"ops": {WEEKLY_STEP: {"config": {"trained_model": {"use_model_selection": True}}}}})]
    runs.append((dg.AssetKey("metrics_history"), None))
    touched: dict[str, dict[str, set[str]]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fused_weeks, "refresh_summary", unrecorded(fused_weeks.refresh_summary))
        for key, run_config in runs:
            record_run(ws, key, run_config, touched.setdefault(key.to_user_string(), defaultdict(set)))
    return touched


def record_run(ws: Workspace, key: dg.AssetKey, run_config: dict | None, seen: dict[str, set[str]]) -> None:
    """Materialize `key` alone for the second week and add what it read and wrote to `seen`."""
    TOUCHED.clear()
    if key.to_user_string() == "metrics_history":  # a summary, rebuilt by the weekly step: its function alone
        rebuild_metrics_history(ws.resources["artifacts"], ws.resources["source_db"])
    else:
        partitioned = defs.resolve_asset_graph().get(key).partitions_def is not None
        # The asset alone, without its checks (they read what they judge, e.g. last week's metrics).
        result = dg.materialize(ASSETS, selection=dg.AssetSelection.assets(key).without_checks(),
                                resources=ws.resources, instance=ws.instance,
                                partition_key=WEEKS[1] if partitioned else None, run_config=run_config)
        assert result.success, key
    for how, stored in TOUCHED:
        if how == "list":
            names = artifacts_listed(stored)
            assert names, f"{key.to_user_string()} lists {stored!r}, the prefix of no artifact"
            seen["read"] |= names
            continue
        name, artifact = artifact_of(stored)  # KeyError: a key of no artifact
        seen[how].add(name)
        if (how == "read" and artifact.producer == key.to_user_string() and WEEKS[1] not in stored
                and (key.to_user_string(), name) not in UNDECLARED_READS):
            seen["read_other_week_of_own"].add(name)


def test_each_asset_declares_the_producers_of_what_it_reads(recorded):
    graph = defs.resolve_asset_graph()
    for asset, seen in recorded.items():
        # Its own artifacts of the same week are no dependency; of another week (last week's model) they are.
        read_from = ({CATALOGUE[name].producer for name in seen["read"] if (asset, name) not in UNDECLARED_READS}
                     - {asset}) | ({asset} if seen["read_other_week_of_own"] else set())
        declared = {parent.to_user_string() for parent in graph.get(dg.AssetKey(asset)).parent_keys}
        assert read_from == declared, (asset, sorted(seen["read"]))


def test_every_listed_undeclared_read_happens_and_is_not_declared(recorded):
    graph = defs.resolve_asset_graph()
    for (asset, name), reason in UNDECLARED_READS.items():
        assert reason
        assert name in recorded[asset]["read"], f"{asset} no longer reads {name}: drop it from UNDECLARED_READS"
        declared = {p.to_user_string() for p in graph.get(dg.AssetKey(asset)).parent_keys}
        assert CATALOGUE[name].producer not in declared


def test_each_artifact_is_written_by_its_producer(recorded):
    for asset, seen in recorded.items():
        for name in seen["write"]:
            assert CATALOGUE[name].producer == asset, (asset, name)


def test_architecture_lists_the_catalogue():
    """docs/architecture.md's artifact table is the catalogue's (regenerate with artifacts.catalogue_table())."""
    from vodrec_assets.artifacts import catalogue_table

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    listed = doc.split("<!-- catalogue:start -->\n", 1)[1].split("<!-- catalogue:end -->", 1)[0]
    assert listed == catalogue_table()
