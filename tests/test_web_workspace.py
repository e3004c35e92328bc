"""The dashboard's workspace in headless Chromium: a panel per metric, lazily loaded.

Driven as in :mod:`tests.test_web_browser` (Debian's Chromium through Playwright, the
server's CSP in force: any violation, script error or dialog fails a test). Panels are
read from the ``metricPanels`` object of ``#panels`` and each panel's ``metricChart``.
"""

from __future__ import annotations

import io
import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.web._background import BackgroundServer
from tests import _chromium
from tests.test_web_browser import wait_ready

pytestmark = pytest.mark.slow

# The browser fixtures (tests/_chromium.py): one Chromium per module, a page per test.
browser = _chromium.browser
page = _chromium.page
shot = _chromium.shot

#: 3 ungrouped, 2 train/, 1 val/, 24 extra/ (far down the page), 1 system/.
METRICS = ["loss", "acc", "lr", "train/loss", "train/acc", "val/loss"]
METRICS += [f"extra/m{i:02d}" for i in range(24)] + ["system/cpu_percent"]


def build(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    for version in range(1, 4):
        tags = ["best"] if version == 2 else None
        name = "baseline" if version == 1 else None
        hyperparameters = {"lr": version / 10, "opt": "adam" if version == 2 else "sgd", "bs": 32}
        manager.start_experiment("sweep", hyperparameters, {}, "ws", name=name, tags=tags)
        for step in range(30):
            manager.log({m: (i + 1) * version / (step + 1) for i, m in enumerate(METRICS)}, step)
        manager.end_experiment()


@pytest.fixture(scope="module")
def ws_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    log_dir = tmp_path_factory.mktemp("workspace-logs")
    build(log_dir)
    with BackgroundServer(log_dir) as live:
        yield live


def panels(page: Any) -> list[dict[str, Any]]:
    described: list[dict[str, Any]] = page.evaluate(
        "() => document.getElementById('panels').metricPanels.describe()"
    )
    return described


def wait_loaded(page: Any, metric: str) -> None:
    page.wait_for_function(
        """(metric) => {
            const node = document.querySelector(`.panel-chart[data-metric="${metric}"]`);
            return node && node.metricChart && node.metricChart.plot
                && !node.classList.contains('loading') && Number(node.dataset.draws || 0) > 0;
        }""",
        arg=metric,
    )


def panel_call(page: Any, metric: str, body: str) -> Any:
    return page.evaluate(
        "([metric, body]) => { const c = document.querySelector("
        '`.panel-chart[data-metric="${metric}"]`).metricChart;'
        " return (new Function('c', body))(c); }",
        [metric, body],
    )


def traces(page: Any, metric: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        """(metric) => document.querySelector(`.panel-chart[data-metric="${metric}"]`)
            .metricChart.traces().map(t => ({version: t.version, label: t.label, y: t.y}))""",
        metric,
    )
    return found


def test_a_panel_per_metric_grouped_lazily_loaded_in_table_colours(
    ws_server: BackgroundServer, page: Any, shot: Any
) -> None:
    page.goto(ws_server.url("/experiments/ws?versions=1,2,3&metric=loss"))
    wait_ready(page)
    page.wait_for_function("() => document.getElementById('panels').dataset.panels === '31'")
    described = panels(page)
    groups = [g.get_attribute("data-group") for g in page.locator(".panel-group").all()]
    with urllib.request.urlopen(ws_server.url("/api/experiments/ws/panels")) as response:
        twin = json.load(response)
    # The JSON twin and the page group the same metrics the same way.
    assert groups == [g["name"] for g in twin["groups"]] == ["", "extra", "train", "val", "system"]
    assert [p["metric"] for p in described] == [m for g in twin["groups"] for m in g["metrics"]]

    wait_loaded(page, "loss")
    # Off-screen panels have not asked for anything yet; scrolling brings them in.
    assert not next(p for p in panels(page) if p["metric"] == "system/cpu_percent")["requested"]
    assert sum(p["requested"] for p in panels(page)) < 20
    page.locator(".metric-panel[data-metric='system/cpu_percent']").scroll_into_view_if_needed()
    wait_loaded(page, "system/cpu_percent")
    assert [t["version"] for t in traces(page, "system/cpu_percent")] == [1, 2, 3]
    assert traces(page, "loss")[1]["y"] == pytest.approx([2 / (s + 1) for s in range(30)])

    # Every curve has its version's colour, the colour of the version's swatch.
    colours = page.evaluate(
        """() => {
            const norm = (c) => { const p = document.createElement('span');
                                  p.style.backgroundColor = c; return p.style.backgroundColor; };
            const chart = document.querySelector('.panel-chart[data-metric="loss"]').metricChart;
            const swatches = {};
            for (const tr of document.querySelectorAll('#versions tbody tr')) {
                const v = tr.querySelector('input.row-select').dataset.version;
                swatches[v] = tr.querySelector('.swatch').style.backgroundColor;
            }
            return chart.series.map(s => [norm(s.color), swatches[String(s.version)]]);
        }"""
    )
    assert len(colours) == 3
    assert all(curve == swatch for curve, swatch in colours)
    assert len({curve for curve, _ in colours}) == 3

    # Names in the table and the legend (the focus chart's early request had "v1" only).
    page.wait_for_function(
        "() => document.getElementById('chart').metricChart.traces()[0].label === 'v1 baseline'"
    )
    assert "best" in page.locator("#versions tbody tr", has_text="v2").inner_text()

    # The panel's screenshot has the three curve colours drawn on it.
    page.locator(".metric-panel[data-metric='loss']").scroll_into_view_if_needed()
    wait_loaded(page, "loss")
    png = page.locator(".panel-chart[data-metric='loss'] canvas").screenshot()
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    drawn: set[tuple[int, ...]] = set()
    for _, rgb in image.getcolors(maxcolors=1 << 20) or []:
        assert isinstance(rgb, tuple)
        drawn.add(rgb)
    for _, swatch in colours:
        r, g, b = (int(part) for part in swatch[4:-1].split(","))
        assert any(abs(r - c[0]) + abs(g - c[1]) + abs(b - c[2]) < 30 for c in drawn), swatch
    shot("workspace")
    page.watch.assert_clean()


def test_panels_collapse_enlarge_reorder_and_zoom_together(
    ws_server: BackgroundServer, page: Any, shot: Any
) -> None:
    page.goto(ws_server.url("/experiments/ws?versions=1,2"))
    wait_ready(page)
    page.evaluate("() => window.localStorage.clear()")
    page.reload()
    wait_ready(page)
    wait_loaded(page, "acc")
    wait_loaded(page, "loss")
    first = [p["metric"] for p in panels(page)][:3]
    assert first == ["acc", "loss", "lr"]

    page.click("[aria-label='Move later: acc']")
    page.click("[aria-label='Enlarge: loss']")
    page.click("[aria-label='Collapse: lr']")
    state = {p["metric"]: p for p in panels(page)}
    assert [p["metric"] for p in panels(page)][:3] == ["loss", "acc", "lr"]
    assert state["loss"]["wide"]
    assert state["lr"]["collapsed"]
    assert page.locator(".panel-chart[data-metric='lr']").is_hidden()
    page.wait_for_function(
        """() => { const c = document.querySelector('.panel-chart[data-metric="loss"]')
                   .metricChart; return c.plot && c.plot.height === 380; }"""
    )

    # Zoom one panel by dragging: the others follow.
    wait_loaded(page, "acc")
    area = page.locator(".panel-chart[data-metric='acc'] .u-over").bounding_box()
    y = area["y"] + area["height"] / 2
    page.mouse.move(area["x"] + area["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.6, y, steps=4)
    page.mouse.up()
    page.wait_for_function(
        """() => { const d = (m) => document.querySelector(`.panel-chart[data-metric="${m}"]`)
                   .metricChart.describe().xRange;
                   const a = d('acc'), l = d('loss');
                   return a && l && a[1] < 25 && Math.abs(a[0] - l[0]) < 1e-9
                          && Math.abs(a[1] - l[1]) < 1e-9; }"""
    )
    # A panel loaded after the zoom (scrolled to) takes the same range.
    page.locator(".metric-panel[data-metric='val/loss']").scroll_into_view_if_needed()
    wait_loaded(page, "val/loss")
    acc_range = panel_call(page, "acc", "return c.describe().xRange;")
    page.wait_for_function(
        """(r) => { const x = document.querySelector('.panel-chart[data-metric="val/loss"]')
                    .metricChart.describe().xRange; return x && Math.abs(x[0] - r[0]) < 1e-9; }""",
        arg=acc_range,
    )
    shot("workspace-layout")

    # The layout is kept for the next visit.
    page.reload()
    wait_ready(page)
    page.wait_for_function("() => document.getElementById('panels').dataset.panels === '31'")
    state = {p["metric"]: p for p in panels(page)}
    assert [p["metric"] for p in panels(page)][:3] == ["loss", "acc", "lr"]
    assert state["loss"]["wide"]
    assert state["lr"]["collapsed"]
    page.click("#panels-reset")
    assert [p["metric"] for p in panels(page)][:3] == ["acc", "loss", "lr"]
    # The metric filter hides the other panels.
    page.fill("#panel-filter", "train/")
    shown = [p["metric"] for p in panels(page) if not p["hidden"]]
    assert shown == ["train/acc", "train/loss"]
    page.watch.assert_clean()


def test_integer_steps_get_integer_ticks(ws_server: BackgroundServer, page: Any) -> None:
    page.goto(ws_server.url("/experiments/ws?versions=1"))
    wait_ready(page)
    wait_loaded(page, "loss")
    area = page.locator(".panel-chart[data-metric='loss'] .u-over").bounding_box()
    y = area["y"] + area["height"] / 2
    page.mouse.move(area["x"] + area["width"] * 0.30, y)
    page.mouse.down()
    page.mouse.move(area["x"] + area["width"] * 0.37, y, steps=3)  # about two steps wide
    page.mouse.up()
    page.wait_for_function(
        """() => { const r = document.querySelector('.panel-chart[data-metric="loss"]')
                   .metricChart.describe().xRange; return r && r[1] - r[0] < 4; }"""
    )
    ticks = page.evaluate(
        """() => { const u = document.querySelector('.panel-chart[data-metric="loss"]')
                   .metricChart.plot; return u.axes[0]._splits || []; }"""
    )
    assert ticks
    assert all(float(t).is_integer() for t in ticks), ticks
    page.watch.assert_clean()


def test_parallel_coordinates_brush_the_table_and_the_scatter_selects(
    ws_server: BackgroundServer, page: Any, shot: Any
) -> None:
    page.goto(ws_server.url("/experiments/ws?versions=1,2&metric=loss"))
    wait_ready(page)
    page.locator("#hp-section").scroll_into_view_if_needed()
    page.wait_for_function("() => document.body.dataset.hparams === 'loss|last|3'")
    with urllib.request.urlopen(ws_server.url("/api/experiments/ws/hparams?metric=loss")) as answer:
        twin = json.load(answer)
    assert [a["key"] for a in twin["axes"]] == ["lr", "opt"]  # bs is the same everywhere
    assert [a["kind"] for a in twin["axes"]] == ["number", "category"]
    assert twin["versions"][1] == {"version": 2, "values": [0.2, "adam"], "metric": 2 / 30}
    options = page.locator("#hp-x option").all_inner_texts()
    assert options == ["lr", "opt"]
    assert page.evaluate("() => document.getElementById('parallel').parallelCoordinates.lines") == 3

    # Each version's line is drawn in its colour.
    png = page.locator("#parallel").screenshot()
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    drawn: set[tuple[int, ...]] = set()
    for _, rgb in image.getcolors(maxcolors=1 << 20) or []:
        assert isinstance(rgb, tuple)
        drawn.add(rgb)
    colours = page.evaluate(
        """() => [1, 2, 3].map((v) => { const p = document.createElement('span');
                 p.style.color = MetricChart.colorFor(v); return p.style.color; })"""
    )
    for colour in colours:
        r, g, b = (int(part) for part in colour[4:-1].split(","))
        assert any(abs(r - c[0]) + abs(g - c[1]) + abs(b - c[2]) < 30 for c in drawn), colour

    # Brush the top fifth of the lr axis: only v3 (lr 0.3) is in it, and the table says so.
    box = page.locator("#parallel").bounding_box()
    top, bottom = box["y"] + 28, box["y"] + box["height"] - 24
    x = box["x"] + 40
    page.mouse.move(x, top - 4)
    page.mouse.down()
    page.mouse.move(x, top + (bottom - top) * 0.2, steps=4)
    page.mouse.up()
    page.wait_for_function("() => document.querySelectorAll('#versions tbody tr').length === 1")
    assert page.locator("#versions tbody tr td:nth-child(2)").inner_text().strip() == "v3"
    assert "1 version(s) in the brush" in page.locator("#hp-brush").inner_text()
    shot("hparams-brushed")
    page.click("#hp-clear")
    page.wait_for_function("() => document.querySelectorAll('#versions tbody tr').length === 3")

    # A click on v3's point in the scatter adds it to the selection.
    point = page.evaluate(
        "() => document.getElementById('scatter').scatterPlot.points.find(p => p.version === 3)"
    )
    scatter = page.locator("#scatter").bounding_box()
    page.mouse.click(scatter["x"] + point["x"], scatter["y"] + point["y"])
    page.wait_for_function("() => new URL(location.href).searchParams.get('versions') === '1,2,3'")
    page.select_option("#hp-agg", "min")
    page.wait_for_function("() => document.body.dataset.hparams === 'loss|min|3'")
    page.watch.assert_clean()


def test_group_by_a_hyperparameter_draws_mean_and_band(
    ws_server: BackgroundServer, page: Any, shot: Any
) -> None:
    page.goto(ws_server.url("/experiments/ws?versions=1,2,3&metric=loss"))
    wait_ready(page)
    page.wait_for_function("() => document.querySelectorAll('#group-by option').length > 4")
    page.select_option("#group-by", "hp:opt")
    page.wait_for_function("() => document.body.dataset.grouped === 'hp:opt|loss|2'")
    assert "group=hp:opt" in page.url.replace("%3A", ":")
    assert page.locator("#chart").is_hidden()
    rows = page.locator("#group-table tbody tr")
    assert rows.all_inner_texts()[0].split()[:3] == ["adam", "v2", "1"]
    assert rows.all_inner_texts()[1].split()[:4] == ["sgd", "v1,", "v3", "2"]
    chart = page.evaluate(
        """() => { const g = document.getElementById('group-chart').groupChart;
                   return {series: g.plot.series.length, bands: g.plot.bands.length,
                           sgd: g.body.groups[1]}; }"""
    )
    assert chart["series"] == 1 + 3 * 2
    assert chart["bands"] == 2
    # loss of version v at step s is v / (s + 1): sgd holds v1 and v3.
    assert chart["sgd"]["mean"][0] == pytest.approx(2.0)
    assert chart["sgd"]["min"][0] == pytest.approx(1.0)
    assert chart["sgd"]["max"][0] == pytest.approx(3.0)
    assert chart["sgd"]["std"][0] == pytest.approx(1.0)
    png = page.locator("#group-chart canvas").first.screenshot()
    from PIL import Image

    colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 20  # lines, bands and axes were drawn, not a blank canvas
    page.select_option("#group-band", "std")
    assert "band=std" in page.url
    page.select_option("#group-by", "tag")
    page.wait_for_function("() => document.body.dataset.grouped === 'tag|loss|2'")
    assert page.locator("#group-table tbody tr").all_inner_texts()[0].split()[:2] == [
        "(none)",
        "v1,",
    ]
    shot("groups")
    page.select_option("#group-by", "")
    page.wait_for_function("() => !document.getElementById('chart').hidden")
    page.watch.assert_clean()


def test_archived_versions_show_only_when_asked_for(tmp_path: Path, page: Any) -> None:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    for _ in range(3):
        manager.start_experiment("cfg", {}, {}, "arch")
        manager.log({"loss": 1.0})
        manager.end_experiment()
    manager.archive("arch", 2)
    with BackgroundServer(tmp_path / "logs") as live:
        page.goto(live.url("/experiments/arch"))
        wait_ready(page)
        versions = page.locator("#versions tbody tr td:nth-child(2)").all_inner_texts()
        assert [v.strip() for v in versions] == ["v3", "v1"]
        page.check("#show-archived")
        page.wait_for_function("() => document.querySelectorAll('#versions tbody tr').length === 3")
        assert "(archived)" in page.locator("#versions tbody tr", has_text="v2").inner_text()
        assert "archived=1" in page.url
        page.watch.assert_clean()


def test_versions_of_two_experiments_picked_in_a_search_are_overlaid_and_diffed(
    tmp_path: Path, page: Any, shot: Any
) -> None:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    for experiment_id, lr in (("digits_mlp", 0.1), ("digits_sgd", 0.5)):
        manager.start_experiment(experiment_id, {"lr": lr, "bs": 32}, {})
        for step in range(10):
            manager.log({"loss": lr / (step + 1)}, step)
        manager.end_experiment()
    with BackgroundServer(tmp_path / "logs") as live:
        page.goto(live.url("/?q=hp.bs%20%3D%2032"))
        wait_ready(page)
        page.wait_for_function("() => document.body.dataset.searched === 'ok'")
        page.check("input.compare-pick[data-ref='digits_mlp@1']")
        page.check("input.compare-pick[data-ref='digits_sgd@1']")
        page.click("#compare-link")
        page.wait_for_url(re.compile(r"/compare\?refs="))
        wait_ready(page)
        page.wait_for_function(
            "() => document.body.dataset.compared === 'digits_mlp@1,digits_sgd@1'"
        )
        page.wait_for_function(
            "() => Number(document.getElementById('compare-chart').dataset.draws || 0) > 0"
        )
        drawn = page.evaluate(
            "() => { const p = document.getElementById('compare-chart').comparePlot;"
            " return {refs: p.refs, points: p.points, resumes: p.resumes}; }"
        )
        assert drawn == {
            "refs": ["digits_mlp@1", "digits_sgd@1"],
            "points": [10, 10],
            "resumes": [],  # neither version was resumed
        }
        lr = page.locator("[data-diff=hyperparameters] tbody tr")
        assert lr.count() == 1
        assert lr.first.inner_text().split() == ["lr", "0.1", "0.5"]
        run_rows = page.locator("[data-diff=run] tbody tr").all_inner_texts()
        assert run_rows[0].split() == ["config_name", "digits_mlp", "digits_sgd"]
        png = page.locator("#compare-chart canvas").first.screenshot()
        from PIL import Image

        colours = Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 20
        shot("compare")
        page.watch.assert_clean()


def test_group_by_lists_each_groups_rows_under_a_header_with_its_count(
    ws_server: BackgroundServer, page: Any, shot: Any
) -> None:
    page.goto(ws_server.url("/experiments/ws?versions=1,2,3&metric=loss&group=hp:opt"))
    wait_ready(page)
    page.wait_for_function("() => document.body.dataset.tableGroups === 'hp:opt|adam:1,sgd:2'")
    with urllib.request.urlopen(
        ws_server.url("/api/experiments/ws?group_by=hp:opt&sort=version&order=desc")
    ) as answer:
        twin = json.load(answer)
    assert [(g["key"], g["count"], g["versions"]) for g in twin["groups"]] == [
        ("adam", 1, [2]),
        ("sgd", 2, [3, 1]),
    ]
    # The table: a header row per group with its count, its members under it.
    rows = page.evaluate(
        """() => [...document.querySelectorAll('#versions tbody tr')].map((tr) =>
            tr.classList.contains('group-row')
                ? ['group', tr.dataset.group, tr.querySelector('.group-count').textContent]
                : ['row', tr.dataset.member,
                   tr.querySelector('input.row-select').dataset.version])"""
    )
    assert rows == [
        ["group", "adam", "1 version"],
        ["row", "adam", "2"],
        ["group", "sgd", "2 versions"],
        ["row", "sgd", "3"],
        ["row", "sgd", "1"],
    ]
    assert "opt = sgd" in page.locator("tr.group-row[data-group='sgd']").inner_text()
    # The chart still draws the groups' mean and band.
    page.wait_for_function("() => document.body.dataset.grouped === 'hp:opt|loss|2'")
    assert (
        page.evaluate("() => document.getElementById('group-chart').groupChart.plot.bands.length")
        == 2
    )

    # A group folds and unfolds; its header stays.
    page.click("[aria-label='Collapse group sgd']")
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"tr[data-member='sgd']\")].every((tr) => tr.hidden)"
    )
    assert page.locator("tr[data-member='adam']").is_visible()
    assert page.locator("tr.group-row[data-group='sgd']").is_visible()
    shot("grouped-table")
    page.click("[aria-label='Expand group sgd']")
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"tr[data-member='sgd']\")].every((tr) => !tr.hidden)"
    )
    # The header's box selects the whole group.
    page.click("#select-none")
    page.check("[aria-label='Select every version of group sgd']")
    page.wait_for_function("() => new URL(location.href).searchParams.get('versions') === '1,3'")

    # By tag: v2 ("best") apart from the untagged ones.
    page.select_option("#group-by", "tag")
    page.wait_for_function("() => document.body.dataset.tableGroups === 'tag|(none):2,best:1'")
    page.select_option("#group-by", "")
    page.wait_for_function("() => document.body.dataset.tableGroups === ''")
    assert page.locator("#versions tr.group-row").count() == 0
    assert page.locator("#versions tbody tr").count() == 3
    page.watch.assert_clean()


def test_a_link_with_a_version_range_selects_those_versions(
    ws_server: BackgroundServer, page: Any
) -> None:
    page.goto(ws_server.url("/experiments/ws?versions=2-3&metric=loss"))
    wait_ready(page)
    wait_loaded(page, "loss")
    assert [t["version"] for t in traces(page, "loss")] == [2, 3]
    checked = page.evaluate(
        "() => [...document.querySelectorAll('#versions input.row-select:checked')]"
        ".map(box => Number(box.dataset.version)).sort()"
    )
    assert checked == [2, 3]
    assert page.locator("#page-error .error-box").count() == 0
    # A range that runs backwards is refused, naming it, as the API and the CLI do.
    page.goto(ws_server.url("/experiments/ws?versions=3-1"))
    wait_ready(page)
    message = page.locator("#page-error .error-box").inner_text()
    assert '"3-1"' in message
    assert "runs backwards" in message
    page.watch.assert_clean()


def test_the_scatter_draws_each_version_in_its_colour_where_it_says(
    ws_server: BackgroundServer, page: Any
) -> None:
    from PIL import Image

    page.goto(ws_server.url("/experiments/ws?versions=1,2&metric=loss"))
    wait_ready(page)
    page.locator("#hp-section").scroll_into_view_if_needed()
    page.wait_for_function("() => document.body.dataset.hparams === 'loss|last|3'")
    page.locator("#scatter").scroll_into_view_if_needed()
    points = page.evaluate("() => document.getElementById('scatter').scatterPlot.points")
    assert sorted(p["version"] for p in points) == [1, 2, 3]
    colours = page.evaluate(
        """() => [1, 2, 3].map((v) => { const p = document.createElement('span');
                 p.style.color = MetricChart.colorFor(v); return p.style.color; })"""
    )
    image = Image.open(io.BytesIO(page.locator("#scatter").screenshot())).convert("RGB")
    scale = image.width / page.locator("#scatter").bounding_box()["width"]
    background = image.getpixel((2, 2))
    for point in points:
        expected = [int(part) for part in colours[point["version"] - 1][4:-1].split(",")]
        # The dot's centre is drawn in its version's colour, the background is not.
        got = image.getpixel((round(point["x"] * scale), round(point["y"] * scale)))
        assert isinstance(got, tuple)
        assert sum(abs(a - b) for a, b in zip(got, expected, strict=False)) < 30, (point, got)
        assert got != background
    page.watch.assert_clean()


# Each version started by its own process, its environment captured: pid and argv differ.
START = """\
import sys
from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1])
with manager.experiment("cfg", {"lr": float(sys.argv[2])}, {}, "envs"):
    manager.log({"loss": float(sys.argv[2])}, step=0)
"""


def test_the_diff_hides_pid_and_argv_until_asked(tmp_path: Path, page: Any) -> None:
    from tests._util import run_python, write_script

    script = write_script(tmp_path, "start.py", START)
    for lr in ("0.1", "0.2"):
        done = run_python([str(script), str(tmp_path / "logs"), lr, "--tag" + lr], tmp_path)
        assert done.returncode == 0, done.stderr
    with BackgroundServer(tmp_path / "logs") as live:
        page.goto(live.url("/experiments/envs?versions=1,2"))
        wait_ready(page)
        page.wait_for_function("() => document.body.dataset.compared === '1,2'")
        keys = page.locator("[data-diff=environment] tbody th.key").all_inner_texts()
        assert "pid" not in keys
        assert "argv" not in keys
        environment = page.locator("[data-diff=environment]").inner_text()
        assert "environment.pid, environment.argv also differ" in environment
        hp = page.locator("[data-diff=hyperparameters] tbody tr").first.inner_text()
        assert hp.split() == ["lr", "0.1", "0.2"]
        page.check("#diff-all-fields")
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-diff=environment] tbody th.key')]"
            ".some(th => th.textContent === 'pid')"
        )
        keys = page.locator("[data-diff=environment] tbody th.key").all_inner_texts()
        assert {"pid", "argv"} <= set(keys)
        page.watch.assert_clean()


