"""The dashboard in a real browser: headless Chromium against the real server.

The server (``experiment_manager.web.create_app``) runs in a background thread under
uvicorn on a free port of 127.0.0.1, over log folders built here with
``ExperimentManager``. Chromium is Debian's (``/usr/bin/chromium``), driven by
Playwright; no browser is downloaded. The pages run under the server's
Content-Security-Policy, so these tests also show that nothing on them (the uPlot
chart library included) needs ``eval``, inline scripts or inline styles: any CSP
violation fails the test. What the chart draws is read from its ``metricChart``
object (``traces()``: the data of each drawn curve; ``describe()``: the axes).

Every test saves screenshots of the pages it visits under its ``tmp_path`` and prints
their paths (``pytest -s`` shows them).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.web._background import BackgroundServer
from tests import _chromium
from tests._chromium import VIEWPORT, Watch

pytestmark = pytest.mark.slow

# The browser fixtures (tests/_chromium.py): one Chromium per module, a page per test.
browser = _chromium.browser
page = _chromium.page
shot = _chromium.shot

#: The scripts the pages load; anything else in the DOM is an injection.
OUR_SCRIPTS = {
    "/static/common.js",
    "/static/index.js",
    "/static/chart.js",
    "/static/panels.js",
    "/static/hparams.js",
    "/static/groups.js",
    "/static/compare.js",
    "/static/experiment.js",
    "/static/version.js",
    "/static/vendor/uPlot.iife.min.js",
}

XSS_PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "javascript:alert(1)",
    "{{7*7}}",
    "</title><script>alert(1)</script>",
]

LOSS_V1 = [1.0 / (i + 1) for i in range(40)]
LOSS_V2 = [2.0 / (i + 1) for i in range(40)]
LOSS_V2[7] = math.nan  # drawn as a gap
ACC_V1 = [i / 40 for i in range(40)]
ACC_V2 = [i / 80 for i in range(40)]


# ---- Server and browser ------------------------------------------------------------


def build_main_log_dir(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    metadata = {"dataset_version": "v2"}
    with manager.experiment("resnet", {"lr": 0.1, "batch": 32}, metadata):
        for loss, acc in zip(LOSS_V1, ACC_V1, strict=True):
            manager.log({"loss": loss, "acc": acc})
    with manager.experiment("resnet", {"lr": 0.01, "batch": 32}, metadata):
        for loss, acc in zip(LOSS_V2, ACC_V2, strict=True):
            manager.log({"loss": loss, "acc": acc})
    checkpoint = log_dir / "weights-v3.bin"
    checkpoint.write_bytes(b"12345")
    with manager.experiment("resnet", {"lr": 0.001, "batch": 64}, metadata):
        manager.log({"loss": 0.5})
        manager.add_checkpoint(str(checkpoint), step=0, metrics={"loss": 0.5})
    manager.start_experiment("other", {"a": 1}, {})
    manager.log({"loss": 3.0})
    manager.end_experiment("killed")
    manager.resume_experiment("other", 1)
    manager.log({"loss": 2.0})
    manager.end_experiment()
    manager.start_experiment("other", {"a": 2}, {})
    manager.log({"loss": math.inf})
    manager.end_experiment("failed", "diverged at step 1")
    (log_dir / "broken.json").write_text("{not json", encoding="utf-8")


def build_xss_log_dir(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    for index, payload in enumerate(XSS_PAYLOADS):
        hyperparameters = {payload: payload, "nested": {payload: [payload]}, "i": index}
        for experiment_id in ("xss", None):
            manager.start_experiment(payload, hyperparameters, {payload: payload}, experiment_id)
            manager.log({name: float(index + n) for n, name in enumerate(XSS_PAYLOADS)})
            manager.log({"loss": float(index)})
            manager.add_checkpoint(payload, step=1, metrics={payload: 1.0})
            manager.end_experiment("failed", payload)


@pytest.fixture(scope="module")
def main_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log_dir = tmp_path_factory.mktemp("dashboard-logs")
    build_main_log_dir(log_dir)
    return log_dir


@pytest.fixture(scope="module")
def server(main_log_dir: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(main_log_dir) as live:
        yield live


@pytest.fixture(scope="module")
def xss_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    log_dir = tmp_path_factory.mktemp("dashboard-xss")
    build_xss_log_dir(log_dir)
    with BackgroundServer(log_dir) as live:
        yield live


# ---- Helpers -------------------------------------------------------------------------


def wait_ready(page: Any) -> None:
    # Functions, not expressions: Playwright evaluates a bare expression with eval,
    # which the dashboard's CSP (rightly) forbids.
    page.wait_for_function("() => document.body.dataset.ready !== undefined")


def wait_table(page: Any, sort: str, order: str, offset: int = 0, filter_text: str = "") -> None:
    """Until the versions table shows the page the server sorted and filtered so."""
    page.wait_for_function(
        "(key) => document.body.dataset.table === key",
        arg="|".join([sort, order, str(offset), filter_text]),
    )


def table_versions(page: Any) -> list[int]:
    texts = page.locator("#versions tbody tr td:nth-child(2)").all_inner_texts()
    return [int(text.removeprefix("v")) for text in texts]


def chart_traces(page: Any) -> list[dict[str, Any]]:
    traces: list[dict[str, Any]] = page.evaluate(
        """() => document.getElementById('chart').metricChart.traces().map(t => ({
            version: t.version, role: t.role, name: t.label, visible: t.visible,
            x: t.x, y: t.y}))"""
    )
    return traces


def draws(page: Any) -> int:
    return int(page.evaluate("() => Number(document.getElementById('chart').dataset.draws || 0)"))


def wait_draws_after(page: Any, count: int) -> None:
    page.wait_for_function(
        """(n) => {
            const chart = document.getElementById('chart');
            return Number(chart.dataset.draws || 0) > n && !chart.classList.contains('loading');
        }""",
        arg=count,
    )


def wait_chart_versions(page: Any, versions: list[int], role: str = "main") -> None:
    page.wait_for_function(
        """([wanted, role]) => {
            const chart = document.getElementById('chart');
            if (chart.classList.contains('loading')) return false;
            const traces = chart.metricChart.traces();
            const got = traces.filter(t => t.role === role).map(t => t.version);
            return got.join(',') === wanted.join(',');
        }""",
        arg=[versions, role],
    )


def expected_y(values: list[float]) -> list[float | None]:
    return [None if math.isnan(v) else v for v in values]


def injected(page: Any) -> list[str]:
    """Elements or attributes that only an injection could have put in the page."""
    found: list[str] = page.evaluate(
        """(ours) => {
            const bad = [];
            if (document.querySelector('img[src="x"]')) bad.push('img[src=x]');
            if (document.querySelector('svg[onload]')) bad.push('svg[onload]');
            for (const s of document.querySelectorAll('script')) {
                const path = s.src ? new URL(s.src).pathname : null;
                if (!path || !ours.includes(path)) {
                    bad.push('script ' + (s.src || s.text.slice(0, 60)));
                }
            }
            for (const el of document.querySelectorAll('*')) {
                for (const attr of el.attributes) {
                    if (attr.name.toLowerCase().startsWith('on')) {
                        bad.push(el.tagName + '[' + attr.name + ']');
                    }
                }
            }
            for (const a of document.querySelectorAll('[href]')) {
                const href = a.getAttribute('href').trim().toLowerCase();
                if (href.startsWith('javascript:')) bad.push('href ' + href);
            }
            if (document.title.includes('<')) bad.push('title ' + document.title);
            return bad;
        }""",
        sorted(OUR_SCRIPTS),
    )
    return found


# ---- Tests ---------------------------------------------------------------------------


def test_experiments_page_lists_sorts_and_searches(
    server: BackgroundServer, page: Any, shot: Any
) -> None:
    page.goto(server.url("/"))
    wait_ready(page)
    ids = page.locator("#experiments tbody tr td:first-child").all_inner_texts()
    assert sorted(ids) == ["broken", "other", "resnet"]
    broken = page.locator("#experiments tr.row-error")
    assert broken.count() == 1
    assert "broken" in broken.inner_text()
    assert "broken.json" in broken.inner_text()  # the library's message names the file
    resnet_row = page.locator("#experiments tbody tr", has=page.locator("a.id", has_text="resnet"))
    assert resnet_row.locator("td").nth(1).inner_text() == "3"
    assert "finished 3" in resnet_row.inner_text()
    other_row = page.locator("#experiments tbody tr", has=page.locator("a.id", has_text="other"))
    assert "failed 1" in other_row.inner_text()
    assert "acc, loss" in resnet_row.inner_text()
    assert page.locator("#experiments a.id", has_text="resnet").get_attribute("href") == (
        "/experiments/resnet"
    )

    header = page.locator("#experiments th", has_text=re.compile(r"^Experiment$"))
    header.click()
    assert page.locator("#experiments tbody tr td:first-child").all_inner_texts() == [
        "broken",
        "other",
        "resnet",
    ]
    header.click()
    assert page.locator("#experiments tbody tr td:first-child").all_inner_texts() == [
        "resnet",
        "other",
        "broken",
    ]
    page.locator("#experiments th", has_text=re.compile(r"^Versions$")).click()
    first = page.locator("#experiments tbody tr td:first-child").first.inner_text()
    page.locator("#experiments th", has_text=re.compile(r"^Versions$")).click()
    assert page.locator("#experiments tbody tr td:first-child").first.inner_text() != first

    page.fill("#exp-filter", "oth")
    assert page.locator("#experiments tbody tr td:first-child").all_inner_texts() == ["other"]
    page.fill("#exp-filter", "")

    page.fill("#search-q", "hp.lr < 0.05 and metrics.loss.min <= 0.1")
    page.click("#search-form button[type=submit]")
    page.wait_for_function("() => document.body.dataset.searched === 'ok'")
    rows = page.locator("#search-results tbody tr")
    assert rows.count() == 1
    assert rows.first.locator("td").nth(0).inner_text() == "resnet"
    assert rows.first.locator("td").nth(1).inner_text() == "v2"
    assert "finished" in rows.first.inner_text()
    assert "loss" in rows.first.inner_text()
    assert "q=hp.lr" in page.url
    # broken.json was skipped: the results say so, naming it (relative to the log folder).
    damaged = page.locator("#search-damaged")
    assert "1 history file cannot be read" in damaged.inner_text()
    assert damaged.locator("li").count() == 1
    named = damaged.locator("li").first.inner_text()
    assert named.startswith("broken: corrupt history file 'broken.json'")
    shot("experiments-search")

    page.fill("#search-q", "status = finished")
    page.click("#search-form button[type=submit]")
    page.wait_for_function("() => document.body.dataset.searched === 'error'")
    box = page.locator("#search-results .error-box")
    assert "QuerySyntaxError" in box.inner_text()
    assert page.locator("#search-results .caret-query").inner_text() == "status = finished"
    assert page.locator("#search-results .caret-mark").text_content() == " " * 9 + "^"
    shot("experiments-query-error")
    page.watch.assert_clean()


def test_experiment_page_overlay_diff_and_shared_url(
    server: BackgroundServer, page: Any, shot: Any, browser: Any
) -> None:
    page.goto(server.url("/"))
    wait_ready(page)
    page.locator("#experiments a.id", has_text="resnet").click()
    page.wait_for_url(re.compile(r"/experiments/resnet"))
    wait_ready(page)
    versions = page.locator("#versions tbody tr td:nth-child(2)").all_inner_texts()
    assert versions == ["v3", "v2", "v1"]  # newest first

    page.click("#select-none")
    page.check("input.row-select[data-version='1']")
    page.check("input.row-select[data-version='2']")
    wait_chart_versions(page, [1, 2])
    traces = chart_traces(page)
    assert [t["version"] for t in traces] == [1, 2]
    assert traces[0]["x"] == list(range(40))
    assert traces[0]["y"] == LOSS_V1
    assert traces[1]["y"] == expected_y(LOSS_V2)
    assert "versions=1,2" in page.url
    assert "metric=loss" in page.url

    page.wait_for_function("() => document.body.dataset.compared === '1,2'")
    hp = page.locator("[data-diff=hyperparameters] tbody tr")
    assert hp.count() == 1  # only lr differs
    assert hp.first.locator("th").inner_text() == "lr"
    assert hp.first.locator("td").all_inner_texts() == ["0.1", "0.01"]
    assert "identical" in page.locator("[data-diff=metadata]").inner_text()
    shot("experiment-overlay")

    # Another metric, log scale, smoothing.
    page.select_option("#metric-select", "acc")
    page.wait_for_function(
        "() => { const c = document.getElementById('chart');"
        " return c.metricChart.describe().yLabel === 'acc' && !c.classList.contains('loading'); }"
    )
    assert [t["y"] for t in chart_traces(page)] == [ACC_V1, ACC_V2]
    assert "metric=acc" in page.url
    page.check("#log-toggle")
    page.wait_for_function("() => document.getElementById('chart').metricChart.describe().yLog")
    page.uncheck("#log-toggle")
    page.locator("#smoothing").fill("0.5")
    wait_chart_versions(page, [1, 2], role="smoothed")
    traces = chart_traces(page)
    assert [t["role"] for t in traces] == ["raw", "raw", "smoothed", "smoothed"]
    assert traces[0]["y"] == ACC_V1
    smoothed, last = [], 0.0
    for n, value in enumerate(ACC_V1, start=1):
        last = last * 0.5 + 0.5 * value
        smoothed.append(last / (1 - 0.5**n))
    assert traces[2]["y"] == pytest.approx(smoothed)
    page.locator("#smoothing").fill("0")
    wait_chart_versions(page, [1, 2])

    # Legend click hides a curve (the legend's first entry is the x value).
    page.locator("#chart .u-legend .u-series").nth(1).click()
    page.wait_for_function(
        "() => document.getElementById('chart').metricChart.traces()[0].visible === false"
    )
    assert chart_traces(page)[1]["visible"] is True
    page.locator("#chart .u-legend .u-series").nth(1).click()
    page.wait_for_function(
        "() => document.getElementById('chart').metricChart.traces()[0].visible === true"
    )

    # Zoom by drag: the visible range comes back at full resolution; double-click resets.
    page.select_option("#metric-select", "loss")
    wait_chart_versions(page, [1, 2])
    page.wait_for_function(
        "() => document.getElementById('chart').metricChart.describe().yLabel === 'loss'"
    )
    before = draws(page)
    area = page.locator("#chart .u-over").bounding_box()
    y = area["y"] + area["height"] / 2
    page.mouse.move(area["x"] + area["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.5, y, steps=4)
    page.mouse.up()
    wait_draws_after(page, before)
    low, high = page.evaluate(
        "() => document.getElementById('chart').metricChart.describe().xRange"
    )
    zoomed = chart_traces(page)
    assert 5 < low < high < 30
    pad = (high - low) * 0.011
    assert all(low - pad <= x <= high + pad for x in zoomed[0]["x"])
    steps_in_view = [s for s in range(40) if low <= s <= high]
    assert set(steps_in_view) <= set(zoomed[0]["x"])
    assert "zoomed" in page.locator("#chart-status").inner_text()
    before = draws(page)
    page.mouse.dblclick(area["x"] + area["width"] * 0.5, y)
    wait_draws_after(page, before)
    page.wait_for_function(
        "() => document.getElementById('chart').metricChart.traces()[0].x.length === 40"
    )
    assert page.evaluate(
        "() => document.getElementById('chart').metricChart.describe().xRange"
    ) == [0, 39]

    # The versions table: sort, filter, column chooser.
    page.locator("#versions th", has_text=re.compile(r"^Version$")).click()
    wait_table(page, "version", "asc")
    assert page.locator("#versions tbody tr td:nth-child(2)").all_inner_texts() == [
        "v1",
        "v2",
        "v3",
    ]
    page.fill("#version-filter", "lr=0.01")
    wait_table(page, "version", "asc", 0, "lr=0.01")
    assert page.locator("#versions tbody tr td:nth-child(2)").all_inner_texts() == ["v2"]
    assert "filter=lr%3D0.01" in page.url
    assert page.locator("#selection-count").inner_text() == "1 of 3 match · 2 selected"
    page.fill("#version-filter", "")
    wait_table(page, "version", "asc")
    assert page.locator("#versions th", has_text="loss last").count() == 1
    page.click("#column-chooser summary")
    page.uncheck("#column-list input[data-column='m:last:loss']")
    assert page.locator("#versions th", has_text="loss last").count() == 0
    page.check("#column-list input[data-column='m:min:loss']")
    assert page.locator("#versions th", has_text="loss min").count() == 1
    page.click("#column-chooser summary")

    # Checkpoints of the selection.
    page.check("input.row-select[data-version='3']")
    page.wait_for_function("() => document.body.dataset.compared === '1,2,3'")
    assert "weights-v3.bin" in page.locator("#checkpoints").inner_text()
    shot("experiment-table")

    # The URL is the view: a new tab opened on it shows the same selection and metric.
    shared = page.url
    assert "versions=1,2,3" in shared
    other = browser.new_page(viewport=VIEWPORT)
    try:
        other.goto(shared)
        wait_ready(other)
        wait_chart_versions(other, [1, 2, 3])
        assert other.locator("#metric-select").input_value() == "loss"
        checked = other.locator("input.row-select:checked")
        assert sorted(
            int(v) for v in checked.evaluate_all("els => els.map(e => e.dataset.version)")
        ) == [1, 2, 3]
    finally:
        other.close()
    page.watch.assert_clean()


def test_curves_that_arrive_before_the_chart_library_are_drawn(
    server: BackgroundServer, page: Any, shot: Any
) -> None:
    # The library is the page's last script; hold it back until the curves are in.
    def late(route: Any) -> None:
        time.sleep(1.5)
        route.continue_()

    page.route("**/static/vendor/uPlot.iife.min.js", late)
    page.goto(server.url("/experiments/resnet?versions=1,2&metric=loss"))
    wait_ready(page)
    wait_chart_versions(page, [1, 2])
    assert [t["y"] for t in chart_traces(page)] == [LOSS_V1, expected_y(LOSS_V2)]
    series_end, library_end = page.evaluate(
        """() => {
            const end = (part) => performance.getEntriesByType('resource')
                .find(e => e.name.includes(part)).responseEnd;
            return [end('/series?'), end('uPlot.iife.min.js')];
        }"""
    )
    assert series_end < library_end
    shot("late-library")
    page.watch.assert_clean()


def test_version_page_shows_everything_recorded(
    server: BackgroundServer, page: Any, shot: Any
) -> None:
    page.goto(server.url("/experiments/resnet/versions/3"))
    wait_ready(page)
    hp = page.locator("#hyperparameters").inner_text()
    assert "lr" in hp
    assert "0.001" in hp
    assert "batch" in hp
    assert "dataset_version" in page.locator("#metadata").inner_text()
    checkpoints = page.locator("#checkpoints tbody tr")
    assert checkpoints.count() == 1
    row = checkpoints.first.inner_text()
    assert "weights-v3.bin" in row
    assert "exists" in row
    assert "5 B" in row
    assert "loss=0.5" in row
    metrics = page.locator("#metrics table.data tbody").inner_text()
    assert "loss" in metrics
    page.wait_for_function(
        "() => document.getElementById('chart').metricChart.traces().length === 1"
    )

    download = page.locator("#download")
    href = download.get_attribute("href")
    assert href == "/api/experiments/resnet/versions/3?download=1"
    response = page.request.get(server.url(href))
    assert response.ok
    assert "attachment" in response.headers["content-disposition"]
    assert response.json()["version"] == 3
    shot("version-3")

    page.goto(server.url("/experiments/other/versions/1"))
    wait_ready(page)
    assert page.locator("#resumed tbody tr").count() == 1
    assert "killed" in page.locator("#resumed").inner_text()
    page.goto(server.url("/experiments/other/versions/2"))
    wait_ready(page)
    assert "diverged at step 1" in page.locator("#error").inner_text()
    assert "∞" in page.locator("#metrics table.data tbody").inner_text()
    shot("version-failed")
    page.watch.assert_clean()


def test_running_version_gains_points_live(
    server: BackgroundServer, main_log_dir: Path, page: Any, shot: Any
) -> None:
    manager = ExperimentManager(main_log_dir, capture_environment=False)
    manager.start_experiment("live", {"lr": 0.5}, {})
    try:
        for i in range(5):
            manager.log({"loss": float(i)})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(server.url("/experiments/live?versions=1&metric=loss"))
        wait_ready(page)
        wait_chart_versions(page, [1])
        assert chart_traces(page)[0]["y"] == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert page.locator("#live-indicator").is_visible()

        for i in range(5, 12):
            manager.log({"loss": float(i)})
        page.wait_for_function(
            "() => document.getElementById('chart').metricChart.traces()[0].y.length === 12",
            timeout=15_000,
        )
        traces = chart_traces(page)
        assert traces[0]["y"] == [float(i) for i in range(12)]
        assert traces[0]["x"] == list(range(12))
        polls = [url for url in requests if "/points?" in url]
        assert polls
        assert any("after=5" in url for url in polls)
        assert page.evaluate("() => document.getElementById('chart').dataset.draws") != "1"
        shot("live-running")
    finally:
        manager.end_experiment()

    # The page sees the version end and stops polling.
    page.wait_for_function("() => document.getElementById('live-indicator').hidden", timeout=15_000)
    count = len([url for url in requests if "/points?" in url])
    time.sleep(4.5)
    assert len([url for url in requests if "/points?" in url]) == count
    shot("live-finished")
    page.watch.assert_clean()


@pytest.mark.parametrize("csp", ["enforced", "bypassed"])
def test_stored_xss_never_executes(
    xss_server: BackgroundServer, browser: Any, tmp_path: Path, csp: str
) -> None:
    # With the CSP bypassed, an injected script or handler would run: the escaping
    # alone must keep every payload inert.
    context = browser.new_context(viewport=VIEWPORT, bypass_csp=csp == "bypassed")
    page = context.new_page()
    page.set_default_timeout(20_000)
    watch = Watch(page)
    shots: list[Path] = []

    def visit(path: str, name: str | None = None) -> None:
        page.goto(xss_server.url(path))
        wait_ready(page)
        check(path, name)

    def check(where: str, name: str | None = None) -> None:
        assert injected(page) == [], where
        assert watch.dialogs == [], where
        if name:
            shots.append(tmp_path / f"{name}.png")
            page.screenshot(path=str(shots[-1]), full_page=True)

    try:
        visit("/", "index")
        text = page.locator("#experiments").inner_text()
        for payload in XSS_PAYLOADS:
            assert payload in text  # shown as text, not interpreted

        page.fill("#search-q", f"config_name = '{XSS_PAYLOADS[0]}'")
        page.click("#search-form button[type=submit]")
        page.wait_for_function("() => document.body.dataset.searched === 'ok'")
        assert page.locator("#search-results tbody tr").count() == 2
        check("search results")
        page.fill("#search-q", XSS_PAYLOADS[1])
        page.click("#search-form button[type=submit]")
        page.wait_for_function("() => document.body.dataset.searched === 'error'")
        assert page.locator(".caret-query").inner_text() == XSS_PAYLOADS[1]
        check("search error", "search-error")

        # One experiment whose versions carry every payload; each payload metric in turn
        # becomes the chart's axis title (drawn on the canvas), and the config names are
        # the legend entries (text in the page).
        all_versions = list(range(1, len(XSS_PAYLOADS) + 1))
        everything = ",".join(map(str, all_versions))
        visit(f"/experiments/xss?versions={everything}&metric={quote(XSS_PAYLOADS[0])}")
        page.wait_for_function("() => document.body.dataset.compared !== undefined")
        for n, payload in enumerate(XSS_PAYLOADS):
            page.select_option("#metric-select", payload)
            page.wait_for_function(
                """(metric) => {
                    const chart = document.getElementById('chart');
                    return !chart.classList.contains('loading')
                        && chart.metricChart.describe().yLabel === metric;
                }""",
                arg=payload,
            )
            wait_chart_versions(page, all_versions)
            names = [t["name"] for t in chart_traces(page)]
            legend = page.locator("#chart .u-legend").text_content() or ""
            assert all(name in legend for name in names)  # as text, never as markup
            assert any(payload in name for name in names)
            page.locator("#chart .u-legend .u-series").nth(1).click()
            page.mouse.move(700, 600)
            check(f"chart of {payload}", f"xss-chart-{n}")
        table = page.locator("#versions").inner_text()
        diff = page.locator("#diff").inner_text()
        for payload in XSS_PAYLOADS:
            assert payload in table
            assert payload in diff
        assert XSS_PAYLOADS[3] in page.locator("#checkpoints").inner_text()

        for version in all_versions:
            visit(f"/experiments/xss/versions/{version}")
            payload = XSS_PAYLOADS[version - 1]
            assert payload in page.locator("#hyperparameters").inner_text()
            assert payload in page.locator("#checkpoints").inner_text()
            assert payload in page.locator("#error").inner_text()
            page.wait_for_function(
                "() => document.getElementById('chart').metricChart.traces().length === 1"
            )
            check(f"version {version}", f"xss-v{version}" if version == 1 else None)

        # The experiments named after the payloads (their ids are slugs of them).
        for link in experiment_links(xss_server, page):
            if link != "/experiments/xss":
                visit(link)
        watch.assert_clean()
    finally:
        for path in shots:
            print(f"screenshot: {path}")
        context.close()


BIG = 230  # versions: three pages of the table
DASH = "\u2013"  # the pager writes ranges as 1\u2013100


def big_loss(i: int) -> float:
    return ((i * 37) % BIG) / BIG  # every value once, in a scrambled order


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BackgroundServer, Any]]:
    log_dir = tmp_path_factory.mktemp("dashboard-big")
    manager = ExperimentManager(log_dir, capture_environment=False)
    for i in range(BIG):
        hyperparameters = {"lr": [0.1, 0.01, 0.001][i % 3], "seed": i}
        manager.start_experiment(f"c{i % 4}", hyperparameters, {}, experiment_id="big")
        manager.log_metrics({"loss": [1.0, big_loss(i)]})
        manager.end_experiment()
    with BackgroundServer(log_dir) as live:
        yield live, manager


def test_big_experiment_sorts_and_pages_on_the_server(
    big: tuple[BackgroundServer, Any], page: Any, shot: Any
) -> None:
    server, manager = big
    summaries = manager.list_versions("big")
    by_loss = [s["version"] for s in sorted(summaries, key=lambda s: big_loss(s["version"] - 1))]
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(server.url("/experiments/big"))
    wait_ready(page)
    wait_table(page, "version", "desc")
    # Only one page of rows is in the DOM, the newest first; the pager counts them all.
    assert page.locator("#versions tbody tr").count() == 100
    assert table_versions(page) == list(range(BIG, BIG - 100, -1))
    assert page.locator("#page-info").inner_text() == f"1{DASH}100 of {BIG}"
    assert page.locator("#summary").inner_text().startswith(f"{BIG} versions")
    assert page.locator("input.row-select:checked").count() == 5  # the five newest
    wait_chart_versions(page, list(range(BIG - 4, BIG + 1)))

    # A click on a metric's header sorts all the versions on the server.
    page.locator("#versions th", has_text=re.compile(r"^loss last$")).click()
    wait_table(page, "metrics.loss.last", "asc")
    assert table_versions(page) == by_loss[:100]
    assert table_versions(page)[0] == by_loss[0]  # the lowest loss of all 230
    assert page.locator("#versions tbody tr").first.locator("td").nth(1).inner_text() == (
        f"v{by_loss[0]}"
    )
    assert page.locator("#versions th.sorted-asc").inner_text() == "loss last"
    assert any("sort=metrics.loss.last" in url and "limit=100" in url for url in requests)
    shot("big-sorted")

    # The next page is the next 100 rows of the same order; still 100 rows in the DOM.
    page.click("#page-next")
    wait_table(page, "metrics.loss.last", "asc", 100)
    assert table_versions(page) == by_loss[100:200]
    assert page.locator("#versions tbody tr").count() == 100
    assert page.locator("#page-info").inner_text() == f"101{DASH}200 of {BIG}"
    page.click("#page-next")
    wait_table(page, "metrics.loss.last", "asc", 200)
    assert table_versions(page) == by_loss[200:]
    assert page.locator("#page-next").is_disabled()

    # Selecting on another page adds to the chart; the selection survives page turns.
    chosen = by_loss[-1]
    page.check(f"input.row-select[data-version='{chosen}']")
    wait_chart_versions(page, sorted([*range(BIG - 4, BIG + 1), chosen]))
    page.click("#page-first")
    wait_table(page, "metrics.loss.last", "asc", 0)
    assert page.locator("#selection-count").inner_text() == "6 selected"
    assert f"versions={','.join(map(str, sorted([chosen, *range(BIG - 4, BIG + 1)])))}" in (
        page.url
    )

    # Descending: the highest loss first.
    page.locator("#versions th", has_text=re.compile(r"^loss last$")).click()
    wait_table(page, "metrics.loss.last", "desc")
    assert table_versions(page) == by_loss[::-1][:100]

    # The filter runs on the server over all versions, and pages too.
    page.fill("#version-filter", "lr=0.001")
    wait_table(page, "metrics.loss.last", "desc", 0, "lr=0.001")
    expected = [v for v in by_loss[::-1] if (v - 1) % 3 == 2]
    assert table_versions(page) == expected
    assert page.locator("#page-info").inner_text() == f"1{DASH}{len(expected)} of {len(expected)}"
    assert page.locator("#selection-count").inner_text() == (
        f"{len(expected)} of {BIG} match · 6 selected"
    )
    shot("big-filtered")
    page.watch.assert_clean()


def test_search_shows_the_true_total_the_fields_and_pages(
    big: tuple[BackgroundServer, Any], page: Any, shot: Any
) -> None:
    server, manager = big
    query = "metrics.loss.last < 0.8 and hp.lr > 0.005"
    matching = manager.search(query, order_by="metrics.loss.last")
    assert len(matching) > 100
    page.goto(server.url("/"))
    wait_ready(page)
    page.fill("#search-q", query)
    page.fill("#search-order", "metrics.loss.last")
    page.click("#search-form button[type=submit]")
    page.wait_for_function("() => document.body.dataset.searched === 'ok'")
    count = page.locator("#search-results .result-count").inner_text()
    assert count == f"{len(matching)} matching versions (1{DASH}100 shown)"
    assert page.locator("#search-results tbody tr").count() == 100
    headers = page.locator("#search-results th").all_inner_texts()
    assert "metrics.loss.last" in headers
    assert "hyperparameters.lr" in headers
    rows = page.locator("#search-results tbody tr")
    lr_column = headers.index("hyperparameters.lr")
    loss_column = headers.index("metrics.loss.last")
    first = matching[0]
    assert rows.first.locator("td").nth(1).inner_text() == f"v{first['version']}"
    assert rows.first.locator("td").nth(lr_column).inner_text() == str(
        first["hyperparameters"]["lr"]
    )
    assert float(rows.first.locator("td").nth(loss_column).inner_text()) == pytest.approx(
        first["metric_summaries"]["loss"]["last"], rel=1e-4
    )
    shot("search-total")

    page.click("#search-next")
    page.wait_for_function("() => (document.body.dataset.searchedAt || '').startsWith('100|')")
    assert page.locator("#search-results tbody tr").count() == len(matching) - 100
    versions = page.locator("#search-results tbody tr td:nth-child(2)").all_inner_texts()
    assert versions == [f"v{r['version']}" for r in matching[100:]]
    assert page.locator("#search-page-info").inner_text() == (
        f"101{DASH}{len(matching)} of {len(matching)}"
    )
    assert "offset=100" in page.url

    # A header orders the whole search on the server.
    page.locator("#search-results th", has_text=re.compile(r"^metrics.loss.last$")).click()
    page.wait_for_function(
        "() => (document.body.dataset.searchedAt || '').startsWith('0|metrics.loss.last desc|')"
    )
    top = manager.search(query, order_by="metrics.loss.last desc", limit=1)[0]
    assert page.locator("#search-results tbody tr").first.locator("td").nth(1).inner_text() == (
        f"v{top['version']}"
    )
    page.watch.assert_clean()


def experiment_links(server: BackgroundServer, page: Any) -> list[str]:
    page.goto(server.url("/"))
    wait_ready(page)
    links: list[str] = page.locator("#experiments a.id").evaluate_all(
        "els => els.map(a => a.getAttribute('href'))"
    )
    assert len(links) == len(XSS_PAYLOADS) + 1
    return links


_RESUME_PIXELS = """() => {
    // How much of the plot's height, in one pixel column, has the marker's colour.
    const chart = document.getElementById('chart').metricChart;
    const u = chart.plot;
    const mark = chart.resumeMarks()[0];
    const ctx = u.ctx.canvas.getContext('2d');
    const rgb = [1, 3, 5].map((i) => parseInt(mark.color.slice(i, i + 2), 16));
    const share = (px) => {
        const data = ctx.getImageData(px, u.bbox.top, 1, u.bbox.height).data;
        let hits = 0;
        for (let i = 0; i < data.length; i += 4) {
            const off = Math.abs(data[i] - rgb[0]) + Math.abs(data[i + 1] - rgb[1])
                + Math.abs(data[i + 2] - rgb[2]);
            if (off < 60 && data[i + 3] > 128) hits += 1;
        }
        return hits / (data.length / 4);
    };
    const column = Math.round(u.valToPos(mark.x, 'x', true));
    return {at: Math.max(share(column), share(column + 1)), beside: share(column + 25)};
}"""


_COMPARE_PIXELS = _RESUME_PIXELS.replace(
    "const chart = document.getElementById('chart').metricChart;\n    const u = chart.plot;\n"
    "    const mark = chart.resumeMarks()[0];",
    "const chart = document.getElementById('compare-chart').comparePlot;\n"
    "    const u = chart.plot;\n    const mark = chart.resumes[0];",
)


def test_a_resumed_version_shows_a_labelled_resume_marker_without_superseded_points(
    browser: Any, tmp_path: Path, shot: Any
) -> None:
    log_dir = tmp_path / "resumed-logs"
    manager = ExperimentManager(log_dir, capture_environment=False, system_metrics=False)
    with manager.experiment("cfg", {"lr": 0.1}, experiment_id="resumed"):
        for step in range(20):
            manager.log({"loss": 1.0 / (step + 1)}, step=step)
    with manager.resume_experiment("resumed", from_step=15):  # crashed; back from step 15
        for step in range(15, 30):
            manager.log({"loss": 0.5 - step / 100})
    with manager.experiment("cfg", {"lr": 0.2}, experiment_id="resumed"):  # never resumed
        for step in range(30):
            manager.log({"loss": 0.3}, step=step)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.watch = Watch(page)
    try:
        with BackgroundServer(log_dir) as live:
            page.goto(live.url("/experiments/resumed?metric=loss&versions=1"))
            wait_ready(page)
            wait_chart_versions(page, [1])
            (trace,) = chart_traces(page)
            assert trace["x"] == list(range(30))  # the superseded steps 15-19 are not drawn
            assert trace["y"][14:16] == [1.0 / 15, 0.5 - 15 / 100]
            marks = page.evaluate(
                """() => document.getElementById('chart').metricChart.resumeMarks()
                    .map((m) => ({version: m.version, x: m.x, label: m.label}))"""
            )
            assert marks == [{"version": 1, "x": 15, "label": "v1 resumed from step 15"}]
            pixels = page.evaluate(_RESUME_PIXELS)
            assert pixels["at"] > 0.4, pixels  # a dashed line the plot's height
            assert pixels["beside"] < 0.1, pixels  # only the curve crosses elsewhere
            path = tmp_path / "resume-marker.png"
            page.screenshot(path=str(path), full_page=True)
            print(f"screenshot: {path}")
            # The compare page marks it too, in the colour of that version's curve.
            page.goto(live.url("/compare?refs=resumed@2,resumed@1"))
            page.wait_for_function(
                "() => Number(document.getElementById('compare-chart').dataset.draws || 0) > 0"
            )
            compared = page.evaluate(
                """() => document.getElementById('compare-chart').comparePlot.resumes
                    .map((m) => ({ref: m.ref, x: m.x, label: m.label}))"""
            )
            assert compared == [
                {"ref": "resumed@1", "x": 15, "label": "resumed@1 resumed from step 15"}
            ]
            pixels = page.evaluate(_COMPARE_PIXELS)
            assert pixels["at"] > 0.4, pixels
            assert pixels["beside"] < 0.1, pixels
            page.watch.assert_clean()
    finally:
        context.close()
