"""The dashboard on one experiment of 10,000 versions: the real server, headless Chromium.

1. **API**: ``/api/experiments/big`` over HTTP from this process: the first page after
   the server started (the listing is read), a sort by a metric not sorted by before
   (the server sorts 10,000 versions), and the next page of that order (a slice of
   the kept order). Target for the sort and the next page: under 200 ms.
2. **First paint** of the experiment page: from navigation start to the table's first
   page drawn and painted, on a first visit (a new server and a new browser context)
   and on a return visit. Target: under 1 s.
3. **Sort** by a metric's column header: from the click to the sorted first page drawn
   (each run a metric the server has not sorted by yet), once the loaded page has
   settled (its comparison of the selected versions answered). Target: under 200 ms.
4. **Next page**: from a click on "Next" to the next 100 rows drawn. Target: under 200 ms.
5. **Chart** of 20 selected versions: a page load naming them (``?versions=...``) to
   the chart drawn.

Each figure is the median of ``--repeat`` runs (min and max shown). The server is
``expm ui`` in its own process, as a user runs it; times in the browser are read from
the page's own clock. Chromium is Debian's ``/usr/bin/chromium``.

The log folder is built once and kept under the cache folder given on the command
line: one version through the library's API, then the other versions stored at once
with the store's ``add_versions`` (an import), each with 10 hyperparameters and 3
metrics of 50 steps (about 40 MB of history).

Run: ``python benchmarks/bench_web_scale.py CACHE_DIR [--versions 10000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench_web_browser import CHROMIUM, CHROMIUM_ARGS, UiProcess, built, open_page, report
from experiment_manager import ExperimentManager

EXPERIMENT = "big"
METRICS = ("loss", "acc", "val_loss")
STEPS = 50
CHART_VERSIONS = 20
TARGETS_MS = {"sort": 200.0, "page": 200.0, "paint": 1000.0, "chart": 1000.0}


# ---- The log folder ------------------------------------------------------------------


def build_big(folder: Path, versions: int) -> Path:
    """``folder/scale-<versions>``: experiment ``big`` of ``versions`` versions, built once."""

    def build(target: Path) -> None:
        manager = ExperimentManager(target, capture_environment=False)
        manager.start_experiment("sweep", {"lr": 0.1}, {"dataset": "v1"}, experiment_id=EXPERIMENT)
        manager.log_metrics({name: [1.0] * STEPS for name in METRICS})
        manager.end_experiment()
        template = manager.store.read_version(EXPERIMENT, 1)  # a finished one, stored form
        for field in ("version", "experiment_id"):
            template.pop(field, None)
        rng = random.Random(0)

        records = []
        for number in range(2, versions + 1):
            record = copy.deepcopy(template)
            record["config_name"] = f"config-{number % 17}"
            record["hyperparameters"] = {
                "lr": 10.0 ** -rng.randint(1, 5),
                "batch": 2 ** rng.randint(4, 9),
                "seed": number,
                **{f"h{k}": round(rng.random(), 6) for k in range(7)},
            }
            record["metrics"] = {
                name: [math.exp(-i / 10) + rng.random() * 0.5 for i in range(STEPS)]
                for name in METRICS
            }
            record["steps"] = {name: list(range(STEPS)) for name in METRICS}
            record["status"] = "failed" if rng.random() < 0.05 else "finished"
            record["duration"] = round(rng.uniform(10, 1000), 3)
            records.append(record)
        manager.store.add_versions(EXPERIMENT, records)
        assert len(manager.version_table(EXPERIMENT)) == versions

    return built(folder / f"scale-{versions}", f"{versions:,} versions", build)


# ---- Measurements --------------------------------------------------------------------


def api_ms(server: UiProcess, query: str) -> tuple[float, Any]:
    """One GET of the experiment's listing: (ms, body)."""
    started = time.perf_counter()
    with urllib.request.urlopen(server.url(f"/api/experiments/{EXPERIMENT}?{query}")) as answer:
        body = json.loads(answer.read())
    return (time.perf_counter() - started) * 1000, body


def api_runs(folder: Path, repeat: int) -> dict[str, list[float]]:
    """First page, a new sort and its next page, against a fresh server each run."""
    times: dict[str, list[float]] = {"first": [], "sort": [], "next": [], "again": []}
    for run in range(repeat):
        with UiProcess(folder) as server:
            elapsed, body = api_ms(server, "sort=version&order=desc&limit=100")
            assert body["total"] == body["version_count"], body["total"]
            times["first"].append(elapsed)
            metric = METRICS[run % len(METRICS)]
            order = f"sort=metrics.{metric}.last&order=asc&limit=100"
            elapsed, body = api_ms(server, order)
            times["sort"].append(elapsed)
            elapsed, body = api_ms(server, order + "&offset=100")
            assert len(body["versions"]) == 100
            times["next"].append(elapsed)
            times["again"].append(api_ms(server, order)[0])
    return times


