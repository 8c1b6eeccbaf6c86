"""Alerts for an on-call team that does not watch the UI: what happened, to which week, and a link.

`classify_failed_run` tells a week stopped on purpose (a blocking check: no logs, the quality gate) from a
run that broke; `AlertNotifier` posts a Slack-compatible JSON body to a webhook and/or sends an e-mail.
The sensors that decide when to alert live in vodrec_assets/defs/sensors.py.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

import dagster as dg
import requests

from vodrec_assets import settings

# Assets whose blocking checks stop a week at ingestion (its logs are missing or malformed).
INGESTION_ASSETS = ("raw_vod_logs", "raw_click_logs", "subscribers", "vod_catalog")


@dataclass(frozen=True)
class FailedCheck:
    asset: str
    check: str
    description: str


# The error Dagster raises in a step once a blocking check it evaluated has failed.
BLOCKING_CHECK_ERROR = "DagsterAssetCheckFailedError"


def classify_failed_run(step_errors: list[str], failed_checks: list[FailedCheck]) -> str:
    """"blocked" (a blocking check stopped the week at ingestion), "gated" (a later blocking check, e.g.
    the quality gate, refused to publish it) or "failed" (anything else broke). `step_errors` are the
    class names of the run's step failures: a run whose only failures are Dagster's error for failed
    blocking checks was stopped on purpose."""
    if not step_errors or not failed_checks or any(e != BLOCKING_CHECK_ERROR for e in step_errors):
        return "failed"
    return "blocked" if any(c.asset in INGESTION_ASSETS for c in failed_checks) else "gated"


@dataclass(frozen=True)
class Alert:
    kind: str  # failed | blocked | gated | not_promoted | late | drift
    title: str
    detail: str
    week: str | None = None
    run_id: str | None = None
    path: str | None = None  # the UI page, relative to the UI's base URL

    def link(self, ui_base_url: str | None) -> str | None:
        return f"{ui_base_url.rstrip('/')}{self.path}" if ui_base_url and self.path else None

    def text(self, ui_base_url: str | None) -> str:
        link = self.link(ui_base_url)
        return f"[vodrec] {self.title}\n{self.detail}" + (f"\n{link}" if link else "")

    def slack_body(self, ui_base_url: str | None) -> dict:
        """Slack's incoming-webhook body (`text`, plus `blocks` for the link); other chat tools read `text`."""
        link = self.link(ui_base_url)
        section = f"*{self.title}*\n{self.detail}" + (f"\n<{link}|Open in Dagster>" if link else "")
        return {"text": self.text(ui_base_url),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": section}}],
                "vodrec": {"kind": self.kind, "week": self.week, "run_id": self.run_id, "link": link}}


class AlertNotifier(dg.ConfigurableResource):
    """Where alerts go: a webhook (Slack-compatible JSON) and/or e-mail over SMTP. Each is optional; with
    neither configured nothing is sent. Every value comes from the environment (dg.EnvVar), so no URL or
    address is stored in Dagster. A failed delivery raises, so the sensor tick fails and the next tick
    delivers the same alert again."""

    webhook_url: str | None = None
    ui_base_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str | None = None
    smtp_recipients: str | None = None  # comma-separated
    timeout_seconds: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.webhook_url or (self.smtp_host and self.smtp_recipients))

    def send(self, alert: Alert) -> None:
        if self.webhook_url:
            response = requests.post(self.webhook_url, json=alert.slack_body(self.ui_base_url),
                                     timeout=self.timeout_seconds)
            response.raise_for_status()
        if self.smtp_host and self.smtp_recipients:
            message = EmailMessage()
            message["Subject"] = f"[vodrec] {alert.title}"
            message["From"] = self.smtp_sender or "vodrec@localhost"
            message["To"] = self.smtp_recipients
            message.set_content(alert.text(self.ui_base_url))
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout_seconds) as smtp:
                smtp.send_message(message)


def alert_sensor(name: str, description: str):
    """The decorator of every alert sensor: running from the start (alerts need no one to switch them on),
    ticking every VODREC_ALERT_INTERVAL_SECONDS."""
    return dg.sensor(name=name, default_status=dg.DefaultSensorStatus.RUNNING,
                     minimum_interval_seconds=settings.alert_interval_seconds(), description=description)
