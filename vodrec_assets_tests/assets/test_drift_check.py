"""The volume and drift figures on weekly_pair_stats' materializations, and the non-blocking check that
warns on them: a week whose logs were cut to a third and whose viewers stopped early warns, and its run
still succeeds."""

import sqlite3

import dagster as dg

from vodrec_assets.alerts import AlertNotifier
from vodrec_assets.defs.features.drift import alert_on_drift_warning
from vodrec_assets_tests.assets.conftest import ASSETS, CHECKS, WEEKS
from vodrec_assets_tests.operations.test_alerts import Receiver

SELECTION = dg.AssetSelection.groups("ingestion") | dg.AssetSelection.assets("weekly_pair_stats")


def test_drift_figures_are_plotted_by_week_and_a_shifted_week_warns_without_blocking_and_is_alerted_once(
        workspace, tmp_path):
    # The kind of instance `make ui` and `vodrec demo` keep: SQLite, one event log per run, where a query
    # across runs works only for asset events.
    (tmp_path / "dagster_home").mkdir()
    workspace.instance = dg.DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    receiver = Receiver().start()
    notifier = AlertNotifier(webhook_url=receiver.url, ui_base_url="http://ui:3000")

    def tick(cursor):
        context = dg.build_sensor_context(instance=workspace.instance, resources={"alerts": notifier}, cursor=cursor)
        alert_on_drift_warning(context)
        return context.cursor

    cursor = tick(None)  # the first tick starts from now
    with sqlite3.connect(workspace.db_path) as conn:  # the third week: two rows in three lost, short viewing
        for table in ("vods_sumut", "contlog"):
            conn.execute(f"DELETE FROM {table} WHERE log_dt >= ? AND log_dt < ? AND rowid % 3 > 0",  # noqa: S608
                         (WEEKS[2], "2023-08-28"))
        conn.execute("UPDATE vods_sumut SET use_tms = use_tms / 10 WHERE log_dt >= ? AND log_dt < ?",
                     (WEEKS[2], "2023-08-28"))
    results = {}
    for week in WEEKS:
        results[week] = dg.materialize([*ASSETS, *CHECKS], selection=SELECTION,
                                       partition_key=week, resources=workspace.resources, instance=workspace.instance)
        assert results[week].success  # never blocks
    def pair_stats(result):
        [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("weekly_pair_stats")]
        return event.materialization

    metadata = {w: {k: v.value for k, v in pair_stats(r).metadata.items() if k.startswith("drift_")}
                for w, r in results.items()}
    assert metadata[WEEKS[0]]["drift_trailing_weeks"] == 0 and "drift_watch_ratio_psi" not in metadata[WEEKS[0]]
    assert metadata[WEEKS[1]]["drift_trailing_weeks"] == 1
    for figures in metadata.values():  # plain numbers: the UI plots them by partition
        assert all(type(v) in (int, float) for v in figures.values()), figures

    verdicts = {w: next(e for e in r.get_asset_check_evaluations() if e.check_name == "weekly_pair_stats_drift")
                for w, r in results.items()}
    assert verdicts[WEEKS[0]].passed and "nothing to compare with" in verdicts[WEEKS[0]].description
    assert verdicts[WEEKS[1]].passed, verdicts[WEEKS[1]].description
    shifted = verdicts[WEEKS[2]]
    assert not shifted.passed and shifted.severity == dg.AssetCheckSeverity.WARN
    assert "log volume 0.3" in shifted.description and "watch-ratio distribution shifted" in shifted.description
    assert shifted.metadata["drift_rows_vs_trailing"].value < 0.5

    try:  # one alert for the week that warned, none for the others, never twice
        tick(tick(cursor))
    finally:
        receiver.stop()
    assert [(b["vodrec"]["kind"], b["vodrec"]["week"]) for b in receiver.bodies] == [("drift", WEEKS[2])]
    assert "log volume 0.3" in receiver.bodies[0]["text"]
