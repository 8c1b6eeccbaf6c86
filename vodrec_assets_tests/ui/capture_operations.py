"""Screenshots of what an on-call engineer sees, for docs/operations.md (not a test: run it by hand).

    .venv/bin/python -m vodrec_assets_tests.ui.capture_operations [--workdir DIR]

A project folder of its own on *live* partitions: tiny synthetic data for the four weeks before the
current one (Asia/Seoul), the third of them cut to a third of its logs with shortened viewing (a drift
warning), `vodrec demo --limit-weeks 3` (the newest complete week is never materialized, so it is late),
the demo's pinned end removed, then `dg dev` on a free loopback port with the alert webhook pointed at a
receiver on loopback. Once the sensors have ticked: Playwright (system Chromium) saves docs/img/ops-*.png
and the alert bodies go to docs/img/ops-alerts.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from vodrec_assets_tests.integration.harness import BIN, REPO, ManagedProcess, clean_env, free_port, wait_until
from vodrec_assets_tests.operations.test_alerts import Receiver

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMG = REPO / "docs" / "img"


def _weeks() -> list[str]:
    today = datetime.now(ZoneInfo("Asia/Seoul")).date()
    this_monday = today - timedelta(days=today.weekday())
    return [(this_monday - timedelta(days=7 * k)).isoformat() for k in (4, 3, 2, 1)]


def prepare(root: Path) -> tuple[list[str], dict]:
    weeks = _weeks()
    for name in ("dagster.yaml", "pyproject.toml"):
        shutil.copy(REPO / name, root / name)
    if not (root / "vodrec_assets").exists():
        (root / "vodrec_assets").symlink_to(REPO / "vodrec_assets")
    home = root / ".vodrec"
    env = clean_env({"VODREC_HOME": str(home)})
    subprocess.run([str(BIN / "vodrec"), "generate", "--scale", "tiny", "--weeks", "4", "--start", weeks[0]],
                   cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    with sqlite3.connect(home / "source.db") as conn:  # week 3: two rows in three lost, viewing cut short
        for table in ("vods_sumut", "contlog"):
            conn.execute(f"DELETE FROM {table} WHERE log_dt >= ? AND log_dt < ? AND rowid % 3 > 0",  # noqa: S608
                         (weeks[2], weeks[3]))
        conn.execute("UPDATE vods_sumut SET use_tms = use_tms / 10 WHERE log_dt >= ? AND log_dt < ?",
                     (weeks[2], weeks[3]))
    subprocess.run([str(BIN / "vodrec"), "demo", "--limit-weeks", "3", "--no-backtest"], cwd=root, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    # Live partitions: the first week stays, the end is the last complete week (as in production).
    (home / "local_settings.json").write_text(json.dumps({"start_date": weeks[0]}) + "\n")
    return weeks, env


def capture(root: Path) -> None:
    from playwright.sync_api import sync_playwright

    weeks, env = prepare(root)
    receiver = Receiver().start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dev = ManagedProcess("dg-dev", [str(BIN / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)],
                         {**env, "VODREC_ALERT_WEBHOOK_URL": receiver.url, "VODREC_UI_BASE_URL": url},
                         root / "dg-dev.log", cwd=root).start()
    try:
        wait_until(lambda: receiver.bodies, timeout=300, interval=2, what="the late alert", details=dev.tail)
        (IMG / "ops-alerts.json").write_text(json.dumps(receiver.bodies, indent=1) + "\n")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
            page = browser.new_context(viewport={"width": 1600, "height": 1000}, timezone_id="UTC",
                                       locale="en-US").new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{url}/assets/recommendations?view=checks")
            page.get_by_text("recommendations_on_time").first.wait_for()
            page.get_by_text("recommendations_on_time").first.click()
            page.wait_for_timeout(3_000)
            page.screenshot(path=str(IMG / "ops-late-week-check.png"))
            page.goto(f"{url}/assets/weekly_pair_stats?view=checks")
            page.get_by_text("weekly_pair_stats_drift").first.wait_for()
            page.get_by_text("weekly_pair_stats_drift").first.click()
            page.wait_for_timeout(3_000)
            page.screenshot(path=str(IMG / "ops-drift-check.png"))
            page.goto(f"{url}/assets/weekly_pair_stats")
            page.get_by_role("button", name="Plots").click()
            page.locator("canvas").first.wait_for()
            page.get_by_text("drift_rows_vs_trailing").first.scroll_into_view_if_needed()
            page.wait_for_timeout(2_000)
            page.screenshot(path=str(IMG / "ops-drift-plots.png"))
            page.goto(f"{url}/locations/vodrec_assets/sensors/alert_on_late_week")
            page.wait_for_timeout(4_000)
            page.screenshot(path=str(IMG / "ops-late-week-sensor.png"))
            browser.close()
    finally:
        dev.stop()
        receiver.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="vodrec-ops-shots-"))
    root.mkdir(parents=True, exist_ok=True)
    capture(root)
    print(f"screenshots in {IMG} (project folder {root})")


if __name__ == "__main__":
    main()
