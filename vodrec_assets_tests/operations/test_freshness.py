"""The freshness deadline of recommendations through the real daemon: live partitions (no pinned end), a
deadline set a minute after the service starts (no patched clock). Before it, the newest complete week is
"pending" and nothing is sent; after it, exactly one "late" alert with its link, and the failed
recommendations_on_time verdict is recorded on the asset."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from vodrec_assets.instance_config import write_local_instance_config
from vodrec_assets.recsys.deadlines import week_start
from vodrec_assets_tests.integration.harness import DagsterService, wait_until
from vodrec_assets_tests.operations.test_alerts import UI_BASE, receiver  # noqa: F401 - the fixture

LEAD_SECONDS = 45  # the deadline, after the service has started (it takes 20-40 s on a loaded machine)


def _newest_complete_week(now: datetime) -> str:
    this_monday = now.date() - timedelta(days=now.weekday())
    return (this_monday - timedelta(days=7)).isoformat()


@pytest.mark.integration
def test_a_late_week_is_alerted_once_after_its_deadline_and_not_before(tmp_path, receiver):  # noqa: F811
    now = datetime.now(ZoneInfo("Asia/Seoul")).replace(tzinfo=None)
    week = _newest_complete_week(now)
    deadline = now + timedelta(seconds=LEAD_SECONDS)
    due_minutes = (deadline - (week_start(week) + timedelta(days=7))).total_seconds() / 60
    home = tmp_path / "vodrec_home"
    home.mkdir()
    env = {"VODREC_HOME": str(home), "VODREC_SOURCE_URL": f"sqlite:///{home / 'source.db'}",
           "VODREC_START_DATE": (week_start(week) - timedelta(days=14)).date().isoformat(),
           "VODREC_RECOMMENDATIONS_DUE_MINUTES": f"{due_minutes:.4f}", "VODREC_ALERT_INTERVAL_SECONDS": "5",
           "VODREC_ALERT_WEBHOOK_URL": receiver.url, "VODREC_UI_BASE_URL": UI_BASE}
    local_yaml = write_local_instance_config(tmp_path / "instance_template")
    with DagsterService(tmp_path / "service", env, dagster_yaml=local_yaml) as service:
        instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(service.dagster_home)))
        try:
            def verdicts():  # (time, evaluation) of every recorded verdict, oldest first
                records = instance.get_event_records(dg.EventRecordsFilter(
                    event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION), ascending=True)
                return [(r.event_log_entry.timestamp, r.event_log_entry.dagster_event.event_specific_data)
                        for r in records]

            [alert] = wait_until(lambda: receiver.bodies, timeout=LEAD_SECONDS + 90, what="the late alert")
            assert datetime.now(ZoneInfo("Asia/Seoul")).replace(tzinfo=None) >= deadline
            assert alert["vodrec"] == {"kind": "late", "week": week, "run_id": None,
                                       "link": f"{UI_BASE}/assets/recommendations?view=checks"}
            assert f"week {week}'s recommendations are late" in alert["text"]
            due = deadline.replace(tzinfo=ZoneInfo("Asia/Seoul")).timestamp()
            recorded = verdicts()
            assert recorded and all(v.check_name == "recommendations_on_time" for _, v in recorded)
            # Before the deadline the week was pending (if the sensor ticked by then), never late.
            for when, verdict in recorded[:-1]:
                assert when < due and verdict.passed and verdict.metadata["state"].value == "pending"
                assert verdict.metadata["week"].value == week
            when, late = recorded[-1]
            assert when >= due and (late.passed, late.severity) == (False, dg.AssetCheckSeverity.ERROR)
            assert late.metadata["state"].value == "late"
            time.sleep(11)  # two more ticks: said once
            assert len(receiver.bodies) == 1 and len(verdicts()) == len(recorded)
        finally:
            instance.dispose()
