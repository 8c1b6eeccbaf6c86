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
            def verdicts():
                records = instance.get_event_records(dg.EventRecordsFilter(
                    event_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION), ascending=True)
                return [r.event_log_entry.dagster_event.event_specific_data for r in records]

            seoul = lambda: datetime.now(ZoneInfo("Asia/Seoul")).replace(tzinfo=None)  # noqa: E731
            if seoul() < deadline - timedelta(seconds=10):  # started in time to see the week pending
                pending = wait_until(verdicts, timeout=30, what="the pending verdict")
                assert pending[0].passed and pending[0].metadata["state"].value == "pending"
                assert pending[0].metadata["week"].value == week
                assert not receiver.bodies
            [alert] = wait_until(lambda: receiver.bodies, timeout=LEAD_SECONDS + 60, what="the late alert")
            assert seoul() >= deadline
            assert alert["vodrec"] == {"kind": "late", "week": week, "run_id": None,
                                       "link": f"{UI_BASE}/assets/recommendations?view=checks"}
            assert f"week {week}'s recommendations are late" in alert["text"]
            late = verdicts()[-1]
            assert (late.check_name, late.passed, late.severity) == ("recommendations_on_time", False,
                                                                     dg.AssetCheckSeverity.ERROR)
            time.sleep(11)  # two more ticks: said once
            assert len(receiver.bodies) == 1 and len([v for v in verdicts() if not v.passed]) == 1
        finally:
            instance.dispose()
