"""The Dagster UI as an operator meets it after `make demo`: `dg dev` on the demo's instance, driven in
headless Chromium (Playwright with the system `chromium`) as a person would click it.

One module-scoped demo instance (tiny synthetic data, 8 weeks) in a project folder of its own (the root
dagster.yaml and pyproject.toml, the package linked in), then, in order:
- the lineage page: "Materialize all…" for the two newest weeks, the backfill succeeds with every run;
- weekly_metrics' plots show one point per week (the UI's own plot query, by partition);
- metrics_history shows its chart inside the UI and is rebuilt by the weekly run itself;
- the schedule's next-tick preview names the week that just ended;
- weekly_retrain_range's Launchpad runs a range of weeks in one run, a weekly run per week, oldest first.
Screenshots go to docs/img/ui-*.png (the README and docs show them).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from vodrec_assets_tests.integration.harness import BIN, REPO, ManagedProcess, clean_env, free_port, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SCREENSHOTS = REPO / "docs" / "img"
DEMO_WEEKS = ["2023-08-07", "2023-08-14", "2023-08-21", "2023-08-28", "2023-09-04", "2023-09-11",
              "2023-09-18", "2023-09-25"]
SEOUL = ZoneInfo("Asia/Seoul")

if CHROMIUM is None:
    pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)", allow_module_level=True)
playwright = pytest.importorskip("playwright.sync_api")


class DemoUI:
    """A demo instance and `dg dev` over it, as `make demo` then `make ui` leave them."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.timings: dict[str, float] = {}
        for name in ("dagster.yaml", "pyproject.toml"):
            shutil.copy(REPO / name, root / name)
        (root / "vodrec_assets").symlink_to(REPO / "vodrec_assets")
        self.env = clean_env({"VODREC_HOME": str(root / ".vodrec")})
        self.dev = ManagedProcess("dg-dev", [str(BIN / "dg"), "dev", "--host", "127.0.0.1", "--port", str(self.port),
                                             "--log-level", "info"], self.env, root / "dg-dev.log", cwd=root)

    def demo(self) -> None:
        started = time.perf_counter()
        done = subprocess.run([str(BIN / "vodrec"), "demo"], cwd=self.root, env=self.env, capture_output=True,
                              text=True, timeout=900)
        self.timings["demo_seconds"] = time.perf_counter() - started
        assert done.returncode == 0, done.stdout + done.stderr
        assert all(f"week {w}: ok" in done.stdout for w in DEMO_WEEKS), done.stdout

    def start(self) -> None:
        self.dev.start()
        wait_until(lambda: self._loaded(), timeout=180, what="dg dev serving the code location",
                   details=lambda: self.dev.tail())

    def _loaded(self) -> bool:
        if not self.dev.alive():
            raise RuntimeError("dg dev exited:\n" + self.dev.tail())
        return bool(self.graphql("{ assetNodes { id } }")["assetNodes"])

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        reply = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                              timeout=30).json()
        assert "errors" not in reply, reply
        return reply["data"]

    def backfill(self, backfill_id: str) -> dict:
        return self.graphql(
            """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
                 status timestamp endTimestamp runs(limit: 500) { runId status } } } }""",
            {"id": backfill_id})["partitionBackfillOrError"]

    def materializations(self, asset: str) -> list[dict]:
        return self.graphql(
            """query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset {
                 assetMaterializations(limit: 100) { timestamp partition runId } } } }""",
            {"key": {"path": [asset]}})["assetOrError"]["assetMaterializations"]

    def stop(self) -> None:
        self.dev.stop()


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    demo_ui = DemoUI(tmp_path_factory.mktemp("demo_project"))
    demo_ui.demo()
    demo_ui.start()
    try:
        yield demo_ui
    finally:
        demo_ui.stop()
        print(json.dumps(demo_ui.timings, indent=1))  # measured, shown with -s; never asserted


@pytest.fixture(scope="module")
def page(ui):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 1600, "height": 1000}, timezone_id="UTC", locale="en-US")
        context.set_default_timeout(60_000)
        yield context.new_page()
        browser.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"ui-{name}.png"))


def test_the_ui_shows_only_weeks_with_data(ui):
    node = ui.graphql('{ assetNodeOrError(assetKey: {path: ["weekly_metrics"]}) { ... on AssetNode {'
                      ' partitionKeys partitionKeyConnection(limit: 120, ascending: false) { results } } } }'
                      )["assetNodeOrError"]
    assert node["partitionKeys"] == DEMO_WEEKS
    assert node["partitionKeyConnection"]["results"] == DEMO_WEEKS[::-1]  # what the UI's "latest" views use


