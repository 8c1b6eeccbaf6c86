"""When metrics_history refreshes by itself (its automation condition, evaluated as the automation sensor
does, without a daemon): after a week's metrics change, once; not again after its own refresh; and also
when a refresh and a newer week's metrics fall between the same two evaluations (a backfill's refresh,
then a weekly run, within one 30-second tick), which `since_last_handled()` counted as handled."""

import dagster as dg

from vodrec_assets.defs.evaluation.assets import REFRESH_AFTER_WEEKLY_METRICS

WEEKS = dg.StaticPartitionsDefinition(["2023-08-07", "2023-08-14"])


@dg.asset(partitions_def=WEEKS)
def weekly_metrics() -> None: ...


@dg.asset(deps=[weekly_metrics], automation_condition=REFRESH_AFTER_WEEKLY_METRICS)
def metrics_history() -> None: ...


DEFS = dg.Definitions(assets=[weekly_metrics, metrics_history])


class Ticks:
    def __init__(self):
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def requested(self) -> bool:
        result = dg.evaluate_automation_conditions(defs=DEFS, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        return result.get_num_requested(dg.AssetKey("metrics_history")) == 1

    def materialize(self, key: str, partition: str | None = None) -> None:
        self.instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=partition))


def test_a_week_of_metrics_refreshes_the_history_once():
    ticks = Ticks()
    for week in WEEKS.get_partition_keys():
        ticks.materialize("weekly_metrics", week)
    ticks.materialize("metrics_history")
    ticks.requested()  # the first evaluation sees everything as it is
    assert not ticks.requested()
    ticks.materialize("weekly_metrics", "2023-08-14")
    assert ticks.requested()
    ticks.materialize("metrics_history")  # the requested refresh
    assert not ticks.requested()
    assert not ticks.requested()


def test_a_refresh_and_newer_metrics_between_two_ticks_still_refresh():
    ticks = Ticks()
    for week in WEEKS.get_partition_keys():
        ticks.materialize("weekly_metrics", week)
    ticks.materialize("metrics_history")
    ticks.requested()
    assert not ticks.requested()
    ticks.materialize("metrics_history")  # a backfill's own refresh ...
    ticks.materialize("weekly_metrics", "2023-08-14")  # ... then a weekly run, before the next tick
    assert ticks.requested()


def test_a_refresh_alone_requests_nothing():
    ticks = Ticks()
    ticks.materialize("weekly_metrics", "2023-08-07")
    ticks.materialize("metrics_history")
    ticks.requested()
    ticks.materialize("metrics_history")
    assert not ticks.requested()
