"""The dashboard's security model, checked in-process (and once over a real socket).

Loopback only by default; Host header checked (DNS rebinding); GET/HEAD only; no CORS;
the same security headers on every response; no path, however encoded, reaches a file
outside the log folder or the static folder; checkpoint paths are data, never opened;
every JSON body is strict.
"""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import pytest
from click.testing import CliRunner

from experiment_manager import ExperimentManager
from experiment_manager.cli import _commands_ui, main
from tests._util import strict_loads

warnings.filterwarnings("ignore", message=".*httpx.*")  # TestClient's deprecation note

import uvicorn  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from experiment_manager.web import _pages, create_app  # noqa: E402
from experiment_manager.web._security import CONTENT_SECURITY_POLICY, parse_host  # noqa: E402

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECRET = "TOP-SECRET-7f3a9c"
SRC = Path(__file__).resolve().parent.parent / "src"

#: Encodings of "go up", separators, NUL and look-alike dots.
TRAVERSALS = [
    "..",
    "%2e%2e",
    "%2E%2E",
    "%2e%2e%2f",
    "..%2f",
    "..%2F",
    "%2e%2e/",
    "..%5c",
    "..\\",
    "%252e%252e",
    "%252e%252e%252f",
    "....//",
    "....%2f%2f",
    ".%2e",
    "%2e.",
    "%00",
    "..%00",
    "%c0%ae%c0%ae",
    "%e2%80%a4%e2%80%a4",
    "%ef%bc%8e%ef%bc%8e",
    "\u2024\u2024",
    "\uff0e\uff0e",
    "%2fetc%2fpasswd",
    "%2F",
    "C:%5cWindows",
    "~",
]
SUFFIXES = ["", "secret", "secret.json", "secret.txt", "%2fsecret", "/secret", "%00.json"]
TEMPLATES = [
    "/api/experiments/{}",
    "/api/experiments/{}/versions/1",
    "/api/experiments/{}/series?metric=loss",
    "/api/experiments/{}/versions/1/points?metric=loss",
    "/api/experiments/{}/compare?versions=1,2",
    "/api/search?experiment={}",
    "/experiments/{}",
    "/experiments/{}/versions/1",
    "/experiments/exp/versions/{}",
    "/static/{}",
    "/static/vendor/{}",
    "/{}",
]


