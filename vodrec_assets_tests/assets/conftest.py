import shutil
from pathlib import Path

import dagster as dg
import pytest

from vodrec_assets.definitions import defs
from vodrec_assets.quality import QualityPolicy
from vodrec_assets.resources import LocalArtifactStore, ServingRedis, SourceDatabase
from vodrec_assets.defs.jobs import weekly_retrain

WEEKS = ["2023-08-07", "2023-08-14", "2023-08-21"]
# What the code location loads from its defs folder, so no test lists the modules again.
ASSETS = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
CHECKS = list(defs.asset_checks)


@pytest.fixture(scope="session")
def tiny_source_db(tmp_path_factory) -> Path:
    """Tiny synthetic data (4 weeks from the default start), generated once per session."""
    from vodrec_assets.sources.synthetic import generate

    path = tmp_path_factory.mktemp("tiny_source") / "source.db"
    generate(f"sqlite:///{path}", scale="tiny", weeks=4, seed=0)
    return path


class Workspace:
    """A private copy of the source database and an artifact folder, with the resources over them."""

    def __init__(self, root: Path, source_db: Path, quality: QualityPolicy | None = None):
        self.root = root
        self.db_path = root / "source.db"
        shutil.copy(source_db, self.db_path)
        self.artifacts = LocalArtifactStore(root=str(root / "artifacts"))
        self.source = SourceDatabase(url=f"sqlite:///{self.db_path}")
        self.resources = {"source_db": self.source, "artifacts": self.artifacts, "quality": quality or QualityPolicy(),
                          "serving_redis": ServingRedis()}
        self.instance = dg.DagsterInstance.ephemeral()

    def materialize(self, week: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [*ASSETS, *CHECKS], selection=weekly_retrain.selection, partition_key=week,
            resources=self.resources, instance=self.instance, raise_on_error=raise_on_error,
        )


@pytest.fixture
def workspace(tmp_path, tiny_source_db) -> Workspace:
    return Workspace(tmp_path, tiny_source_db)