def test_materialize_all_for_the_two_newest_weeks_succeeds(ui, page):
    page.goto(f"{ui.url}/asset-groups")
    # "Materialize all…", or "Materialize all (13)…" when a non-materializable asset is in view
    page.locator("button", has_text=re.compile(r"^Materialize all")).first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Partition selection").wait_for()
    dialog.get_by_placeholder("ex: 2023-08-07", exact=False).fill(f"[{DEMO_WEEKS[-2]}...{DEMO_WEEKS[-1]}]")
    dialog.get_by_placeholder("ex: 2023-08-07", exact=False).press("Enter")
    dialog.get_by_text("2 partitions").wait_for()
    shot(page, "materialize-all")
    started = time.time()
    dialog.get_by_role("button", name="Launch backfill").click()
    toast = page.get_by_text("Created backfill")
    toast.wait_for()
    backfill_id = toast.inner_text().split()[-1]
    done = wait_until(lambda: (b := ui.backfill(backfill_id))["status"] not in ("REQUESTED",) and b, timeout=900,
                      interval=5, what=f"backfill {backfill_id}")
    ui.timings["two_week_backfill_seconds"] = time.time() - started
    ui.timings["two_week_backfill_runs"] = len(done["runs"])
    assert done["status"] == "COMPLETED_SUCCESS", done
    assert done["runs"] and all(r["status"] == "SUCCESS" for r in done["runs"]), done["runs"]
    page.goto(f"{ui.url}/runs/b/{backfill_id}?tab=runs")
    page.get_by_text("Succeeded", exact=True).first.wait_for()
    shot(page, "backfill")
    # The grid search never runs as a side effect of "Materialize all": it is an op job, not an asset.
    assert "model_selection" not in {n["id"].split(".")[-1] for n in ui.graphql("{ assetNodes { id } }")["assetNodes"]}
    # The terminal of `dg dev` (what `make ui` shows): runs at INFO, no instance warning, no telemetry banner.
    terminal = ui.dev.log_path.read_text(errors="replace")
    assert " - DEBUG - " not in terminal
    assert "will not be used" not in terminal and "Telemetry" not in terminal
    # Those two weeks (and nothing before them) were recomputed.
    recomputed = {m["partition"] for m in ui.materializations("trained_model") if float(m["timestamp"]) / 1000 > started}
    assert recomputed == set(DEMO_WEEKS[-2:])
    # The weekly run rebuilt metrics_history after its two weeks: no run of its own, no daemon iteration.
    history = [m for m in ui.materializations("metrics_history") if float(m["timestamp"]) / 1000 > started]
    assert history and {m["runId"] for m in history} <= {r["runId"] for r in done["runs"]}, (history, done["runs"])


def test_weekly_metrics_plots_one_point_per_week(ui, page):
    answers = []

    def keep(response):
        if "graphql" in response.url and "AssetPartitionEventsQuery" in (response.request.post_data or ""):
            answers.append((json.loads(response.request.post_data)["variables"], response.json()))

    page.on("response", keep)
    page.goto(f"{ui.url}/assets/weekly_metrics")
    page.get_by_role("button", name="Plots").click()
    page.locator("canvas").first.wait_for()
    page.get_by_text("Metadata", exact=True).first.scroll_into_view_if_needed()
    shot(page, "weekly-metrics-plots")
    page.remove_listener("response", keep)
    assert answers, "the Plots view asked for no partition"
    variables, data = answers[-1]
    assert variables["partitions"] == DEMO_WEEKS  # the x axis: one point per week, every week
    events = data["data"]["assetNodeOrError"]["latestMaterializationByPartition"]
    points = [e for e in events if e and any(m["__typename"] == "FloatMetadataEntry" and m["label"] == "map_at_10"
                                             for m in e["metadataEntries"])]
    assert len(points) == len(DEMO_WEEKS) - 1  # map_at_10: every week but the first (no previous model)
    assert page.locator("canvas").count() >= 20  # a chart per metric


