"""The dashboard's workspace in headless Chromium: a panel per metric, first draw.

One experiment of ``--versions`` versions (default 20) x ``--metrics`` metrics (default
50: 10 ungrouped, 15 ``train/``, 15 ``val/``, 10 ``system/``) x ``--points`` points each,
all versions selected. Measured from navigation start (the page's own clock) to every
panel on the first screen drawn; panels below are loaded when scrolled to, so the
figure should not grow with the number of metrics. Target: under 1.5 s.

The baseline, measured in the same run on the same page, is the single overlay chart
of one metric (``#chart``) drawn: the ratio says what a screen full of panels costs
over one chart. "cold" is a first visit (fresh server process and browser context),
"warm" the same context again. Each figure is the median of ``--repeat`` runs. The
server is ``expm ui`` in its own process. Chromium is Debian's ``/usr/bin/chromium``.

Run: ``python benchmarks/bench_web_workspace.py CACHE_DIR [--versions 20] [--metrics 50]
[--points 2000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from pathlib import Path
from typing import Any

from bench_web_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    UiProcess,
    built,
    report,
    wait_until,
)
from experiment_manager import ExperimentManager

TARGET_MS = 1500.0


def open_page(browser: Any, server: UiProcess, height: int) -> tuple[Any, Any]:
    """A fresh context of a 1400 x ``height`` window, its renderer started on the icon."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.on("pageerror", lambda error: print(f"  page error: {error}"))
    page.goto(server.url("/static/favicon.svg"))
    return context, page


def metric_names(count: int) -> list[str]:
    """``count`` names: a fifth ungrouped, three tenths train/ and val/ each, a fifth system/."""
    plain, grouped = count // 5, (count * 3) // 10
    system = count - plain - 2 * grouped
    names = [f"metric_{i:02d}" for i in range(plain)]
    names += [f"train/m{i:02d}" for i in range(grouped)] + [f"val/m{i:02d}" for i in range(grouped)]
    return names + [f"system/m{i:02d}" for i in range(system)]


def build_workspace(folder: Path, versions: int, metrics: int, points: int) -> Path:
    def build(target: Path) -> None:
        manager = ExperimentManager(target, capture_environment=False)
        rng = random.Random(0)
        names = metric_names(metrics)
        for version in range(versions):
            manager.start_experiment("ws", {"lr": 10.0**-version, "seed": version}, {}, "ws")
            curves = {
                name: [
                    math.exp(-(1 + i / 10) * s / points) + rng.random() * 0.02
                    for s in range(points)
                ]
                for i, name in enumerate(names)
            }
            manager.log_metrics(curves)
            manager.end_experiment()

    target = folder / f"workspace-{versions}x{metrics}x{points}"
    return built(target, f"{versions} versions x {metrics} metrics x {points} points", build)


#: In the page: when every panel on the first screen has drawn, and the overlay chart.
_TIMES = """() => {
    const panels = document.getElementById('panels');
    if (!panels || !panels.metricPanels || !panels.dataset.panels) return null;
    const chart = document.getElementById('chart');
    const onScreen = [...panels.querySelectorAll('.metric-panel')].filter((node) => {
        const box = node.getBoundingClientRect();
        return !node.hidden && box.top < window.innerHeight && box.bottom > 0;
    });
    const times = onScreen.map((node) => node.querySelector('.panel-chart').dataset.drawnAt);
    if (onScreen.length === 0 || times.some((t) => !t) || !chart.dataset.drawnAt) return null;
    const requested = [...panels.querySelectorAll('.panel-chart')]
        .filter((d) => d.metricChart).length;
    return [Math.max(...times.map(Number)), Number(chart.dataset.drawnAt),
            onScreen.length, requested];
}"""


def workspace_page(page: Any, server: UiProcess, versions: int) -> tuple[float, float, int, int]:
    """(panels on screen drawn, overlay drawn) in ms, panels on screen, panels requested."""
    selection = ",".join(str(v) for v in range(1, versions + 1))
    page.goto(
        server.url(f"/experiments/ws?versions={selection}&metric=metric_00"), wait_until="commit"
    )
    wait_until(page, f"() => ({_TIMES})() !== null")
    panels, overlay, shown, requested = page.evaluate(_TIMES)
    traces = page.evaluate(
        "() => document.querySelector('.panel-chart').metricChart.traces().length"
    )
    assert traces == versions, traces
    return float(panels), float(overlay), int(shown), int(requested)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path, help="folder keeping the built log folder")
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--metrics", type=int, default=50)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--height", type=int, default=1000, help="window height (a taller one shows more panels)"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    folder = build_workspace(args.cache, args.versions, args.metrics, args.points)

    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    print(f"\nChromium {browser.version}, viewport 1400x{args.height}, repeat {args.repeat}\n")
    k = args.versions
    try:
        cold = []
        for _ in range(args.repeat):  # a first visit: new server, new context, each time
            with UiProcess(folder) as server:
                context, page = open_page(browser, server, args.height)
                cold.append(workspace_page(page, server, k))
                context.close()
        with UiProcess(folder) as server:
            context, page = open_page(browser, server, args.height)
            workspace_page(page, server, k)
            warm = [workspace_page(page, server, k) for _ in range(args.repeat)]
            context.close()
        what = f"{args.metrics} metrics x {k} versions: screen of panels"
        for label, runs in (("cold", cold), ("warm", warm)):
            report("workspace" if label == "cold" else "", what if label == "cold" else "",
                   label, [r[0] for r in runs], TARGET_MS)  # fmt: skip
        for label, runs in (("cold", cold), ("warm", warm)):
            panels = statistics.median(r[0] for r in runs)
            overlay = statistics.median(r[1] for r in runs)
            print(
                f"{'':<12} {label}: baseline (one overlay chart) {overlay:.0f} ms; "
                f"workspace / baseline = {panels / overlay:.2f}"
            )
        shown, requested = cold[-1][2], cold[-1][3]
        print(
            f"{'':<12} {shown} panels on the first screen; {requested} of {args.metrics} "
            "asked for their curves (the rest load when scrolled to)"
        )
    finally:
        browser.close()
        playwright.stop()


if __name__ == "__main__":
    main()
