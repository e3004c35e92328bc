"""``expm ui`` as a process: it binds before it speaks, and stops when asked."""

from __future__ import annotations

import http.client
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest

from experiment_manager import ExperimentManager
from experiment_manager.cli._commands_ui import bind

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note
from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402


def _start(log_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "experiment_manager", "--log-dir", str(log_dir), "ui", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _serving_port(process: subprocess.Popen[str]) -> int:
    assert process.stderr is not None
    for _ in range(10):
        line = process.stderr.readline()
        match = re.search(r"^Serving .* at http://127\.0\.0\.1:(\d+)/", line)
        if match:
            return int(match.group(1))
    pytest.fail("expm ui never said where it serves")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    with manager.experiment("exp", {"lr": 0.1}, experiment_id="exp"):
        manager.log({"loss": 0.5})
    return tmp_path / "logs"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_port_0_serves_on_a_free_port_and_a_signal_stops_it_cleanly(
    logs: Path, stop: signal.Signals
) -> None:
    process = _start(logs, "--port", "0")
    try:
        port = _serving_port(process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/experiments") as answer:
            assert answer.status == 200  # it listened before it said so
        started = time.monotonic()
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - started
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Aborted" not in err
    assert "Stopped." in err
    assert took < 5, f"took {took:.1f} s to stop"  # a hang, not a speed target


@pytest.mark.timeout(120)
@pytest.mark.parametrize("connection", ["closed", "kept-alive", "none"])
def test_sigterm_ends_it_with_exit_code_0_and_no_traceback(logs: Path, connection: str) -> None:
    """As a service manager or ``docker stop`` ends it: SIGTERM, with or without a tab open.

    Not timed (the benchmark, benchmarks/bench_cli.py, measures how promptly).
    """
    process = _start(logs, "--port", "0")
    client = None
    try:
        port = _serving_port(process)
        # "none": the signal as soon as it says where it serves, which may be before
        # uvicorn has its own handlers.
        if connection != "none":
            # A browser tab keeps its connection open between requests.
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            client.request("GET", "/api/experiments")
            assert client.getresponse().read().startswith(b'{"experiments":')
            if connection == "closed":
                client.close()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if client is not None:
            client.close()
        process.kill()
    assert process.returncode == 0, err
    assert out == ""
    assert err == "Stopped.\n"  # nothing else after "Serving ...": no traceback, no warning
    bind("127.0.0.1", port).close()  # the port was let go: expm ui can start on it again


@pytest.mark.timeout(120)
def test_a_busy_port_is_one_line_and_exit_code_5_before_anything_is_served(logs: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start(logs, "--port", str(port))
        out, err = process.communicate(timeout=60)
    assert process.returncode == 5
    assert out == ""
    assert err.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use (another expm ui?): choose "
        "another with --port, or --port 0 for a free one"
    ]


def test_the_page_of_an_unknown_experiment_or_version_answers_404(logs: Path) -> None:
    client = TestClient(create_app(logs, allowed_hosts=["testserver"]))
    known = client.get("/experiments/exp")
    assert known.status_code == 200
    unknown = client.get("/experiments/nope")
    assert unknown.status_code == 404
    assert unknown.text == known.text  # the same friendly page, which says so
    assert client.get("/experiments/exp/versions/1").status_code == 200
    assert client.get("/experiments/exp/versions/2").status_code == 404
    assert client.get("/experiments/nope/versions/1").status_code == 404
    (logs / "broken.json").write_text('{"format": 2, "experiment_id": "broken", "versions": 1}')
    assert client.get("/experiments/broken").status_code == 200  # its page shows the error


def test_without_the_chart_library_expm_ui_says_how_to_get_it(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from experiment_manager.cli import _commands_ui
    from experiment_manager.cli import main as cli_main
    from experiment_manager.web import _pages

    served: list[int] = []
    monkeypatch.setattr(_pages, "VENDOR_DIR", tmp_path / "no-vendor")
    monkeypatch.setattr(
        _commands_ui, "_serve", lambda app, listener, url, stop: served.append(listener.fileno())
    )
    result = CliRunner().invoke(cli_main, ["--log-dir", str(logs), "ui", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert served
    (warning,) = [line for line in result.output.splitlines() if "chart library" in line]
    assert "npm ci" in warning
    assert "NPM_CONFIG_REGISTRY" in warning
