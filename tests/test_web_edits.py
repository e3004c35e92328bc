"""Editing names, tags and notes from the dashboard: only with ``--allow-edits``, only
from the dashboard's own pages (same Origin, the server's CSRF token), JSON only.

Requests go through httpx: in-process (Starlette's ``TestClient``, host ``testserver``)
and over a real socket to a served app and to ``expm ui --allow-edits`` in a process of
its own. Every refused request is checked to have changed nothing in the store.
"""

from __future__ import annotations

import getpass
import re
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from experiment_manager import ExperimentManager
from experiment_manager.web._background import BackgroundServer
from experiment_manager.web._edits import MAX_BODY_BYTES

warnings.filterwarnings("ignore", message=".*httpx.*")
from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import create_app  # noqa: E402

EDITS = ("name", "tags", "note")
BODIES: dict[str, dict[str, Any]] = {
    "name": {"name": "baseline"},
    "tags": {"add": ["best"]},
    "note": {"note": "diverged after epoch 3"},
}
ORIGIN = "http://testserver"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    manager = ExperimentManager(tmp_path / "logs", capture_environment=False)
    for lr in (0.1, 0.01, 0.001):
        with manager.experiment("cfg", {"lr": lr}, experiment_id="exp"):
            manager.log({"loss": lr})
    manager.remove("exp", 3)
    return tmp_path / "logs"


def token_of(html: str) -> str:
    match = re.search(r'<meta name="expm-edit-token" content="([A-Za-z0-9_-]+)">', html)
    assert match, "the page carries no edit token"
    return match.group(1)


