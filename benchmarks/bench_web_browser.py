"""Dashboard speed as a user sees it: the real server and pages in headless Chromium.

1. **Experiments page** over ``--experiments`` x ``--runs`` versions (default 1,000 x 10
   = 10,000): from navigation start to the table rendered (and to the next paint).
   Target: under 1 s.
2. **Overlay** of ``--versions`` versions x ``--points`` points (default 20 x 100,000):
   from navigation start to the chart drawn, and from a click on "select all" on a
   loaded page to the chart drawn. Target: under 1 s.
3. **Zoom**: from the chart's ``zoomTo(range)`` (what the end of a drag over the plot
   calls; ``zoomTo(null)`` is the double click) to the refetched curves drawn. Target:
   under 300 ms.

"cold" is a first visit: a fresh browser context (no cached page, script or compiled
code) and a freshly started server that has read nothing yet. The browser itself is
already running, as a user's is: each fresh context first loads the dashboard's icon,
so that starting the renderer process is not counted. "warm" is the same context
after one visit, as for a returning user (the server keeps what it read). Each figure
is the median of ``--repeat`` runs (min and max shown). The server is ``expm ui`` in
its own process, as a user runs it. Times are read from the page's own clock (from
navigation start); the script waits for them by evaluating a small expression every
20 ms, which costs the page nothing measurable (Playwright's ``wait_for_function``
would run its injected script in the page on every frame, and compile it first).

The log folders are built with the library's own calls the first time and kept under
the cache folder given on the command line (building takes minutes: each write is
fsynced). Chromium is Debian's ``/usr/bin/chromium``.

Run: ``python benchmarks/bench_web_browser.py CACHE_DIR [--experiments 1000] [--runs 10]
[--versions 20] [--points 100000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import math
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _curves import log_curves
from experiment_manager import ExperimentManager

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TARGETS_MS = {"experiments": 1000.0, "overlay": 1000.0, "zoom": 300.0}
DONE = ".complete"


# ---- Log folders -----------------------------------------------------------------


def build_experiment(folder: Path, number: int, runs: int) -> None:
    manager = ExperimentManager(folder, capture_environment=False)
    rng = random.Random(number)
    for run in range(runs):
        manager.start_experiment(
            f"config-{number % 17}",
            {"lr": 10.0 ** -rng.randint(1, 5), "batch": 2 ** rng.randint(4, 9), "seed": run},
            {"dataset_version": f"v{number % 3}"},
            experiment_id=f"exp{number:04d}",
        )
        losses = [math.exp(-i / 10) + rng.random() * 0.05 for i in range(20)]
        manager.log_metrics({"loss": losses, "acc": [1 - x for x in losses]})
        status = "failed" if rng.random() < 0.05 else "finished"
        manager.end_experiment(status, "diverged" if status == "failed" else None)


def built(target: Path, what: str, build: Callable[[Path], None]) -> Path:
    """``target``, made by ``build(target)`` the first time only (a marker says it is whole)."""
    if (target / DONE).exists():
        return target
    print(f"building {what} in {target} (once) ...", flush=True)
    started = time.perf_counter()
    target.mkdir(parents=True, exist_ok=True)
    build(target)
    (target / DONE).write_text("", encoding="utf-8")
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    return target


def build_many(folder: Path, experiments: int, runs: int) -> Path:
    def build(target: Path) -> None:
        # Each write is atomic and fsynced; threads let those waits overlap.
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda n: build_experiment(target, n, runs), range(experiments)))

    target = folder / f"many-{experiments}x{runs}"
    return built(target, f"{experiments} x {runs} versions", build)


def build_curves(folder: Path, versions: int, points: int) -> Path:
    def build(target: Path) -> None:
        log_curves(ExperimentManager(target, capture_environment=False), versions, points)

    target = folder / f"curves-{versions}x{points}"
    return built(target, f"{versions} versions x {points} points", build)


# ---- Server and page -----------------------------------------------------------------


class UiProcess:
    """``expm ui`` over a log folder, in a process of its own; a context manager."""

    def __init__(self, log_dir: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._command = [
            sys.executable, "-m", "experiment_manager", "ui",
            "--log-dir", str(log_dir), "--port", str(self.port),
        ]  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def url(self, path: str) -> str:
        """The address of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> UiProcess:
        """Start the server; return once it answers (its icon: nothing is read)."""
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url("/static/favicon.svg"), timeout=5):
                    return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self._log.seek(0)
                    said = self._log.read().decode(errors="replace")
                    self.__exit__()
                    command = " ".join(self._command)
                    raise RuntimeError(f"{command} did not start:\n{said}") from None
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        assert self._process is not None
        self._process.terminate()
        self._process.wait(timeout=30)
        self._log.close()


