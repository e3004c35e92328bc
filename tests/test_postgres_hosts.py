"""Many hosts, one PostgreSQL store: real network namespaces and real TCP.

The server runs in its own namespace (see :mod:`tests._netns`); each "host" is another
namespace with its own address and its own local journal folder (``EXPM_SPOOL_DIR``),
running several processes at once. What one host writes is read back from another.
Needs root (CI runs as root); elsewhere the tests skip saying why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import _netns

pytestmark = pytest.mark.slow

HOSTS = 4  # hosts 1-3 write and read; host 4 loses its network
PROCESSES_PER_HOST = 3
RUNS_PER_PROCESS = 3
STEPS = 60

# Opens the store, says "ready", waits for a line on stdin (so that every process
# starts at once), then runs `runs` versions of one experiment, each streaming `steps`
# points of two metrics and logging one bulk list; prints the versions it got.
WRITER = """\
import json
import sys

from experiment_manager import ExperimentManager

uri, experiment_id = sys.argv[1], sys.argv[2]
host, proc, runs, steps = (int(a) for a in sys.argv[3:7])
manager = ExperimentManager(uri, capture_environment=False)
print("ready", flush=True)
sys.stdin.readline()
versions = []
for run in range(runs):
    record = manager.start_experiment(
        "hosts", {"host": host, "proc": proc, "run": run}, {}, experiment_id=experiment_id
    )
    tag = host * 100 + proc * 10 + run
    for step in range(steps):
        manager.log({"loss": tag + step / 1000, "acc": -tag - step / 1000})
    manager.log_metrics({"bulk": [tag + i / 10 for i in range(10)]})
    manager.end_experiment()
    versions.append(record.version)
print(json.dumps(versions), flush=True)
"""

# Prints every version of an experiment as JSON (the fields the tests compare).
READER = """\
import json
import sys

from experiment_manager import ExperimentManager

manager = ExperimentManager(sys.argv[1], capture_environment=False)
keys = ("version", "status", "hyperparameters", "metrics", "steps")
print(json.dumps([{k: h[k] for k in keys} for h in manager.read_history(sys.argv[2])]))
"""

# Starts a version, streams `flushed` points and waits until the server has them, then
# streams `more` points without waiting and says "logged <version>"; then sleeps until
# killed. Without `more`, it keeps streaming a point every 50 ms instead.
VICTIM = """\
import sys
import time

from experiment_manager import ExperimentManager

uri, experiment_id = sys.argv[1], sys.argv[2]
flushed, more = int(sys.argv[3]), int(sys.argv[4])
manager = ExperimentManager(uri, capture_environment=False)
record = manager.start_experiment("victim", {}, {}, experiment_id=experiment_id)
for step in range(flushed):
    manager.log({"loss": step / 2})
manager.flush()
for step in range(flushed, flushed + more):
    manager.log({"loss": step / 2})
print(f"logged {record.version}", flush=True)
step = flushed + more
while True:
    time.sleep(0.05)
    if more == 0:
        manager.log({"loss": step / 2})
        step += 1
"""

# Waits until the version reads as running, says "running", then polls its status and
# prints, as JSON, the status it changed to and the time.monotonic() it was first seen.
WATCHER = """\
import json
import sys
import time

from experiment_manager import ExperimentManager

uri, experiment_id, version = sys.argv[1], sys.argv[2], int(sys.argv[3])
manager = ExperimentManager(uri, capture_environment=False)

def status():
    return {h["version"]: h["status"] for h in manager.read_history(experiment_id)}[version]

while status() != "running":
    time.sleep(0.1)
print("running", flush=True)
started = time.monotonic()
while (now := status()) == "running" and time.monotonic() - started < 60:
    time.sleep(0.2)
print(json.dumps({"status": now, "at": time.monotonic()}), flush=True)
"""

# Opening the store ships what a killed writer on this host left in its journal.
OPEN = """\
import sys

from experiment_manager import ExperimentManager

