"""Hosts on one machine: network namespaces on a bridge, and a PostgreSQL server in one.

:class:`Network` makes a server namespace holding a bridge with :data:`SERVER_ADDRESS`
and one namespace per host, each joined to the bridge by a veth pair (the host's end is
``eth0``). Every link and address lives inside these namespaces, so nothing of the
machine's own network changes and two runs at once do not meet. :class:`Cluster` is a
throwaway PostgreSQL 15 cluster started inside the server namespace, listening only on
:data:`SERVER_ADDRESS`, admitting the hosts' subnet with scram-sha-256.

This needs root (namespaces, and Debian's ``postgres`` user to run the server):
:func:`require_root_tools` fails in CI (``CI`` set) and skips elsewhere when it cannot.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

SUBNET = "10.77.0.0/24"
SERVER_ADDRESS = "10.77.0.1"
PORT = 5432
USER, PASSWORD = "expm", "expm-test"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"multi-host test cannot run in CI: {reason}")
    pytest.skip(reason)


def require_root_tools() -> None:
    """Fail (CI) or skip (elsewhere) unless root, ``ip`` and PostgreSQL 15 are here."""
    if os.geteuid() != 0:
        _unavailable("network namespaces need root (run as root, as CI does)")
    if shutil.which("ip") is None:
        _unavailable("the ip command is missing (apt-get install iproute2)")
    if not (PG_BIN / "initdb").is_file():
        _unavailable(f"PostgreSQL 15 is missing ({PG_BIN}; apt-get install postgresql-15)")
    if shutil.which("runuser") is None:
        _unavailable("runuser is missing (util-linux)")


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


class Network:
    """A server namespace and ``hosts`` host namespaces on one bridge.

    Host ``n`` (1-based) is the namespace :meth:`host` names, at ``10.77.0.(10 + n)``.
    """

    def __init__(self, hosts: int) -> None:
        tag = secrets.token_hex(3)
        self.server = f"expm{tag}s"
        self.hosts = [f"expm{tag}h{n}" for n in range(1, hosts + 1)]
        self._made: list[str] = []

    def host(self, n: int) -> str:
        """The namespace of host ``n`` (1-based)."""
        return self.hosts[n - 1]

    def setup(self) -> None:
        """Make the namespaces, the bridge and the links (undo with :meth:`close`).

        Raises:
            RuntimeError: An ``ip`` command failed (its message is kept).
        """
        for name in [self.server, *self.hosts]:
            _run("ip", "netns", "add", name)
            self._made.append(name)
            _run("ip", "-n", name, "link", "set", "lo", "up")
        srv = self.server
        _run("ip", "-n", srv, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", srv, "addr", "add", f"{SERVER_ADDRESS}/24", "dev", "br0")
        _run("ip", "-n", srv, "link", "set", "br0", "up")
        for n, host in enumerate(self.hosts, start=1):
            port = f"vh{n}"
            _run(
                "ip",
                "-n",
                srv,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                host,
            )
            _run("ip", "-n", srv, "link", "set", port, "master", "br0")
            _run("ip", "-n", srv, "link", "set", port, "up")
            _run("ip", "-n", host, "addr", "add", f"10.77.0.{10 + n}/24", "dev", "eth0")
            _run("ip", "-n", host, "link", "set", "eth0", "up")

    def cut(self, n: int) -> None:
        """Delete host ``n``'s link: its packets stop, no FIN or RST is ever sent."""
        _run("ip", "-n", self.host(n), "link", "del", "eth0")

    def close(self) -> None:
        """Kill what still runs in the namespaces, then delete them."""
        for name in reversed(self._made):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                for pid in _run("ip", "netns", "pids", name).split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _run("ip", "netns", "del", name)
        self._made.clear()


class Cluster:
    """A throwaway PostgreSQL 15 cluster inside ``namespace``, on :data:`SERVER_ADDRESS`."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        # The server runs as Debian's postgres user, which must reach the folder.
        self.folder = Path(tempfile.mkdtemp(prefix="expm-hosts-"))
        self.folder.chmod(0o755)
        self.data = self.folder / "data"
        self.uri = f"postgresql://{USER}:{PASSWORD}@{SERVER_ADDRESS}:{PORT}/postgres"

    def _as_postgres(self, *args: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args]

    def start(self) -> None:
        """initdb, admit :data:`SUBNET`, start the server; return when it accepts.

        Raises:
            RuntimeError: initdb or pg_ctl failed (the server log's tail is kept).
        """
        shutil.chown(self.folder, "postgres")
        password = self.folder / "pw"
        password.write_text(PASSWORD + "\n")
        shutil.chown(password, "postgres")
        _run(
            *self._as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                USER,
                f"--pwfile={password}",
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        )
        password.unlink()
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write(f"host all {USER} {SUBNET} scram-sha-256\n")
        options = (
            f"-c listen_addresses={SERVER_ADDRESS} -p {PORT} -k {self.folder}"
            " -c max_connections=200"
        )
        try:
            _run(
                "ip",
                "netns",
                "exec",
                self.namespace,
                *self._as_postgres(
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.folder / "server.log"),
                    "-w",
                    "-t",
                    "30",
                    "start",
                    "-o",
                    options,
                ),
            )
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{self.log_tail()}") from None

    def log_tail(self) -> str:
        """The end of the server's log, for a failure's message."""
        try:
            return (self.folder / "server.log").read_text(errors="replace")[-2000:]
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                _run(
                    *self._as_postgres(
                        str(PG_BIN / "pg_ctl"),
                        "-D",
                        str(self.data),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    )
                )
        shutil.rmtree(self.folder, ignore_errors=True)
