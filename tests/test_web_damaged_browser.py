"""A damaged history in the dashboard, in headless Chromium: an error box, no internals.

The API answers for damaged documents are tested in ``test_damaged_documents``; here the
pages themselves are opened in Debian's Chromium (driven by Playwright, as in
``test_web_browser``) against the real server, over a log folder holding one healthy
experiment and two damaged ones: a history that is not JSON at all, and one whose
``timestamps`` hold a string. Each damaged page must show its error box (the
experiment page's ``#page-error``, the version page's content, the compare page's diff)
naming the file relative to the log folder, with no traceback and no absolute path,
while the list still shows the healthy experiment.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from experiment_manager.web._background import BackgroundServer
from tests import _chromium
from tests.test_damaged_documents import _good, _healthy_document, _write
from tests.test_web_browser import wait_ready

pytestmark = pytest.mark.slow

# The browser fixtures (tests/_chromium.py): one Chromium per module, a page per test.
browser = _chromium.browser
page = _chromium.page

#: What a traceback or an internal error would show.
INTERNALS = ("Traceback", 'File "', "site-packages", '.py", line', " object at 0x")


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("damaged-dashboard")
    log_dir = root / "logs"
    # "bad": a well-formed document whose timestamps hold a string.
    source = root / "source"
    source.mkdir()
    document = _healthy_document(source)
    _write(log_dir, document, ("versions", 0, "timestamps", "loss", 0), "x")
    # "broken": not JSON at all.
    (log_dir / "broken.json").write_text('{"format": "experiment-manager/1", "vers', "utf-8")
    _good(log_dir)
    return log_dir


@pytest.fixture(scope="module")
def server(log_dir: Path) -> Iterator[BackgroundServer]:
    with BackgroundServer(log_dir) as live:
        yield live


def _assert_no_internals(text: str, log_dir: Path) -> None:
    for word in INTERNALS:
        assert word not in text, (word, text)
    assert str(log_dir) not in text
    assert str(log_dir.parent) not in text
    assert str(Path.home()) + "/" not in text


@pytest.mark.parametrize(
    ("experiment_id", "file_name"), [("bad", "bad.json"), ("broken", "broken.json")]
)
def test_a_damaged_experiment_page_shows_its_error_box(
    server: BackgroundServer, page: Any, log_dir: Path, experiment_id: str, file_name: str
) -> None:
    page.goto(server.url(f"/experiments/{experiment_id}"))
    wait_ready(page)
    box = page.locator("#page-error .error-box")
    assert box.count() == 1
    assert box.is_visible()
    assert box.get_attribute("role") == "alert"
    text = box.inner_text()
    assert text.startswith("Could not load this experiment.")
    assert "CorruptHistoryError" in text
    assert f"'{file_name}'" in text  # named relative to the log folder
    _assert_no_internals(text, log_dir)
    _assert_no_internals(page.locator("body").inner_text(), log_dir)
    # The rest of the page (versions, charts) is hidden, not drawn empty.
    assert page.locator("main > section.panel:visible").count() == 0
    page.watch.assert_clean()


def test_a_damaged_version_page_shows_its_error_box(
    server: BackgroundServer, page: Any, log_dir: Path
) -> None:
    page.goto(server.url("/experiments/bad/versions/1"))
    wait_ready(page)
    box = page.locator("#content .error-box")
    assert box.count() == 1
    assert box.is_visible()
    text = box.inner_text()
    assert text.startswith("Could not load this version.")
    assert "'bad.json'" in text
    _assert_no_internals(page.locator("body").inner_text(), log_dir)
    page.watch.assert_clean()


def test_comparing_with_a_damaged_version_shows_an_error_box(
    server: BackgroundServer, page: Any, log_dir: Path
) -> None:
    page.goto(server.url("/compare?refs=good@1,bad@1"))
    wait_ready(page)
    box = page.locator("#compare-diff .error-box")
    box.wait_for()
    text = box.inner_text()
    assert text.startswith("Could not compare these versions.")
    assert "'bad.json'" in text
    _assert_no_internals(page.locator("body").inner_text(), log_dir)
    page.watch.assert_clean()


def test_the_list_shows_the_healthy_experiment_beside_the_damaged_ones(
    server: BackgroundServer, page: Any, log_dir: Path
) -> None:
    page.goto(server.url("/"))
    wait_ready(page)
    ids = page.locator("#experiments tbody tr td:first-child").all_inner_texts()
    assert sorted(ids) == ["bad", "broken", "good"]
    damaged = page.locator("#experiments tr.row-error")
    assert damaged.count() == 2
    assert "bad.json" in damaged.all_inner_texts()[0] + damaged.all_inner_texts()[1]
    _assert_no_internals(page.locator("body").inner_text(), log_dir)
    page.watch.assert_clean()