ExperimentManager(sys.argv[1], capture_environment=False)
"""


@dataclass
class Hosts:
    """The network, the server, and one journal folder per host."""

    network: _netns.Network
    cluster: _netns.Cluster
    spools: dict[int, Path]
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return self.cluster.uri

    def spawn(self, host: int, script: str, *args: object) -> subprocess.Popen[str]:
        """Run ``script`` on ``host`` (its namespace and its journal folder)."""
        env = {**os.environ, "EXPM_SPOOL_DIR": str(self.spools[host])}
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.network.host(host), sys.executable, "-c", script]
            + [str(a) for a in args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.started.append(process)
        return process

    def run(self, host: int, script: str, *args: object, timeout: float = 60) -> str:
        """Run ``script`` on ``host`` to its end; its stdout (failing with its stderr)."""
        process = self.spawn(host, script, *args)
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"host {host} failed ({process.returncode}):\n{err}"
        return out

    def read(self, host: int, experiment_id: str) -> list[dict[str, Any]]:
        """Every version of an experiment, as read on ``host``."""
        history: list[dict[str, Any]] = json.loads(self.run(host, READER, self.uri, experiment_id))
        return history


def _line(process: subprocess.Popen[str], what: str) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        _, err = process.communicate(timeout=10)
        pytest.fail(f"a host process exited before saying {what!r}:\n{err}")
    return line.strip()


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    _netns.require_root_tools()
    network = _netns.Network(HOSTS)
    cluster = _netns.Cluster(network.server)
    spool_root = tmp_path_factory.mktemp("hosts")
    made = Hosts(network, cluster, {n: spool_root / f"host{n}" for n in range(1, HOSTS + 1)})
    try:
        try:
            network.setup()
        except RuntimeError as error:  # e.g. a container without CAP_SYS_ADMIN
            _netns._unavailable(f"cannot make network namespaces: {error}")
        cluster.start()
        yield made
    finally:
        for process in made.started:
            if process.poll() is None:
                process.kill()
            process.communicate()
        cluster.stop()
        network.close()


def test_writers_on_three_hosts_number_one_experiments_versions_without_gaps(
    hosts: Hosts,
) -> None:
    experiment_id = "shared"
    writers = {
        (host, proc): hosts.spawn(
            host, WRITER, hosts.uri, experiment_id, host, proc, RUNS_PER_PROCESS, STEPS
        )
        for host in (1, 2, 3)
        for proc in range(PROCESSES_PER_HOST)
    }
    for process in writers.values():
        assert _line(process, "ready") == "ready"
    for process in writers.values():  # every process starts its first version at once
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    got: dict[int, tuple[int, int]] = {}
    for (host, proc), process in writers.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"writer {host}/{proc} failed:\n{err}"
        for version in json.loads(out):
            assert version not in got, f"version {version} given twice"
            got[version] = (host, proc)
    total = 3 * PROCESSES_PER_HOST * RUNS_PER_PROCESS
    assert sorted(got) == list(range(1, total + 1))

    for reader_host in (1, 3):  # the same history from two hosts
        history = hosts.read(reader_host, experiment_id)
        assert [h["version"] for h in history] == list(range(1, total + 1))
        seen = set()
        for record in history:
            params = record["hyperparameters"]
            host, proc, run = params["host"], params["proc"], params["run"]
            assert got[record["version"]] == (host, proc), "a version's record is another's"
            seen.add((host, proc, run))
            assert record["status"] == "finished"
            tag = host * 100 + proc * 10 + run
            metrics = record["metrics"]
            assert metrics["loss"] == [tag + step / 1000 for step in range(STEPS)]
            assert metrics["acc"] == [-tag - step / 1000 for step in range(STEPS)]
            assert metrics["bulk"] == [tag + i / 10 for i in range(10)]
            assert record["steps"]["loss"] == list(range(STEPS))
        assert len(seen) == total


def test_a_writer_killed_on_one_host_reads_crashed_from_another(hosts: Hosts) -> None:
    experiment_id = "killed"
    victim = hosts.spawn(2, VICTIM, hosts.uri, experiment_id, 40, 40)
    version = int(_line(victim, "logged").split()[1])
    before = hosts.read(3, experiment_id)
    assert [(h["version"], h["status"]) for h in before] == [(version, "running")]

    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    deadline = time.monotonic() + 15
    while (after := hosts.read(3, experiment_id))[0]["status"] == "running":
        assert time.monotonic() < deadline, "a killed writer still reads as running"
    assert after[0]["status"] == "crashed"
    # What it flushed is on the server; the rest may still be in host 2's journal.
    shipped = after[0]["metrics"]["loss"]
    assert len(shipped) >= 40
    assert shipped == [step / 2 for step in range(len(shipped))]

    hosts.run(2, OPEN, hosts.uri)  # the next process on host 2 ships the journal
    recovered = hosts.read(1, experiment_id)
    assert recovered[0]["status"] == "crashed"
    assert recovered[0]["metrics"]["loss"] == [step / 2 for step in range(80)]
    assert recovered[0]["steps"]["loss"] == list(range(80))


def test_a_writer_whose_network_disappears_reads_crashed_within_the_keepalive_time(
    hosts: Hosts,
) -> None:
    experiment_id = "cut"
    victim = hosts.spawn(4, VICTIM, hosts.uri, experiment_id, 10, 0)
    version = int(_line(victim, "logged").split()[1])
    watcher = hosts.spawn(1, WATCHER, hosts.uri, experiment_id, version)
    assert _line(watcher, "running") == "running"

    cut_at = time.monotonic()
    hosts.network.cut(4)  # no FIN, no RST: only the server's keepalive can tell
    seen = json.loads(_line(watcher, "a status"))
    assert victim.poll() is None, "the writer died: this would not test a lost network"
    seconds = seen["at"] - cut_at
    print(f"a host without network read as {seen['status']} after {seconds:.1f} s")
    assert seen["status"] == "crashed"
    # Server-side keepalive: idle 5 s + 3 probes 2 s apart (docs/postgres.md).
    assert seconds < 30, f"took {seconds:.1f} s"
    history = hosts.read(3, experiment_id)
    assert history[0]["status"] == "crashed"
    assert len(history[0]["metrics"]["loss"]) >= 10
