"""Reading ahead the curves a workspace is about to ask for.

An experiment page asks for its listing first and, once the browser has built the
table and the panel grid, for the curves of the panels on screen. In that gap the
server would sit idle: :class:`Prefetcher` uses it to read the first metrics of the
workspace (in the panels' order, along ``step``) into the history cache, in one
background thread, so the panels' requests find them read.

Only where that is cheap and likely useful: an experiment with no running version
(whose curves would be read whole, not per metric) and at most
:data:`MAX_VERSIONS` listed versions, once per state of its history. It is a cache
warm-up: any failure is left for the request that needs the data to report.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from experiment_manager.errors import ExperimentManagerError
from experiment_manager.web._panels import group_metrics

if TYPE_CHECKING:
    from experiment_manager.web._cache import HistoryCache

__all__ = ["MAX_METRICS", "MAX_VERSIONS", "Prefetcher"]

#: The most metrics read ahead: about two screens of panels.
MAX_METRICS = 16
#: Experiments with more versions than this are not read ahead.
MAX_VERSIONS = 200


class Prefetcher:
    """Reads an experiment's first panel metrics into the cache, in the background.

    Args:
        cache: The app's history cache.

    Example:
        >>> import tempfile
        >>> from experiment_manager import ExperimentManager
        >>> from experiment_manager.web._cache import HistoryCache
        >>> manager = ExperimentManager(tempfile.mkdtemp(), capture_environment=False)
        >>> prefetcher = Prefetcher(HistoryCache(manager))
        >>> prefetcher.start("exp", object(), ["loss"], versions=0, live=True) is None
        True
    """

    def __init__(self, cache: HistoryCache) -> None:
        self._cache = cache
        self._lock = threading.Lock()
        self._done: dict[str, object] = {}

    def start(
        self,
        experiment_id: str,
        identity: object,
        metrics: Sequence[str],
        *,
        versions: int,
        live: bool,
    ) -> threading.Thread | None:
        """Read the first metrics ahead unless not worth it or already done.

        Args:
            experiment_id: A validated experiment id.
            identity: The history's identity the listing was read at (None: unknown).
            metrics: Every metric name of the experiment.
            versions: How many versions are listed.
            live: Whether a version is running.

        Returns:
            The thread started, or None when nothing is read ahead.
        """
        if live or identity is None or not metrics or versions > MAX_VERSIONS:
            return None
        with self._lock:
            if self._done.get(experiment_id) == identity:
                return None
            self._done[experiment_id] = identity
        ordered = [name for group in group_metrics(metrics) for name in group["metrics"]]
        thread = threading.Thread(
            target=self._read,
            args=(experiment_id, ordered[:MAX_METRICS]),
            name="expm-prefetch",
            daemon=True,
        )
        thread.start()
        return thread

    def _read(self, experiment_id: str, metrics: Sequence[str]) -> None:
        for metric in metrics:
            try:
                curves = self._cache.curves(experiment_id, metric, "step")
                for version in curves.versions:
                    curves.series(version, "step")
            except (ExperimentManagerError, OSError, ValueError):
                return  # the request that needs it reads it again and reports
