"""Editing from the dashboard in headless Chromium, and a page of another origin trying to.

Driven as in :mod:`tests.test_web_browser` (Debian's Chromium through Playwright, the
server's CSP in force: any violation, script error or dialog fails a test). The
dashboard is served with ``allow_edits`` (what ``expm ui --allow-edits`` does); the
attacking page is served by a plain HTTP server on another local port, so it is
another origin of the same site, the closest a web page can get.
"""

from __future__ import annotations

import http.server
import threading
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


def build(log_dir: Path) -> None:
    manager = ExperimentManager(log_dir, capture_environment=False)
    for version in range(1, 4):
        with manager.experiment("cfg", {"lr": version / 10}, experiment_id="runs"):
            for step in range(5):
                manager.log({"loss": version / (step + 1)}, step)


def stored(log_dir: Path, version: int) -> dict[str, Any]:
    return ExperimentManager(log_dir, capture_environment=False).get_version("runs", version)


def row(page: Any, version: int) -> Any:
    return page.locator("#versions tbody tr", has=page.locator(f"input[data-version='{version}']"))


def wait_edited(page: Any, count: int) -> None:
    page.wait_for_function("(n) => Number(document.body.dataset.edited || 0) >= n", arg=count)


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    build(tmp_path / "logs")
    return tmp_path / "logs"


def test_a_name_and_tags_edited_in_the_table_are_stored_and_shown(
    logs: Path, page: Any, shot: Any
) -> None:
    with BackgroundServer(logs, allow_edits=True) as server:
        page.goto(server.url("/experiments/runs?versions=1,2"))
        wait_ready(page)
        page.click("[aria-label='Rename v2']")
        page.fill("[aria-label='New name of v2']", "wide-lr")
        page.press("[aria-label='New name of v2']", "Enter")
        wait_edited(page, 1)
        page.wait_for_function(
            """() => [...document.querySelectorAll('#versions tbody tr')]
                .some((tr) => tr.textContent.includes('wide-lr'))"""
        )
        assert "wide-lr" in row(page, 2).inner_text()
        # The chart's legend follows the new name.
        page.wait_for_function(
            """() => document.getElementById('chart').metricChart.series
                .some((s) => s.label === 'v2 wide-lr')"""
        )

        page.click("[aria-label='Add a tag to v2']")
        page.fill("[aria-label='New tag of v2']", "best")
        page.press("[aria-label='New tag of v2']", "Enter")
        wait_edited(page, 2)
        page.wait_for_function(
            """() => [...document.querySelectorAll('#versions tbody tr')].some((tr) =>
                tr.querySelector("input[data-version='2']") && [...tr.querySelectorAll('.tag')]
                    .some((t) => t.textContent.startsWith('best')))"""
        )
        shot("edited-table")
        record = stored(logs, 2)
        assert record["name"] == "wide-lr"
        assert record["tags"] == ["best"]
        assert [e["action"] for e in record["events"]] == ["rename", "tag"]

        page.click("[aria-label='Remove tag best from v2']")
        wait_edited(page, 3)
        page.wait_for_function(
            """() => !document.querySelector("[aria-label='Remove tag best from v2']")"""
        )
        assert stored(logs, 2)["tags"] == []
        page.watch.assert_clean()


def test_a_note_edited_on_the_version_page_lists_the_change(logs: Path, page: Any) -> None:
    with BackgroundServer(logs, allow_edits=True) as server:
        page.goto(server.url("/experiments/runs/versions/1"))
        wait_ready(page)
        page.fill("#edit-note", "lr too high\nrerun with 0.01")
        page.click("#save-note")
        wait_edited(page, 1)
        page.wait_for_function("() => document.querySelector('#curation table') !== null")
        changes = page.locator("#curation table tbody tr").all_inner_texts()
        assert len(changes) == 1
        assert "note" in changes[0]
        assert stored(logs, 1)["note"] == "lr too high\nrerun with 0.01"
        page.fill("#edit-tag", "keep")
        page.click("#add-tag")
        wait_edited(page, 2)
        assert stored(logs, 1)["tags"] == ["keep"]
        page.watch.assert_clean()