def corpus(suffixes: list[str] = SUFFIXES) -> list[str]:
    paths = []
    for template in TEMPLATES:
        for attack in TRAVERSALS:
            for suffix in suffixes:
                paths.append(template.format(attack + suffix))
    paths += [
        "/static/../secret.txt",
        "/static/..%2f..%2fsecret.txt",
        "/static/%2e%2e/%2e%2e/secret.txt",
        "/static/..%2f_app.py",
        "/static/../_app.py",
        "/static/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/api/experiments/..%2f..%2fsecret",
        "/api/experiments/%2e%2e%2fsecret",
        "/api/experiments/..%252fsecret",
        "/experiments/..%2f..%2fsecret",
        "//etc/passwd",
        "/static//etc/passwd",
        "/api/experiments//etc/passwd",
    ]
    return paths


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log folder, with secrets beside it that must never be served."""
    root = tmp_path_factory.mktemp("sec")
    log_dir = root / "logs"
    manager = ExperimentManager(log_dir, capture_environment=False)
    manager.start_experiment("exp", {"lr": 0.1}, {"note": "<script>alert(1)</script>"})
    manager.log_metrics({"loss": [0.5, float("nan"), float("inf")]})
    manager.add_checkpoint(root / "secret.txt", step=1)
    manager.end_experiment()
    manager.start_experiment("exp", {"lr": 0.2}, {})
    manager.end_experiment()
    # Beside the log folder: a plain secret and a valid history of a "secret" experiment.
    (root / "secret.txt").write_text(SECRET)
    other = ExperimentManager(root, capture_environment=False)
    other.start_experiment("secret", {"token": SECRET}, {}, experiment_id="secret")
    other.end_experiment()
    assert (root / "secret.json").exists()
    return log_dir


@pytest.fixture
def client(planted: Path) -> TestClient:
    return TestClient(create_app(planted, allowed_hosts=["testserver"]))


Answer = tuple[int, dict[str, str], bytes]


def _scope(raw_path: str, host: bytes) -> dict[str, Any]:
    raw, _, query = raw_path.encode("utf-8").partition(b"?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw.decode("latin-1"), encoding="utf-8", errors="surrogateescape"),
        "raw_path": raw,
        "query_string": query,
        "root_path": "",
        "headers": [(b"host", host)],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8765),
    }


def raw_get_many(app: Any, raw_paths: list[str], host: bytes = b"testserver") -> list[Answer]:
    """GETs straight into the ASGI app, paths decoded as uvicorn does (no normalising)."""

    async def one(raw_path: str) -> Answer:
        messages: list[dict[str, Any]] = []
        requested: list[bool] = []

        async def receive() -> dict[str, Any]:
            if not requested:  # the request once; then the client just waits (no disconnect)
                requested.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}
            await anyio.sleep_forever()
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)

        await app(_scope(raw_path, host), receive, send)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return start["status"], headers, body

    async def every() -> list[Answer]:
        return [await one(path) for path in raw_paths]

    return anyio.run(every)


def raw_get(app: Any, raw_path: str, host: bytes = b"testserver") -> Answer:
    return raw_get_many(app, [raw_path], host)[0]


def assert_secure_headers(headers: Any) -> None:
    assert headers["content-security-policy"] == CSP
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert not [name for name in headers if name.lower().startswith("access-control-")]


# -- where it listens, and which Host it answers ----------------------------------------


def test_expm_ui_binds_loopback_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    served: list[Any] = []
    monkeypatch.setattr(_commands_ui, "_serve", lambda *args: served.append(args))
    result = CliRunner().invoke(main, ["--log-dir", str(tmp_path), "ui"])
    assert result.exit_code == 0, result.output
    listener = served[0][1]
    assert listener.getsockname()[:2] == ("127.0.0.1", 8765)
    listener.close()
    assert "warning" not in result.stderr


def test_default_app_answers_loopback_names_only(planted: Path) -> None:
    app = create_app(planted)
    for base in ("http://127.0.0.1:8765", "http://localhost:1234", "http://[::1]:8765"):
        assert TestClient(app, base_url=base).get("/api/experiments").status_code == 200
    # TestClient's own host is refused unless create_app is given it.
    response = TestClient(app).get("/api/experiments")
    assert response.status_code == 400
    assert strict_loads(response.content)["error"]["type"] == "InvalidHost"
    assert_secure_headers(response.headers)


@pytest.mark.parametrize(
    "host",
    [
        b"evil.example",
        b"evil.example:8765",
        b"127.0.0.1.evil.example",
        b"localhost.evil.example:8765",
        b"127.0.0.2:8765",
        b"0.0.0.0:8765",
        b"localhost:8765@evil.example",
        b"evil.example#127.0.0.1",
        b"127.0.0.1:8765:80",
        b"[::1",
        b"::1",
        b"",
        b" 127.0.0.1",
        b"127.0.0.1:",
        b"127.0.0.1:99999",
        b"127.0.0.1:\xd9\xa3",
    ],
)
def test_rebinding_hosts_get_400(planted: Path, host: bytes) -> None:
    app = create_app(planted)
    status, headers, body = raw_get(app, "/api/experiments", host=host)
    assert status == 400
    assert json.loads(body)["error"]["type"] == "InvalidHost"
    assert headers["content-security-policy"] == CSP


def test_ports_are_checked_when_given(planted: Path) -> None:
    app = create_app(planted, allowed_hosts=["127.0.0.1:8765", "localhost:8765", "::1"])
    assert raw_get(app, "/api/experiments", host=b"127.0.0.1:8765")[0] == 200
    assert raw_get(app, "/api/experiments", host=b"LOCALHOST:8765")[0] == 200
    assert raw_get(app, "/api/experiments", host=b"[::1]:1")[0] == 200
    assert raw_get(app, "/api/experiments", host=b"127.0.0.1:8766")[0] == 400
    assert raw_get(app, "/api/experiments", host=b"127.0.0.1")[0] == 400  # port 80
    assert raw_get(app, "/api/experiments", host=b"testserver")[0] == 400
    with pytest.raises(ValueError, match="host name"):
        create_app(planted, allowed_hosts=["a b"])


def test_missing_or_repeated_host_header_is_refused(planted: Path) -> None:
    app = create_app(planted, allowed_hosts=["testserver"])
    for headers in ([], [(b"host", b"testserver"), (b"host", b"testserver")]):
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/api/experiments",
            "raw_path": b"/api/experiments",
            "query_string": b"",
            "headers": headers,
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any], sent: list[dict[str, Any]] = sent) -> None:
            sent.append(message)

        anyio.run(app, scope, receive, send)  # type: ignore[arg-type]
        assert sent[0]["status"] == 400


def test_parse_host() -> None:
    assert parse_host("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_host("[::1]") == ("[::1]", None)
    assert parse_host("[::1]x") is None
    assert parse_host("a:b") is None


# -- read-only, no CORS, headers everywhere ---------------------------------------------


@pytest.mark.parametrize(
    "method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"]
)
@pytest.mark.parametrize("path", ["/", "/api/experiments", "/api/experiments/exp", "/nope"])
def test_only_get_and_head(client: TestClient, method: str, path: str) -> None:
    response = client.request(
        method,
        path,
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert strict_loads(response.content)["error"]["type"] == "MethodNotAllowed"
    assert_secure_headers(response.headers)


def test_no_cors_even_when_asked(client: TestClient) -> None:
    for path in ("/api/experiments", "/", "/api/experiments/exp/versions/1", "/nope"):
        response = client.get(path, headers={"Origin": "http://evil.example"})
        assert_secure_headers(response.headers)


def test_security_headers_on_every_kind_of_response(client: TestClient, planted: Path) -> None:
    urls = [
        "/",
        "/experiments/exp",
        "/experiments/exp/versions/1",
        "/static/vendor/uPlot.iife.min.js",
        "/api/experiments",
        "/api/openapi.json",
        "/api/experiments/exp/versions/1?download=1",
        "/api/experiments/nope",
        "/api/search?q=(",
        "/nope",
        "/static/nope.js",
        *[f"/static/{name}" for name in sorted(_pages.static_names())],
    ]
    for url in urls:
        assert_secure_headers(client.get(url).headers)
        assert_secure_headers(client.head(url).headers)
    assert CONTENT_SECURITY_POLICY == CSP
    # An unexpected failure answers 500 with the same headers and no traceback.
    app = create_app(planted, allowed_hosts=["testserver"])

    def explode() -> None:
        raise RuntimeError(SECRET)

    app.state.manager.list_experiments = explode
    response = TestClient(app, raise_server_exceptions=False).get("/api/experiments")
    assert response.status_code == 500
    assert strict_loads(response.content)["error"]["type"] == "InternalError"
    assert SECRET not in response.text
    assert_secure_headers(response.headers)


def test_websockets_are_refused(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/api/experiments"):
        pass


# -- paths ------------------------------------------------------------------------------


def test_traversal_corpus_never_leaves_the_log_dir(planted: Path) -> None:
    app = create_app(planted, allowed_hosts=["testserver"])
    app_source = (SRC / "experiment_manager" / "web" / "_app.py").read_text()
    paths = corpus()
    for path, (status, headers, body) in zip(paths, raw_get_many(app, paths), strict=True):
        assert status in (400, 404), (path, status, body[:200])
        assert SECRET.encode() not in body, path
        assert b"root:" not in body, path
        assert b"def create_app" not in body, path
        assert headers["content-security-policy"] == CSP
        if headers["content-type"].startswith("application/json"):
            assert "error" in strict_loads(body)
    client = TestClient(app)
    for path in corpus(["", "secret.json"]):
        response = client.get(path)  # httpx (like a browser) resolves dot segments first
        if response.status_code == 200:
            assert response.request.url.path in ("/", "/experiments/exp"), path
        else:
            assert response.status_code in (400, 404), (path, response.status_code)
        assert SECRET not in response.text
        assert app_source[:200] not in response.text


def test_static_serves_only_listed_regular_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, planted: Path
) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "index.html").write_text("<!doctype html><title>ok</title>")
    (static / "app.js").write_text("console.log('ok');")
    (static / ".hidden.js").write_text(SECRET)
    (static / "sub").mkdir()
    (static / "sub" / "inner.js").write_text(SECRET)
    (tmp_path / "secret.txt").write_text(SECRET)
    (static / "link.js").symlink_to(tmp_path / "secret.txt")
    monkeypatch.setattr(_pages, "STATIC_DIR", static)
    app = create_app(planted, allowed_hosts=["testserver"])
    client = TestClient(app)
    ok = client.get("/static/app.js")
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "text/javascript; charset=utf-8"
    assert client.get("/").text.startswith("<!doctype html>")
    for name in (".hidden.js", "sub", "sub/inner.js", "sub%2finner.js", "link.js", "secret.txt"):
        status, _, body = raw_get(app, f"/static/{name}")
        assert status == 404, name
        assert SECRET.encode() not in body
    paths = corpus()
    for path, (_, _, body) in zip(paths, raw_get_many(app, paths), strict=True):
        assert SECRET.encode() not in body, path


def test_pages_check_ids_and_versions(client: TestClient) -> None:
    for path, status in (
        ("/experiments/exp", 200),
        ("/experiments/never-ran", 404),  # the same page, which reports the unknown id
        ("/experiments/exp/versions/7", 404),
    ):
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "text/html; charset=utf-8"
    for path in (
        "/experiments/.hidden",
        "/experiments/a%20b",
        "/experiments/%3Cscript%3E",
        "/experiments/exp/versions/0",
        "/experiments/exp/versions/x",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/plain")
        assert "<script>" not in response.text.lower()


def test_chart_library_is_served_from_the_package_build(client: TestClient) -> None:
    lock = json.loads((SRC.parent / "package-lock.json").read_text(encoding="utf-8"))
    pinned = lock["packages"]["node_modules/uplot"]["version"]
    stamp = json.loads((_pages.VENDOR_DIR / ".versions.json").read_text(encoding="utf-8"))
    assert stamp["uplot"]["version"] == pinned
    for name, media in (
        ("uPlot.iife.min.js", "text/javascript; charset=utf-8"),
        ("uPlot.min.css", "text/css; charset=utf-8"),
    ):
        response = client.get(f"/static/vendor/{name}")
        assert response.status_code == 200, name
        assert response.headers["content-type"] == media
        assert response.content == (_pages.VENDOR_DIR / name).read_bytes()
    assert b"uPlot" in client.get("/static/vendor/uPlot.iife.min.js").content
    for path in (
        "/static/vendor/.versions.json",
        "/static/vendor/other.js",
        "/static/vendor/..%2Fchart.js",
        "/static/vendor/%2e%2e%2fexperiment.html",
        "/static/vendor/",
    ):
        assert client.get(path).status_code == 404, path


def test_no_third_party_browser_code_is_tracked_by_git() -> None:
    ignored = (SRC.parent / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "src/experiment_manager/web/static/vendor/" in ignored
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=SRC.parent,
        capture_output=True,
        check=False,
    )
    if inside.returncode != 0:
        return  # an unpacked sdist: only .gitignore can be checked
    tracked = subprocess.run(
        ["git", "ls-files", "src/experiment_manager/web/static"],
        cwd=SRC.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert tracked, "the static folder should be tracked"
    assert not [name for name in tracked if "/vendor/" in name or "uPlot" in name]
    assert not [name for name in tracked if "plotly" in name.lower()]


def test_checkpoint_paths_are_data_never_opened(client: TestClient, planted: Path) -> None:
    record = strict_loads(client.get("/api/experiments/exp/versions/1").content)
    secret_path = str(planted.parent / "secret.txt")
    assert record["checkpoints"] == [secret_path]
    assert SECRET not in json.dumps(record)
    assert client.get(f"/static/{secret_path}").status_code == 404
    assert client.get("/api/experiments/secret").status_code == 404  # beside, not inside


# -- strict JSON ------------------------------------------------------------------------


def test_every_json_body_is_strict(client: TestClient) -> None:
    urls = [
        "/api/experiments",
        "/api/search",
        "/api/experiments/exp",
        "/api/experiments/exp/versions/1",
        "/api/experiments/exp/compare?versions=1,2",
        "/api/experiments/exp/series?metric=loss",
        "/api/experiments/exp/series?metric=loss&buckets=0",
        "/api/experiments/exp/versions/1/points?metric=loss",
        "/api/openapi.json",
        "/api/nope",
    ]
    for url in urls:
        response = client.get(url)
        assert response.headers["content-type"] == "application/json"
        strict_loads(response.content)  # raises on NaN / Infinity tokens
    body = strict_loads(client.get("/api/experiments/exp/versions/1").content)
    assert body["metrics"]["loss"] == [0.5, "NaN", "Infinity"]
    assert body["metadata"]["note"] == "<script>alert(1)</script>"  # data; pages escape it


# -- the same over a real socket --------------------------------------------------------


@pytest.fixture
def server(planted: Path) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    app = create_app(planted, allowed_hosts=[f"127.0.0.1:{port}"])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        instance.should_exit = True
        thread.join(timeout=20)


def test_raw_http_traversal_over_a_socket(server: int) -> None:
    for path in corpus(["", "secret", "%2fsecret.txt"]):
        connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
        try:
            try:
                connection.putrequest("GET", path.encode("utf-8").decode("latin-1"), skip_host=True)
            except (http.client.InvalidURL, ValueError):
                continue  # http.client itself refuses to send it
            connection.putheader("Host", f"127.0.0.1:{server}")
            connection.endheaders()
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        assert response.status in (400, 404), (path, response.status)
        assert SECRET.encode() not in body, path
        assert response.getheader("content-security-policy") == CSP
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    connection.request("GET", "/api/experiments", headers={"Host": "attacker.example"})
    assert connection.getresponse().status == 400
    connection.close()