def test_the_weekly_run_rebuilds_metrics_history_which_shows_its_chart(ui, page):
    before = max(float(m["timestamp"]) for m in ui.materializations("metrics_history"))
    launched = ui.graphql(
        """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
             __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }""",
        {"p": {"selector": {"repositoryLocationName": "vodrec_assets", "repositoryName": "__repository__",
                            "pipelineName": "weekly_retrain"},
               "executionMetadata": {"tags": [{"key": "dagster/partition", "value": DEMO_WEEKS[-1]}]}}})
    assert launched["launchPipelineExecution"]["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["launchPipelineExecution"]["run"]["runId"]
    refreshed = wait_until(
        lambda: [m for m in ui.materializations("metrics_history") if float(m["timestamp"]) > before],
        timeout=420, interval=5, what="metrics_history rebuilt after the weekly run's week")
    assert [m["runId"] for m in refreshed] == [run_id]  # by the weekly run itself, not a run of its own
    page.goto(f"{ui.url}/assets/metrics_history")
    page.locator("tr", has_text="plot").filter(has_not_text="plot_path").get_by_text("[Show Markdown]").click()
    chart = page.locator("img[src^='data:image/png']")
    chart.wait_for()
    assert chart.evaluate("img => img.naturalWidth") > 300
    shot(page, "metrics-history-chart")


def test_schedule_preview_names_the_week_that_just_ended(ui, page):
    now = datetime.now(SEOUL)
    tick = (now + timedelta(days=7 - now.weekday())).replace(hour=3, minute=0, second=0, microsecond=0)
    week = (tick.date() - timedelta(days=7)).isoformat()
    utc = tick.astimezone(timezone.utc)
    label = f"{utc:%b} {utc.day}, " + (f"{utc.year}, " if utc.year != datetime.now(timezone.utc).year else "") + \
        f"{utc.hour % 12 or 12}:{utc:%M} {'AM' if utc.hour < 12 else 'PM'} UTC"
    page.goto(f"{ui.url}/locations/vodrec_assets/schedules/weekly_retrain_schedule")
    page.get_by_role("button", name="Preview tick result").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Select an evaluation time to simulate").wait_for()
    dialog.locator("button", has_text="UTC").first.click()  # the tick picker, once the ticks have loaded
    page.get_by_text(label, exact=True).click()
    dialog.get_by_role("button", name="Continue").click()
    reason = dialog.get_by_text("Skip reason", exact=False)
    reason.wait_for()
    shot(page, "schedule-preview")
    assert f"the week that just ended, {week}, is after the last weekly partition {DEMO_WEEKS[-1]}" in reason.inner_text()
    schedule = ui.graphql('{ scheduleOrError(scheduleSelector: {repositoryLocationName: "vodrec_assets", '
                          'repositoryName: "__repository__", scheduleName: "weekly_retrain_schedule"}) '
                          '{ ... on Schedule { scheduleState { status } } } }')["scheduleOrError"]
    assert schedule["scheduleState"]["status"] == "STOPPED"  # off until an operator turns it on


def test_a_range_of_weeks_from_the_launchpad_runs_each_week_in_one_run(ui, page):
    """Jobs -> weekly_retrain_range -> Launchpad: the range typed into the config editor, Launch Run; one
    run, and inside it a weekly_retrain run per week, oldest first (docs/ui.md, docs/performance.md)."""
    first, last = DEMO_WEEKS[-3], DEMO_WEEKS[-1]
    page.goto(f"{ui.url}/locations/vodrec_assets/jobs/weekly_retrain_range/playground")
    editor = page.locator(".CodeMirror").first
    editor.wait_for()
    editor.click()
    page.keyboard.press("Control+A")
    # insert_text: no key events, so the editor's auto-indent does not reshape the YAML
    page.keyboard.insert_text(f"ops:\n  retrain_weeks:\n    config:\n      first_week: '{first}'\n"
                              f"      last_week: '{last}'\n")
    launch = page.get_by_role("button", name="Launch Run")
    wait_until(lambda: launch.is_enabled(), timeout=60, interval=1, what="the config validated")
    shot(page, "range-launchpad")
    started = time.time()
    launch.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)
    status = wait_until(
        lambda: (s := ui.graphql('query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }',
                                 {"id": run_id})["runOrError"]["status"]) in ("SUCCESS", "FAILURE", "CANCELED") and s,
        timeout=600, interval=3, what=f"the range run {run_id}")
    ui.timings["three_week_range_run_seconds"] = time.time() - started
    assert status == "SUCCESS"
    weeks = ui.graphql('query($tag: String!) { runsOrError(filter: {tags: [{key: "vodrec/range_run", value: $tag}]}) '
                       '{ ... on Runs { results { status tags { key value } startTime } } } }',
                       {"tag": run_id})["runsOrError"]["results"]
    by_start = sorted(weeks, key=lambda r: r["startTime"])
    assert [next(t["value"] for t in r["tags"] if t["key"] == "dagster/partition") for r in by_start] == DEMO_WEEKS[-3:]
    assert all(r["status"] == "SUCCESS" for r in weeks), weeks
    page.get_by_text("Success", exact=False).first.wait_for()
    shot(page, "range-run")


@pytest.fixture(scope="module", autouse=True)
def _developer_settings_untouched():
    """The test works in a folder of its own: the developer's .vodrec keeps its pinned partitions."""
    path = REPO / ".vodrec" / "local_settings.json"
    before = path.read_text() if path.exists() else None
    yield
    assert (path.read_text() if path.exists() else None) == before
