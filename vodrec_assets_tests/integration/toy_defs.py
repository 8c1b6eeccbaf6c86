"""A small code location to prove the harness: two weekly-partitioned assets writing artifacts.

It uses vodrec's own partitions and artifact store (chosen by vodrec_assets.defs.resources, so S3 when
VODREC_S3_BUCKET is set), and puts the second asset in the `lightfm_training` pool so the instance's pool
limit is exercised: each pooled step records when it started and ended.
"""

import os
import time

import dagster as dg

from vodrec_assets.defs.resources import resources_for_environment
from vodrec_assets.partitions import weekly_partitions
from vodrec_assets.resources import ArtifactStore

POOLED_SECONDS = float(os.environ.get("TOY_POOLED_SECONDS", "2"))


@dg.asset(partitions_def=weekly_partitions, group_name="toy")
def toy_upstream(context: dg.AssetExecutionContext, artifacts: ArtifactStore) -> dg.MaterializeResult:
    week = context.partition_key
    key = f"toy_upstream/{week}.json"
    artifacts.write_json(key, {"week": week, "pid": os.getpid()})
    return dg.MaterializeResult(metadata={"uri": artifacts.uri(key)})


@dg.asset(partitions_def=weekly_partitions, group_name="toy", deps=[toy_upstream], pool="lightfm_training")
def toy_pooled(context: dg.AssetExecutionContext, artifacts: ArtifactStore) -> dg.MaterializeResult:
    week = context.partition_key
    upstream = artifacts.read_json(f"toy_upstream/{week}.json")
    started = time.time()
    time.sleep(POOLED_SECONDS)
    ended = time.time()
    key = f"toy_pooled/{week}.json"
    artifacts.write_json(key, {"week": week, "upstream_pid": upstream["pid"], "pid": os.getpid(),
                               "started": started, "ended": ended})
    return dg.MaterializeResult(metadata={"uri": artifacts.uri(key)})


toy_job = dg.define_asset_job("toy_job", selection=[toy_upstream, toy_pooled], partitions_def=weekly_partitions)

defs = dg.Definitions(
    assets=[toy_upstream, toy_pooled],
    jobs=[toy_job],
    resources={"artifacts": resources_for_environment()["artifacts"]},
    # As vodrec_assets.definitions: one process per run (pools are enforced by that executor too).
    executor=dg.in_process_executor,
)