class Site:
    """An app with edits allowed, its token read from its page as the page's script does."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.client = TestClient(create_app(logs, allowed_hosts=["testserver"], allow_edits=True))
        page = self.client.get("/experiments/exp")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        self.token = token_of(page.text)

    def post(
        self, what: str, body: Any, *, version: int = 1, headers: dict[str, str] | None = None
    ) -> Any:
        sent = {"origin": ORIGIN, "x-expm-token": self.token, **(headers or {})}
        sent = {k: v for k, v in sent.items() if v != ""}
        return self.client.post(
            f"/api/experiments/exp/versions/{version}/{what}", json=body, headers=sent
        )

    def state(self, version: int = 1) -> dict[str, Any]:
        record = ExperimentManager(self.logs, capture_environment=False).get_version("exp", version)
        return {
            "name": record.get("name"),
            "tags": record.get("tags") or [],
            "note": record.get("note"),
            "events": len(record.get("events") or []),
        }


@pytest.fixture
def site(logs: Path) -> Site:
    return Site(logs)


def refused(response: Any, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind, error
    message: str = error["message"]
    return message


# ---- Read-only by default ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("what", EDITS)
def test_without_the_flag_every_write_answers_405_and_pages_carry_no_token(
    logs: Path, method: str, what: str
) -> None:
    client = TestClient(create_app(logs, allowed_hosts=["testserver"]))
    response = client.request(
        method,
        f"/api/experiments/exp/versions/1/{what}",
        json=BODIES[what],
        headers={"origin": ORIGIN, "x-expm-token": "guess"},
    )
    assert response.status_code == 405
    assert response.json()["error"]["type"] == "MethodNotAllowed"
    assert response.headers["allow"] == "GET, HEAD"
    assert "--allow-edits" in response.json()["error"]["message"]
    # No token is handed out and no edit control has anything to call.
    for page in ("/experiments/exp", "/experiments/exp/versions/1"):
        assert "expm-edit-token" not in client.get(page).text
    paths = client.get("/api/openapi.json").json()["paths"]
    assert not any(path.endswith(("/name", "/tags", "/note")) for path in paths)
    record = ExperimentManager(logs, capture_environment=False).get_version("exp", 1)
    assert record.get("events") is None


# ---- Allowed edits -----------------------------------------------------------------------


def test_rename_tag_untag_and_note_are_recorded_events(site: Site) -> None:
    answer = site.post("name", {"name": "  baseline "})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "experiment_id": "exp",
        "version": 1,
        "name": "baseline",
        "tags": [],
        "note": None,
    }
    assert site.post("tags", {"add": ["best", "seed-1"]}).json()["tags"] == ["best", "seed-1"]
    both = site.post("tags", {"add": ["kept"], "remove": ["seed-1", "never-had"]})
    assert both.json()["tags"] == ["best", "kept"]
    assert site.post("note", {"note": "lr too high\nrerun"}).json()["note"] == "lr too high\nrerun"
    assert site.post("note", {"note": None}).json()["note"] is None

    record = ExperimentManager(site.logs, capture_environment=False).get_version("exp", 1)
    assert record["name"] == "baseline"
    assert record["tags"] == ["best", "kept"]
    assert "note" not in record or record["note"] is None
    events = record["events"]
    assert [e["action"] for e in events] == ["rename", "tag", "tag", "untag", "note", "note"]
    assert events[0]["value"] == "baseline"
    assert events[3]["value"] == ["seed-1", "never-had"]
    for event in events:  # who and when, as the CLI's changes record them
        assert event["host"] == socket.gethostname()
        assert event["user"] == getpass.getuser()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", event["at"])

    # The dashboard's own listing shows the change at once (the cache follows the file).
    listed = site.client.get("/api/experiments/exp?versions=1").json()["versions"][0]
    assert (listed["name"], listed["tags"]) == ("baseline", ["best", "kept"])
    searched = site.client.get("/api/search?q=name%20%3D%20'baseline'").json()
    assert [r["version"] for r in searched["results"]] == [1]


def test_edits_over_a_real_socket_with_httpx(logs: Path) -> None:
    with BackgroundServer(logs, allow_edits=True) as server, httpx.Client() as client:
        token = token_of(client.get(server.url("/experiments/exp/versions/2")).text)
        origin = server.url("").rstrip("/")
        url = server.url("/api/experiments/exp/versions/2/tags")
        answer = client.post(
            url, json={"add": ["x"]}, headers={"origin": origin, "x-expm-token": token}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["tags"] == ["x"]
        # Another server has another token.
        with BackgroundServer(logs, allow_edits=True) as other:
            assert token_of(client.get(other.url("/experiments/exp")).text) != token
            theirs = other.url("/api/experiments/exp/versions/2/tags")
            origin = other.url("").rstrip("/")
            refused_here = client.post(
                theirs, json={"add": ["y"]}, headers={"origin": origin, "x-expm-token": token}
            )
            refused(refused_here, 403, "CsrfTokenInvalid")
    tags = ExperimentManager(logs, capture_environment=False).get_version("exp", 2)["tags"]
    assert tags == ["x"]


# ---- Refused requests change nothing -------------------------------------------------------


@pytest.mark.parametrize("what", EDITS)
def test_missing_or_wrong_token_is_refused(site: Site, what: str) -> None:
    before = site.state()
    refused(site.post(what, BODIES[what], headers={"x-expm-token": ""}), 403, "CsrfTokenMissing")
    for wrong in ("nope", site.token[:-1], site.token + "x", site.token.upper(), " " + site.token):
        refused(
            site.post(what, BODIES[what], headers={"x-expm-token": wrong}), 403, "CsrfTokenInvalid"
        )
    two = site.client.post(
        f"/api/experiments/exp/versions/1/{what}",
        json=BODIES[what],
        headers=[("origin", ORIGIN), ("x-expm-token", site.token), ("x-expm-token", site.token)],
    )
    refused(two, 403, "CsrfTokenInvalid")
    assert site.state() == before


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://127.0.0.1:9999"},  # another local port: another origin
        {"origin": "http://evil.example"},
        {"origin": "https://testserver"},
        {"origin": "null"},  # a sandboxed frame or a file:// page
        {"origin": ""},  # no Origin at all
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
        {"sec-fetch-site": "none"},
    ],
)
def test_cross_site_requests_are_refused_even_with_the_token(
    site: Site, headers: dict[str, str]
) -> None:
    before = site.state()
    for what in EDITS:
        message = refused(site.post(what, BODIES[what], headers=headers), 403, "CrossOriginRequest")
        shown = headers.get("origin") or headers.get("sec-fetch-site")
        if shown:
            assert shown in message  # the error names the value refused
    assert site.state() == before


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"name=baseline"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nb\r\n--x--',
        ),
        ("text/plain", b'{"name": "baseline"}'),
        ("", b'{"name": "baseline"}'),
        ("application/json-seq", b'{"name": "baseline"}'),
    ],
)
def test_form_and_other_content_types_are_refused(
    site: Site, content_type: str, body: bytes
) -> None:
    before = site.state()
    headers = {"origin": ORIGIN, "x-expm-token": site.token}
    if content_type:
        headers["content-type"] = content_type
    answer = site.client.post("/api/experiments/exp/versions/1/name", content=body, headers=headers)
    message = refused(answer, 415, "UnsupportedMediaType")
    assert repr(content_type) in message
    assert site.state() == before


def test_a_json_charset_is_fine(site: Site) -> None:
    answer = site.client.post(
        "/api/experiments/exp/versions/1/name",
        content='{"name": "été"}'.encode(),
        headers={
            "origin": ORIGIN,
            "x-expm-token": site.token,
            "content-type": "application/json; charset=utf-8",
        },
    )
    assert answer.json()["name"] == "été"


def test_bodies_over_the_limit_are_refused(site: Site) -> None:
    before = site.state()
    big = b'{"note": "' + b"a" * MAX_BODY_BYTES + b'"}'
    headers = {"origin": ORIGIN, "x-expm-token": site.token, "content-type": "application/json"}
    answer = site.client.post("/api/experiments/exp/versions/1/note", content=big, headers=headers)
    refused(answer, 413, "RequestTooLarge")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"note": "'
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b"a" * 65536
        yield b'"}'

    answer = site.client.post(
        "/api/experiments/exp/versions/1/note", content=chunks(), headers=headers
    )
    refused(answer, 413, "RequestTooLarge")
    assert site.state() == before
    # A long note within the limit is fine (the library's own limit is 100,000 characters).
    assert len(site.post("note", {"note": "b" * 100_000}).json()["note"]) == 100_000


@pytest.mark.parametrize(
    ("what", "body", "kind", "named"),
    [
        ("name", b"{not json", "InvalidJSON", "not JSON"),
        ("name", b'["baseline"]', "InvalidArgumentError", "['baseline']"),
        ("name", b'{"nam": "x"}', "InvalidArgumentError", "'nam'"),
        ("name", b'{"name": 3}', "InvalidArgumentError", "name 3"),
        ("name", b'{"name": "  "}', "InvalidArgumentError", "must not be empty"),
        ("name", b"{}", "InvalidArgumentError", "name"),
        ("tags", b'{"add": ["two words"]}', "InvalidArgumentError", "'two words'"),
        ("tags", b'{"add": "best"}', "InvalidArgumentError", "'best'"),
        ("tags", b"{}", "InvalidArgumentError", "add or remove"),
        ("note", b'{"note": 5}', "InvalidArgumentError", "note 5"),
        ("note", b'{"text": "x"}', "InvalidArgumentError", "'text'"),
    ],
)
def test_bad_bodies_get_typed_errors_naming_the_value(
    site: Site, what: str, body: bytes, kind: str, named: str
) -> None:
    before = site.state()
    headers = {"origin": ORIGIN, "x-expm-token": site.token, "content-type": "application/json"}
    answer = site.client.post(
        f"/api/experiments/exp/versions/1/{what}", content=body, headers=headers
    )
    assert named in refused(answer, 400, kind)
    assert site.state() == before


def test_unknown_and_trashed_versions(site: Site) -> None:
    refused(site.post("name", {"name": "x"}, version=9), 404, "ExperimentNotFoundError")
    message = refused(site.post("name", {"name": "x"}, version=3), 400, "InvalidArgumentError")
    assert "trash" in message
    answer = site.client.post(
        "/api/experiments/..%2Fx/versions/1/name",
        json={"name": "x"},
        headers={"origin": ORIGIN, "x-expm-token": site.token},
    )
    assert answer.status_code == 404


def test_other_methods_and_paths_stay_refused_with_edits_on(site: Site) -> None:
    headers = {"origin": ORIGIN, "x-expm-token": site.token}
    assert site.client.post("/api/experiments/exp", json={}, headers=headers).status_code == 405
    for method in ("PUT", "PATCH", "DELETE", "OPTIONS"):
        answer = site.client.request(
            method, "/api/experiments/exp/versions/1/name", json={"name": "x"}, headers=headers
        )
        assert answer.status_code == 405, method
        assert answer.headers["allow"] == "GET, HEAD, POST"
        assert "access-control-allow-origin" not in answer.headers
    assert site.state()["events"] == 0


def test_openapi_describes_the_edit_endpoints_only_when_served(site: Site) -> None:
    doc = site.client.get("/api/openapi.json").json()
    for what in EDITS:
        operation = doc["paths"][f"/api/experiments/{{experiment_id}}/versions/{{version}}/{what}"]
        assert set(operation) == {"post"}
        assert set(operation["post"]["responses"]) == {"200", "400", "403", "404", "413", "415"}
        assert "application/json" in operation["post"]["requestBody"]["content"]
    routes = {route.path for route in site.client.app.routes}  # type: ignore[attr-defined]
    assert set(doc["paths"]) == routes


# ---- expm ui ---------------------------------------------------------------------------------


def test_expm_ui_help_names_the_flag_and_its_checks() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "experiment_manager", "ui", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    text = " ".join(result.stdout.split())
    assert "--allow-edits" in text
    for words in ("Origin", "CSRF token", "JSON", "read-only"):
        assert words in text


@pytest.mark.timeout(120)
@pytest.mark.parametrize("flag", [True, False])
def test_expm_ui_accepts_edits_only_with_the_flag(logs: Path, flag: bool) -> None:
    command = [sys.executable, "-m", "experiment_manager", "--log-dir", str(logs), "ui"]
    command += ["--port", "0"] + (["--allow-edits"] if flag else [])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        match = re.search(r"at http://127\.0\.0\.1:(\d+)/ +\((edits allowed|read-only)", line)
        assert match, line
        assert match.group(2) == ("edits allowed" if flag else "read-only")
        base = f"http://127.0.0.1:{match.group(1)}"
        with httpx.Client() as client:
            page = client.get(base + "/experiments/exp").text
            token = token_of(page) if flag else "guess"
            answer = client.post(
                base + "/api/experiments/exp/versions/1/name",
                json={"name": "from-the-page"},
                headers={"origin": base, "x-expm-token": token},
            )
        assert answer.status_code == (200 if flag else 405), answer.text
    finally:
        process.terminate()
        process.communicate(timeout=30)
    name = ExperimentManager(logs, capture_environment=False).get_version("exp", 1).get("name")
    assert (name == "from-the-page") is flag
