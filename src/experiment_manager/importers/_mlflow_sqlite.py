"""Read an MLflow SQLite database (``mlflow.db``) with the standard library's sqlite3.

The database is opened read-only (``mode=ro``; ``immutable=1`` when even that would
need to write, as for a database in WAL mode without its ``-shm`` file), so nothing of
it is ever changed. Deleted experiments and runs are left out. MLflow stores a NaN
point as 0 with ``is_nan`` set; it is read back as NaN.
"""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from experiment_manager.errors import InvalidArgumentError
from experiment_manager.importers import _mlflow
from experiment_manager.importers._common import RunData, RunRef, Series

__all__ = ["is_sqlite", "scan_database"]

_TABLES = ("experiments", "runs", "metrics", "params", "tags")
_MAGIC = b"SQLite format 3\x00"


def is_sqlite(path: Path) -> bool:
    """Whether a file starts as a SQLite database does.

    Args:
        path: A file.

    Returns:
        True for a SQLite database.

    Example:
        >>> is_sqlite(Path("/nonexistent.db"))
        False
    """
    try:
        with open(path, "rb") as file:
            return file.read(len(_MAGIC)) == _MAGIC
    except OSError:
        return False


def _connect(path: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(path.resolve()))
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        connection = sqlite3.connect(f"{uri}?immutable=1", uri=True)
    return connection


def _load(connection: sqlite3.Connection, path: Path, row: tuple[Any, ...], name: str) -> RunData:
    run_id, run_name, status, start, end, user, artifact_uri = row
    metrics: dict[str, Series] = {}
    query = (
        "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? ORDER BY rowid"
    )
    for key, value, timestamp, step, is_nan in connection.execute(query, (run_id,)):
        series = metrics.get(key)
        if series is None:
            series = metrics[key] = Series()
        series.add(math.nan if is_nan else float(value), int(step), timestamp / 1000)
    params = dict(connection.execute("SELECT key, value FROM params WHERE run_uuid = ?", (run_id,)))
    tags = dict(connection.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (run_id,)))
    notes: list[str] = []
    folder, note = _mlflow.local_artifact_dir(artifact_uri, None)
    if note:
        notes.append(note)
    return _mlflow.build_run(
        run_id=run_id,
        path=f"{path}#{run_id}",
        experiment=name,
        run_name=run_name or None,
        status=str(status),
        start_ms=start,
        end_ms=end,
        user=user,
        params={str(k): "" if v is None else str(v) for k, v in params.items()},
        tags={str(k): "" if v is None else str(v) for k, v in tags.items()},
        metrics=metrics,
        artifacts=_mlflow.artifact_files(folder),
        notes=notes,
    )


def scan_database(path: Path) -> tuple[list[RunRef], list[dict[str, Any]]]:
    """Every live run of every live experiment of an MLflow database, not read yet.

    Args:
        path: The database file.

    Returns:
        The runs (each read through one read-only connection kept open by them),
        and nothing that failed (a damaged database fails as a whole).

    Raises:
        InvalidArgumentError: The file is not an MLflow database.

    Example:
        >>> import sqlite3, tempfile
        >>> db = Path(tempfile.mkdtemp()) / "other.db"
        >>> sqlite3.connect(db).execute("CREATE TABLE t (x)").connection.commit()
        >>> try:
        ...     scan_database(db)
        ... except InvalidArgumentError as error:
        ...     print(error.reason)
        not an MLflow database: no table experiments, runs, metrics, params, tags
    """
    try:
        connection = _connect(path)
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        missing = [table for table in _TABLES if table not in tables]
        if missing:
            raise InvalidArgumentError(
                "source", str(path), "not an MLflow database: no table " + ", ".join(missing)
            )
        experiments = {
            experiment_id: name
            for experiment_id, name, stage in connection.execute(
                "SELECT experiment_id, name, lifecycle_stage FROM experiments"
            )
            if stage != "deleted"
        }
        rows = connection.execute(
            "SELECT run_uuid, name, status, start_time, end_time, user_id, artifact_uri,"
            " experiment_id, lifecycle_stage FROM runs"
        ).fetchall()
    except sqlite3.DatabaseError as error:
        raise InvalidArgumentError("source", str(path), f"cannot read it: {error}") from None
    refs = []
    for *row, experiment_id, stage in rows:
        if stage == "deleted" or experiment_id not in experiments:
            continue
        name = str(experiments[experiment_id])
        refs.append(
            RunRef(
                run_id=str(row[0]),
                path=f"{path}#{row[0]}",
                experiment=name,
                started=row[3] / 1000 if isinstance(row[3], (int, float)) else None,
                load=lambda r=tuple(row), n=name: _load(connection, path, r, n),  # type: ignore[misc]
            )
        )
    return refs, []