def wait_until(page: Any, expression: str) -> None:
    """Evaluate ``expression`` in the page every 20 ms until it is true (2 minutes at most)."""
    deadline = time.monotonic() + 120
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.02)


def first_paint(page: Any, server: UiProcess) -> float:
    """The experiment page from navigation start to its table painted (ms)."""
    page.goto(server.url(f"/experiments/{EXPERIMENT}"), wait_until="commit")
    wait_until(page, "() => !!(document.body && document.body.dataset.readyPainted)")
    rows = page.locator("#versions tbody tr").count()
    assert rows == 100, rows
    return float(page.evaluate("() => Number(document.body.dataset.readyPainted)"))


def timed_click(page: Any, finder: str, target: str, wanted: str) -> float:
    """Click an element and wait for the table to show ``wanted``; ms until drawn."""
    elapsed: float = page.evaluate(
        """([finder, target, wanted]) => new Promise((resolve, reject) => {
            const element = finder === 'header'
                ? [...document.querySelectorAll('#versions th')].find(
                    (th) => th.textContent === target)
                : document.querySelector(target);
            if (!element) { reject(new Error('no ' + target)); return; }
            const started = performance.now();
            element.click();
            const check = () => {
                if (document.body.dataset.table === wanted) {
                    requestAnimationFrame(() => resolve(performance.now() - started));
                } else {
                    requestAnimationFrame(check);
                }
            };
            check();
        })""",
        [finder, target, wanted],
    )
    return elapsed


def settle(page: Any) -> None:
    """Until the page has asked for everything it asks for after a load (its comparison
    reads the whole history on the server, which would delay a click's request)."""
    wait_until(page, "() => document.body.dataset.compared !== undefined")
    time.sleep(0.5)


def chart_load(page: Any, server: UiProcess) -> float:
    """A page load naming 20 versions and a metric, to the chart drawn (ms)."""
    selection = ",".join(str(v) for v in range(1, CHART_VERSIONS + 1))
    url = f"/experiments/{EXPERIMENT}?versions={selection}&metric=loss"
    page.goto(server.url(url), wait_until="commit")
    wait_until(page, "() => !!document.getElementById('chart')?.dataset.drawnAt")
    traces = page.evaluate("() => document.getElementById('chart').metricChart.traces().length")
    assert traces == CHART_VERSIONS, traces
    return float(page.evaluate("() => Number(document.getElementById('chart').dataset.drawnAt)"))


def page_runs(browser: Any, folder: Path, repeat: int) -> dict[str, list[float]]:
    """Every browser figure; each run on a new server and a new context."""
    times: dict[str, list[float]] = {
        name: [] for name in ("paint", "paint warm", "sort", "sort back", "next", "chart")
    }
    for run in range(repeat):
        with UiProcess(folder) as server:
            context, page = open_page(browser, server)
            times["paint"].append(first_paint(page, server))
            times["paint warm"].append(first_paint(page, server))
            settle(page)
            metric = METRICS[run % len(METRICS)]
            key = f"metrics.{metric}.last"
            times["sort"].append(timed_click(page, "header", f"{metric} last", f"{key}|asc|0|"))
            times["next"].append(timed_click(page, "css", "#page-next", f"{key}|asc|100|"))
            times["sort back"].append(
                timed_click(page, "header", f"{metric} last", f"{key}|desc|0|")
            )
            times["chart"].append(chart_load(page, server))
            context.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path, help="folder keeping the built log folder")
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    folder = build_big(args.cache, args.versions)
    size = (folder / f"{EXPERIMENT}.json").stat().st_size
    n = f"{args.versions:,} versions"
    print(f"\n{n}, history {size / 1e6:.0f} MB, repeat {args.repeat}\n")

    api = api_runs(folder, args.repeat)
    report("api", "first page after start (reads the listing)", "cold", api["first"], 1000)
    report("", "sort by a metric not sorted before", "", api["sort"], TARGETS_MS["sort"])
    report("", "next page of that order", "", api["next"], TARGETS_MS["page"])
    report("", "the same first page again", "", api["again"], TARGETS_MS["page"])

    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    print(f"\nChromium {browser.version}, viewport 1400x1000\n")
    try:
        times = page_runs(browser, folder, args.repeat)
    finally:
        browser.close()
        playwright.stop()
    report("page", "first paint of the experiment page", "cold", times["paint"], 1000)
    report("", "", "warm", times["paint warm"], TARGETS_MS["paint"])
    report("sort", "click a metric header to sorted rows drawn", "", times["sort"], 200)
    report("", "click it again (descending)", "", times["sort back"], TARGETS_MS["sort"])
    report("next page", "click Next to the next 100 rows drawn", "", times["next"], 200)
    what = f"page load naming {CHART_VERSIONS} versions to chart"
    report("chart", what, "", times["chart"], TARGETS_MS["chart"])
    print(f"\n(medians of {args.repeat}; {statistics.median(times['paint']):.0f} ms first paint)")


if __name__ == "__main__":
    main()
