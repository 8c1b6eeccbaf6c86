"""What every weekly asset shares: partitions, owner, the week's bounds."""


from datetime import datetime
from typing import Any

from vodrec_assets.partitions import week_bounds, weekly_partitions

OWNERS = ["team:ml-platform"]


def weekly_asset_kwargs() -> dict[str, Any]:
    return {"partitions_def": weekly_partitions, "owners": OWNERS}


def week_of(partition_key: str) -> tuple[datetime, datetime]:
    return week_bounds(partition_key)