def wait_until(page: Any, expression: str) -> None:
    """Evaluate ``expression`` in the page every 20 ms until it is true (2 minutes at most)."""
    deadline = time.monotonic() + 120
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.02)


# ---- Measurements --------------------------------------------------------------------


def open_page(browser: Any, server: UiProcess) -> tuple[Any, Any]:
    """A fresh context whose renderer is started (on the icon, which nothing else uses)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.on("pageerror", lambda error: print(f"  page error: {error}"))
    page.goto(server.url("/static/favicon.svg"))
    return context, page


def cold_runs(browser: Any, folder: Path, repeat: int, measure: Any) -> list[Any]:
    """``measure(page, server)`` on a first visit: new server, new context, each time."""
    results = []
    for _ in range(repeat):
        with UiProcess(folder) as server:
            context, page = open_page(browser, server)
            results.append(measure(page, server))
            context.close()
    return results


def experiments_page(page: Any, server: UiProcess, experiments: int) -> tuple[float, float]:
    """(table rendered, painted) in ms after navigation start."""
    page.goto(server.url("/"), wait_until="commit")
    wait_until(page, "() => !!(document.body && document.body.dataset.readyPainted)")
    rows = page.locator("#experiments tbody tr").count()
    assert rows == min(experiments, 250), rows  # the first 250; the rest on demand
    count = page.locator("#exp-count").inner_text()
    assert count.startswith(f"{experiments} experiments"), count
    ready, painted = page.evaluate(
        "() => [Number(document.body.dataset.ready), Number(document.body.dataset.readyPainted)]"
    )
    return float(ready), float(painted)


def overlay_page(page: Any, server: UiProcess, versions: int) -> float:
    """Chart of every version drawn, in ms after navigation start."""
    selection = ",".join(str(v) for v in range(1, versions + 1))
    page.goto(
        server.url(f"/experiments/curves?versions={selection}&metric=loss"), wait_until="commit"
    )
    wait_until(page, "() => !!document.getElementById('chart')?.dataset.drawnAt")
    traces = page.evaluate("() => document.getElementById('chart').metricChart.traces().length")
    assert traces == versions, traces
    return float(page.evaluate("() => Number(document.getElementById('chart').dataset.drawnAt)"))


def overlay_click(page: Any, versions: int) -> float:
    """On a loaded page: clear the selection, click "select all", until drawn (ms)."""
    page.click("#select-none")
    page.wait_for_function("() => document.querySelector('#chart .chart-empty') !== null")
    elapsed: float = page.evaluate(
        """(versions) => new Promise((resolve) => {
            const chart = document.getElementById('chart');
            const before = Number(chart.dataset.draws || 0);
            const started = performance.now();
            document.querySelector('#versions thead input[type=checkbox]').click();
            const check = () => {
                if (Number(chart.dataset.draws || 0) > before
                        && chart.metricChart.traces().length === versions) {
                    requestAnimationFrame(() => resolve(performance.now() - started));
                } else {
                    requestAnimationFrame(check);
                }
            };
            check();
        })""",
        versions,
    )
    return elapsed


def zoom(page: Any, x_range: tuple[float, float] | None) -> tuple[float, int, list[float]]:
    """Zoom to a new x-range (None: everything, as a double click does) until the
    refetched curves are drawn: (ms, points drawn, [ms at which the page sent the
    request, had the answer parsed, started drawing])."""
    result: list[Any] = page.evaluate(
        """(range) => new Promise((resolve) => {
            const chart = document.getElementById('chart');
            const before = Number(chart.dataset.draws || 0);
            performance.clearMarks();
            const started = performance.now();
            chart.metricChart.zoomTo(range);
            const check = () => {
                const drawn = Number(chart.dataset.draws || 0) > before;
                if (drawn && !chart.classList.contains('loading')) {
                    const points = chart.metricChart.traces().reduce((n, t) => n + t.x.length, 0);
                    const mark = (name) => {
                        const found = performance.getEntriesByName('expm:' + name);
                        return found.length ? found[found.length - 1].startTime - started : NaN;
                    };
                    const phases = ['series-request', 'series-parsed', 'draw-start'].map(mark);
                    const done = () => resolve([performance.now() - started, points, phases]);
                    requestAnimationFrame(done);
                } else {
                    requestAnimationFrame(check);
                }
            };
            check();
        })""",
        list(x_range) if x_range else None,
    )
    return float(result[0]), int(result[1]), [float(v) for v in result[2]]


def phases_text(phases: list[list[float]]) -> str:
    request, parsed, draw = (statistics.median(p[i] for p in phases) for i in range(3))
    return (
        f"{'':<12} median phases: request sent at {request:.0f} ms, answer parsed at "
        f"{parsed:.0f} ms, drawing from {draw:.0f} ms"
    )


def report(name: str, what: str, label: str, times: list[float], target: float) -> None:
    median = statistics.median(times)
    verdict = "ok" if median < target else "SLOWER THAN TARGET"
    print(
        f"{name:<12} {what:<44} {label:<5} {median:6.0f} ms "
        f"(min {min(times):.0f}, max {max(times):.0f})   target < {target:.0f} ms: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path, help="folder keeping the built log folders")
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--versions", type=int, default=20)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    many = build_many(args.cache, args.experiments, args.runs)
    curves = build_curves(args.cache, args.versions, args.points)

    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    print(f"\nChromium {browser.version}, viewport 1400x1000, repeat {args.repeat}\n")
    n, k = args.experiments, args.versions
    try:
        versions = args.experiments * args.runs
        what = f"{versions:,} versions: first 250 rows"
        cold = cold_runs(
            browser, many, args.repeat, lambda page, server: experiments_page(page, server, n)
        )
        with UiProcess(many) as server:
            context, page = open_page(browser, server)
            experiments_page(page, server, n)
            warm = [experiments_page(page, server, n) for _ in range(args.repeat)]
            context.close()
        target = TARGETS_MS["experiments"]
        report("experiments", what, "cold", [c[0] for c in cold], target)
        report("", "", "warm", [w[0] for w in warm], target)
        report("", "... and painted", "cold", [c[1] for c in cold], target)
        report("", "", "warm", [w[1] for w in warm], target)

        what = f"{args.versions} x {args.points:,} points: page load to chart"
        target = TARGETS_MS["overlay"]
        cold_overlay = cold_runs(
            browser, curves, args.repeat, lambda page, server: overlay_page(page, server, k)
        )
        report("overlay", what, "cold", cold_overlay, target)
        with UiProcess(curves) as server:
            context, page = open_page(browser, server)
            overlay_page(page, server, k)
            warm_load = [overlay_page(page, server, k) for _ in range(args.repeat)]
            clicks = [overlay_click(page, k) for _ in range(args.repeat)]
            shown = page.evaluate(
                "() => document.getElementById('chart').metricChart.traces()"
                ".reduce((n, t) => n + t.x.length, 0)"
            )
            report("", "", "warm", warm_load, target)
            report("", "select all (click) to chart", "warm", clicks, target)
            print(f"{'':<12} ({shown:,} points drawn for {args.versions * args.points:,} logged)")

            rng = random.Random(1)
            wide: list[float] = []
            narrow: list[float] = []
            resets: list[float] = []
            wide_phases: list[list[float]] = []
            narrow_phases: list[list[float]] = []
            wide_points = narrow_points = 0
            for _ in range(args.repeat):
                start = rng.uniform(0, args.points * 0.8)
                elapsed, wide_points, phases = zoom(page, (start, start + args.points / 10))
                wide.append(elapsed)
                wide_phases.append(phases)
                start = rng.uniform(0, args.points * 0.99)
                elapsed, narrow_points, phases = zoom(page, (start, start + args.points / 500))
                narrow.append(elapsed)
                narrow_phases.append(phases)
                resets.append(zoom(page, None)[0])
            what = f"to 1/10 of x ({wide_points:,} points drawn)"
            report("zoom", what, "warm", wide, TARGETS_MS["zoom"])
            print(phases_text(wide_phases))
            what = f"to 1/500 of x ({narrow_points:,} points, full res.)"
            report("", what, "warm", narrow, TARGETS_MS["zoom"])
            print(phases_text(narrow_phases))
            report("", "reset (double click)", "warm", resets, TARGETS_MS["zoom"])
            context.close()
    finally:
        browser.close()
        playwright.stop()


if __name__ == "__main__":
    main()