def test_search_results_show_names_and_tags(tmp_path: Path, page: Any) -> None:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    for version in range(1, 4):
        name = "baseline" if version == 1 else None
        tags = ["best", "seed-2"] if version == 2 else None
        manager.start_experiment("sweep", {"bs": 32}, {}, "tagged", name=name, tags=tags)
        manager.log({"loss": 1.0 / version})
        manager.end_experiment()
    manager.archive("tagged", 3)
    with BackgroundServer(tmp_path / "logs") as live:
        page.goto(live.url("/?q=hp.bs%20%3D%2032"))
        wait_ready(page)
        page.wait_for_function("() => document.body.dataset.searched === 'ok'")
        headers = page.locator("#search-results thead th").all_inner_texts()
        assert [h.strip() for h in headers[:4]] == ["Experiment", "Version", "Name", "Tags"]
        rows = page.evaluate(
            "() => [...document.querySelectorAll('#search-results tbody tr')].map(tr =>"
            " [...tr.querySelectorAll('td')].slice(1, 4).map(td => td.textContent.trim()))"
        )
        assert sorted(rows) == [["v1", "baseline", ""], ["v2", "sweep", "bestseed-2"]]
        tags = page.locator("#search-results tbody .tag").all_inner_texts()
        assert tags == ["best", "seed-2"]
        query = "/api/search?q=hp.bs%20%3D%2032"
        with urllib.request.urlopen(live.url(query)) as answer:
            shown = json.load(answer)
        with urllib.request.urlopen(live.url(query + "&all=1")) as answer:
            everything = json.load(answer)
        assert sorted(r["version"] for r in shown["results"]) == [1, 2]
        assert sorted(r["version"] for r in everything["results"]) == [1, 2, 3]
        assert [r.get("archived") for r in everything["results"] if r["version"] == 3] == [True]
        page.watch.assert_clean()