def test_a_read_only_dashboard_shows_no_edit_controls(logs: Path, page: Any) -> None:
    manager = ExperimentManager(logs, capture_environment=False)
    manager.add_tags("runs", 1, ["seen"])
    manager.set_note("runs", 1, "a note")
    with BackgroundServer(logs) as server:
        page.goto(server.url("/experiments/runs"))
        wait_ready(page)
        assert "seen" in row(page, 1).inner_text()
        assert page.locator(".edit-button, .tag-remove, .edit-input").count() == 0
        page.goto(server.url("/experiments/runs/versions/1"))
        wait_ready(page)
        assert "a note" in page.locator("#curation").inner_text()
        assert page.locator("#curation input, #curation textarea, #curation button").count() == 0
        page.watch.assert_clean()


#: The attacking page: every way a page of another origin could try to edit, each
#: reporting what happened in the title once done.
ATTACK = """<!doctype html><html><head><title>attack</title></head><body>
<form id="form" method="POST" enctype="text/plain" target="sink"
      action="DASHBOARD/api/experiments/runs/versions/1/name">
  <input name='{"name": "pwned", "x": "' value='"}'>
</form>
<iframe name="sink"></iframe>
<script>
const base = "DASHBOARD";
const url = base + "/api/experiments/runs/versions/1/name";
const results = {};
async function attempt(name, make) {
  try { const r = await make(); results[name] = r.type === "opaque" ? "opaque" : r.status; }
  catch (error) { results[name] = "blocked"; }
}
(async () => {
  // JSON with the token header: needs a preflight, which the server refuses.
  await attempt("json", () => fetch(url, {method: "POST", body: '{"name": "pwned"}',
      headers: {"Content-Type": "application/json", "X-Expm-Token": "guess"}}));
  // What needs no preflight: a simple request, its answer unreadable.
  await attempt("simple", () => fetch(url, {method: "POST", mode: "no-cors",
      body: '{"name": "pwned"}', headers: {"Content-Type": "text/plain"}}));
  // Reading the page for its token: refused by the browser (no CORS header).
  await attempt("read", () => fetch(base + "/experiments/runs").then((r) => r.text()));
  document.getElementById("form").submit();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  document.title = "done " + JSON.stringify(results);
})();
</script></body></html>"""


class _Attacker(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Attacker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_page_on_another_origin_cannot_edit(
    logs: Path, browser: Any, attacker: http.server.ThreadingHTTPServer
) -> None:
    with BackgroundServer(logs, allow_edits=True) as dashboard:
        base = dashboard.url("").rstrip("/")
        _Attacker.page = ATTACK.replace("DASHBOARD", base).encode()
        context = browser.new_context()
        try:
            evil = context.new_page()
            form_answers: list[tuple[int, str]] = []

            def seen(response: Any) -> None:
                if response.request.method == "POST" and "/name" in response.url:
                    form_answers.append((response.status, response.text()))

            evil.on("response", seen)
            evil.goto(f"http://127.0.0.1:{attacker.server_address[1]}/")
            evil.wait_for_function("() => document.title.startsWith('done')", timeout=30_000)
            results = evil.title()
            # The preflighted request never left; the page could not read the dashboard.
            assert '"json":"blocked"' in results
            assert '"read":"blocked"' in results
            # A simple request is sent; its opaque answer is dropped too (the
            # dashboard's Cross-Origin-Resource-Policy), and the server refused it anyway.
            assert '"simple":"blocked"' in results or '"simple":"opaque"' in results
            # The form's POST reached the server and was refused (its answer, shown in
            # no frame: X-Frame-Options, is the browser's error page).
            assert form_answers
            assert [status for status, _ in form_answers] == [403] * len(form_answers)
        finally:
            context.close()
    record = stored(logs, 1)
    assert record.get("name") in (None, "cfg")
    assert not record.get("events")
