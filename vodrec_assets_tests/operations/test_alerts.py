"""Alerts through the real daemon to a webhook receiver and an SMTP server that the test starts on
loopback: one alert per incident, said as what it is, with a link; none without a target; a target that
is down gets the alert on a later tick."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from vodrec_assets.alerts import Alert, AlertNotifier, FailedCheck, classify_failed_run
from vodrec_assets.instance_config import write_local_instance_config
from vodrec_assets.sources.synthetic import generate
from vodrec_assets_tests.integration.harness import DagsterService, free_port, wait_until, week_keys

WEEKS = week_keys("2023-08-07", 3)
UI_BASE = "http://127.0.0.1:3000"
TICK = 5  # seconds between the alert sensors' ticks in the daemon test (VODREC_ALERT_INTERVAL_SECONDS; default 30)


class Receiver:
    """A webhook endpoint on loopback that keeps every JSON body; `stop()`/`start()` take it down and up."""

    def __init__(self):
        self.port = free_port()
        self.bodies: list[dict] = []
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def mailbox():
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    controller = Controller(Keep(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, received
    controller.stop()


def test_classify_failed_run():
    gate = FailedCheck("weekly_metrics", "quality_gate", "does not beat popularity")
    empty = FailedCheck("raw_vod_logs", "raw_vod_logs_shape", "the week has no rows")
    stopped = "DagsterAssetCheckFailedError"
    assert classify_failed_run([stopped], [gate]) == "gated"
    assert classify_failed_run([stopped], [empty]) == "blocked"
    assert classify_failed_run([stopped, "Failure"], [gate]) == "failed"  # a week also broke
    assert classify_failed_run(["Failure"], [gate]) == "failed"
    assert classify_failed_run([stopped], []) == "failed"
    assert classify_failed_run([], []) == "failed"


def test_no_target_no_alert_and_the_body_is_slack_compatible():
    assert not AlertNotifier().configured
    body = Alert("gated", "week w not published", "quality_gate: worse", week="w", run_id="r",
                 path="/runs/r").slack_body("http://ui:3000/")
    assert body["text"].startswith("[vodrec] week w not published") and body["text"].endswith("http://ui:3000/runs/r")
    assert body["blocks"][0]["text"]["type"] == "mrkdwn" and "<http://ui:3000/runs/r|Open in Dagster>" in body["blocks"][0]["text"]["text"]


def test_a_worse_model_is_reported_once(receiver):
    """alert_on_model_not_promoted over an instance's champion_model decisions: one alert per worse week,
    none for a promotion, never twice (the cursor)."""
    from vodrec_assets.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    for week, worse in (("2023-08-07", False), ("2023-08-14", True)):
        instance.report_runless_asset_event(dg.AssetMaterialization(
            "champion_model", partition=week,
            metadata={"promoted": not worse, "worse_than_champion": worse,
                      "reason": "champion 2023-08-07 kept: 2023-08-14's map_at_10 0.1 < champion's 0.2" if worse else "promoted"}))
    sensor = defs.get_repository_def().get_sensor_def("alert_on_model_not_promoted")
    notifier = AlertNotifier(webhook_url=receiver.url, ui_base_url=UI_BASE)
    context = dg.build_sensor_context(instance=instance, resources={"alerts": notifier})
    sensor(context)
    assert [b["vodrec"]["kind"] for b in receiver.bodies] == ["not_promoted"]
    assert receiver.bodies[0]["vodrec"]["week"] == "2023-08-14"
    assert receiver.bodies[0]["vodrec"]["link"] == f"{UI_BASE}/assets/champion_model?partition=2023-08-14"
    sensor(dg.build_sensor_context(instance=instance, resources={"alerts": notifier}, cursor=context.cursor))
    assert len(receiver.bodies) == 1


@pytest.mark.integration
def test_the_daemon_alerts_once_per_failed_run_and_retries_a_target_that_was_down(tmp_path, receiver, mailbox):
    controller, mails = mailbox
    home = tmp_path / "vodrec_home"
    home.mkdir()
    source = home / "source.db"
    generate(f"sqlite:///{source}", scale="tiny", weeks=3, seed=1)
    with sqlite3.connect(source) as conn:  # the last week loses its logs: it must stop at ingestion
        for table in ("vods_sumut", "contlog"):
            conn.execute(f"DELETE FROM {table} WHERE log_dt >= ?", (WEEKS[2],))  # noqa: S608
    env = {"VODREC_HOME": str(home), "VODREC_SOURCE_URL": f"sqlite:///{source}", "VODREC_START_DATE": WEEKS[0],
           "VODREC_END_DATE": "2023-08-28", "VODREC_ALERT_WEBHOOK_URL": receiver.url, "VODREC_UI_BASE_URL": UI_BASE,
           "VODREC_ALERT_SMTP_HOST": "127.0.0.1", "VODREC_ALERT_SMTP_PORT": str(controller.port),
           "VODREC_ALERT_EMAIL_TO": "oncall@example.com",
           "VODREC_ALERT_INTERVAL_SECONDS": str(TICK)}
    local_yaml = write_local_instance_config(tmp_path / "instance_template")
    with DagsterService(tmp_path / "service", env, dagster_yaml=local_yaml) as service:
        backfill = service.graphql.launch_partition_backfill(WEEKS, job_name="weekly_retrain")
        service.graphql.wait_for_backfill(backfill, timeout=600)
        [run] = service.graphql.runs_for_backfill(backfill)  # one run walks the three weeks
        assert run.status == "FAILURE"  # for the last week only: the first two are published
        assert all((home / "artifacts" / "recommendations" / f"{w}.parquet").is_file() for w in WEEKS[:2])
        blocked = wait_until(lambda: receiver.bodies, timeout=180, what="the webhook alert")
        [alert] = blocked
        assert alert["vodrec"] == {"kind": "blocked", "week": WEEKS[2], "run_id": run.run_id,
                                   "link": f"{UI_BASE}/runs/{run.run_id}"}
        assert "the week has no rows" in alert["text"]
        wait_until(lambda: mails, timeout=60, what="the e-mail alert")
        assert mails[0]["Subject"] == f"[vodrec] week {WEEKS[2]} blocked at ingestion (weekly_retrain)"

        # The target goes down; the next failure is delivered once it is back, and only once.
        receiver.stop()
        again = service.graphql.launch_partition_backfill([WEEKS[2]], job_name="weekly_retrain")
        service.graphql.wait_for_backfill(again, timeout=600)
        [second] = service.graphql.runs_for_backfill(again)
        assert second.status == "FAILURE"
        time.sleep(3 * TICK)  # ticks with the target down
        receiver.start()
        wait_until(lambda: len(receiver.bodies) >= 2, timeout=240, what="the alert delivered after the target returned")
        time.sleep(3 * TICK)  # later ticks must not repeat it
        kinds = [(b["vodrec"]["kind"], b["vodrec"]["run_id"]) for b in receiver.bodies]
        assert kinds == [("blocked", run.run_id), ("blocked", second.run_id)]
