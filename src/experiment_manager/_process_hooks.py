"""End active runs when the interpreter exits or receives SIGTERM.

* Normal interpreter exit (atexit): runs still active end as ``finished``, or as
  ``failed`` when the exit comes from an uncaught exception.
* SIGTERM: runs end as ``killed``, then the signal is delivered again with its
  default action, so the process terminates exactly as it would have. The handler is
  installed only when SIGTERM still has its default action, from the main thread: a
  program with its own handler keeps it (and can call ``end_experiment("killed")``).
* SIGKILL, power loss, the OOM killer: nothing can run; readers see the run's
  liveness lock released and report the version as ``crashed``.

Nothing is installed at import time; the hooks are set up when the first run starts.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from experiment_manager._serialize import error_details

if TYPE_CHECKING:
    from experiment_manager.manager import ExperimentManager

# Re-entrant: the SIGTERM handler may run while this thread holds it in register().
_lock = threading.RLock()
_managers: list[ExperimentManager] = []
_installed = False
_pending_signal: int | None = None


def register(manager: ExperimentManager) -> None:
    """Keep ``manager`` so its active run is ended at exit; install the hooks once.

    Args:
        manager: A manager that just started or resumed a run.
    """
    global _installed  # noqa: PLW0603  # one set of process hooks per interpreter
    with _lock:
        if all(m is not manager for m in _managers):
            _managers.append(manager)
        if _installed:
            return
        _installed = True
    atexit.register(_at_exit)
    if (
        threading.current_thread() is threading.main_thread()
        and hasattr(signal, "SIGTERM")
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _on_sigterm)


def unregister(manager: ExperimentManager) -> None:
    """Forget ``manager`` once it has no active run.

    Args:
        manager: The manager.
    """
    with _lock:
        _managers[:] = [m for m in _managers if m is not manager]


def _end_all(status: str, error: dict[str, str] | None) -> None:
    with _lock:
        managers = list(_managers)
    for manager in managers:
        manager._end_for_process_exit(status, error)


def _at_exit() -> None:
    uncaught = getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)
    if uncaught is not None and not isinstance(uncaught, SystemExit):
        _end_all("failed", error_details(type(uncaught).__name__, str(uncaught)))
    else:
        _end_all("finished", None)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    global _pending_signal  # noqa: PLW0603  # handed from the handler to run_deferred
    del frame
    with _lock:
        managers = list(_managers)
    if any(manager._busy_here() for manager in managers):
        _pending_signal = signum  # a history write is under way in this thread
        return
    _terminate(signum)


def _terminate(signum: int) -> None:
    try:
        _end_all("killed", None)
    finally:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def run_deferred() -> None:
    """Act on a SIGTERM that arrived during a history write, now that it is done."""
    global _pending_signal
    signum, _pending_signal = _pending_signal, None
    if signum is not None:
        _terminate(signum)
