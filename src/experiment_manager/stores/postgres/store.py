"""The PostgreSQL backend: the store interface on a database many hosts share.

See docs/postgres.md for the tables and the guarantees. In short:

* versions are numbered in a transaction that locks the experiment's row, so
  1, 2, 3, ... hold across processes and hosts;
* a running version's points go to a local journal and are shipped by a thread
  (:mod:`._spool`); ``log_metrics``, ``add_checkpoint`` and every other call commit
  before they return;
* the process running a version holds a session-level advisory lock on its own
  connection, so a reader on any host sees ``crashed`` as soon as the server has
  ended that session (at once for a killed process, after the keepalive time for a
  vanished host).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import itertools
import os
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from experiment_manager import _serialize
from experiment_manager._naming import fold, refuse_case_twin
from experiment_manager.errors import (
    ExperimentNotFoundError,
    InvalidMetricError,
    LockTimeoutError,
    StoreConnectionError,
)
from experiment_manager.stores import _index, _overview
from experiment_manager.stores._codec import decode_summary
from experiment_manager.stores._locations import redact
from experiment_manager.stores.base import (
    JournalWriter,
    LiveHandle,
    Store,
    StoredVersion,
    new_record,
)
from experiment_manager.stores.postgres import (
    _connect,
    _copy,
    _filter,
    _rows,
    _running,
    _schema,
    _series,
    _spool,
    _text,
)

if TYPE_CHECKING:
    import psycopg

    from experiment_manager.query import Query
    from experiment_manager.stores._metric_read import Columns, MetricRead, SeriesRequest

__all__ = ["PostgresStore"]

T = TypeVar("T")

_SERIES_COLUMNS = """
SELECT s.version, s.name, s.id, s.stepped,
       array_agg(p.value ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL),
       array_agg(p.exact ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL),
       array_agg(p.step ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL),
       array_agg(p.time ORDER BY p.seq) FILTER (WHERE p.seq IS NOT NULL)
FROM expm_series s LEFT JOIN expm_points p ON p.series = s.id
WHERE s.experiment = %s"""
# The same queries for one version and for all, spelt out: no SQL is ever assembled.
_SERIES_OF_ALL = _SERIES_COLUMNS + " GROUP BY s.id ORDER BY s.id"
_SERIES_OF_ONE = _SERIES_COLUMNS + " AND s.version = %s GROUP BY s.id ORDER BY s.id"
_VERSION_COLUMNS = "SELECT version, fields::text, status, segment, shipped FROM expm_versions"
_VERSIONS_ALL = _VERSION_COLUMNS + " WHERE experiment = %s ORDER BY version"
_VERSION_ONE = _VERSION_COLUMNS + " WHERE experiment = %s AND version = %s"
_VERSION_ONE_LOCKED = _VERSION_ONE + " FOR UPDATE"
_INSERT_POINTS = """
INSERT INTO expm_points (series, seq, value, exact, step, time)
SELECT %s, u.seq, u.value, u.exact, u.step, u.time
FROM unnest(%b::integer[], %b::float8[], %s::numeric[], %b::bigint[], %b::float8[])
     AS u (seq, value, exact, step, time)
"""


class PostgresStore(Store):
    """Experiments in a PostgreSQL database, for many processes on many hosts.

    Args:
        uri: ``postgresql://user:password@host:port/database`` (or ``postgres://``;
            any libpq parameter may follow as a query string).
        lock_timeout: Seconds a write waits for another writer of the same version.

    Raises:
        StoreConnectionError: The server cannot be reached, or refused the login.
        UnsupportedSchemaError: The database's schema is newer than this library.
        MissingDependencyError: psycopg is not installed (the ``postgres`` extra).

    Example:
        >>> import os
        >>> uri = os.environ.get("EXPM_TEST_POSTGRES_URI")
        >>> store = PostgresStore(uri) if uri else None  # doctest: +SKIP
    """

    def __init__(self, uri: str, *, lock_timeout: float = 60.0) -> None:
        self._uri = uri
        self.location = redact(uri)
        self._lock_timeout = lock_timeout
        self._pool = _connect.Pool(uri)
        with self._pool.connection() as connection:
            encoding = connection.execute("SHOW server_encoding").fetchone()
            if encoding is None or str(encoding[0]).upper() not in ("UTF8", "UTF-8"):
                raise StoreConnectionError(
                    self.location,
                    f"the database's encoding is {encoding and encoding[0]!r}",
                    "create it with ENCODING 'UTF8'",
                )
            self._store_id = _schema.ensure_schema(connection, self.location)
        self._ids: dict[str, int] = {}
        self._ids_lock = threading.Lock()
        self._root = _spool.spool_root(self._store_id)
        self._live: dict[tuple[int, int], _LiveLock] = {}
        self._live_lock = threading.Lock()
        # How far fold_journal took a record's journal, by record, while it is changed.
        self._folded: dict[int, int] = {}
        self._changing: set[int] = set()  # the records update_version is changing
        self._shipper = _spool.Shipper(self._ship, self._keep_live)
        self._recover()

    def __repr__(self) -> str:
        """Name the server, never the password."""
        return f"PostgresStore({self.location!r})"

    # -- connections ----------------------------------------------------------------

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as connection, connection.transaction():
            connection.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                (f"{int(self._lock_timeout * 1000)}ms",),
            )
            try:
                yield connection
            except _connect.driver().errors.LockNotAvailable:
                raise LockTimeoutError(self.location, self._lock_timeout) from None

    def _pk(self, experiment_id: str, *, create: bool = False) -> int | None:
        with self._ids_lock:
            known = self._ids.get(experiment_id)
        if known is not None:
            return known
        with self._pool.connection() as connection:
            if create:
                connection.execute(
                    "INSERT INTO expm_experiments (name) VALUES (%s) ON CONFLICT (name) DO NOTHING",
                    (experiment_id,),
                )
            row = connection.execute(
                "SELECT id FROM expm_experiments WHERE name = %s", (experiment_id,)
            ).fetchone()
        if row is None:
            return None
        with self._ids_lock:
            self._ids[experiment_id] = int(row[0])
        return int(row[0])

    # -- reading rows -----------------------------------------------------------------

    def _series(
        self, connection: psycopg.Connection[Any], pk: int, version: int | None
    ) -> dict[int, dict[str, _rows.Series]]:
        found: dict[int, dict[str, _rows.Series]] = {}
        with connection.cursor(binary=True) as cursor:
            if version is None:
                cursor.execute(_SERIES_OF_ALL, (pk,))
            else:
                cursor.execute(_SERIES_OF_ONE, (pk, version))
            for number, name, row_id, stepped, values, exact, steps, times in cursor:
                found.setdefault(number, {})[name] = _rows.series(
                    row_id, stepped, values, exact, steps, times
                )
        return found

    def _records(
        self,
        connection: psycopg.Connection[Any],
        pk: int,
        version: int | None = None,
        *,
        lock: bool = False,
    ) -> list[tuple[StoredVersion, dict[str, _rows.Series]]]:
        if version is None:
            rows = connection.execute(_VERSIONS_ALL, (pk,)).fetchall()
        else:
            query = _VERSION_ONE_LOCKED if lock else _VERSION_ONE
            rows = connection.execute(query, (pk, version)).fetchall()
        if not rows:
            return []
        series = self._series(connection, pk, version)
        return [
            (
                _rows.assemble(fields, status, segment, shipped, series.get(number, {})),
                series.get(number, {}),
            )
            for number, fields, status, segment, shipped in rows
        ]

    # -- writing rows -----------------------------------------------------------------

    def _write_row(
        self, connection: psycopg.Connection[Any], pk: int, record: StoredVersion, *, insert: bool
    ) -> None:
        status = str(record.get("status") or "running")
        summary = None if status == "running" else _serialize.dumps(_index.summarize(record))
        fields = _rows.fields_of(record)
        _text.check_json(fields)
        values = (
            status,
            fields.decode(),
            summary.decode() if summary is not None else None,
            int(record.get("_journal_segment", 0)),
            int(record.get("_journal_offset", 0)),
        )
        if insert:
            connection.execute(
                "INSERT INTO expm_versions"
                " (status, fields, summary, segment, shipped, experiment, version)"
                " VALUES (%s, %s::json, %s::json, %s, %s, %s, %s)",
                (*values, pk, record["version"]),
            )
        else:
            connection.execute(
                "UPDATE expm_versions SET status = %s, fields = %s::json, summary = %s::json,"
                " segment = %s, shipped = %s WHERE experiment = %s AND version = %s",
                (*values, pk, record["version"]),
            )

    def _write_points(
        self,
        connection: psycopg.Connection[Any],
        pk: int,
        version: int,
        before: Mapping[str, _rows.Series],
        record: StoredVersion,
    ) -> None:
        """Store what changed in a version's metrics since ``before`` was read."""
        metrics = record.get("metrics") or {}
        steps = record.get("steps") or {}
        times = record.get("timestamps") or {}
        for name in set(before) - set(metrics):
            self._drop_series(connection, before[name].id)
        for name, values in metrics.items():
            _check_metric_name(name)
            stepped = name in steps
            old = before.get(name)
            new_steps = list(steps.get(name) or []) if stepped else None
            new_times = list(times.get(name) or []) if stepped else None
            start = 0
            if old is not None:
                keeps = (
                    len(values) >= len(old.values)
                    and values[: len(old.values)] == old.values
                    and (old.steps is None or (new_steps or [])[: len(old.steps)] == old.steps)
                    and (old.times is None or (new_times or [])[: len(old.times)] == old.times)
                    and (old.steps is not None or not any((new_steps or [])[: len(old.values)]))
                    and (old.steps is not None or not any((new_times or [])[: len(old.values)]))
                )
                if keeps:
                    start = len(old.values)
                    series_id = old.id
                else:
                    self._drop_series(connection, old.id)
                    old = None
            if old is None:
                series_id = self._new_series(connection, pk, version, name)
            added = values[start:]
            if added:
                floats, exact = _rows.encode_values(added)
                count = len(added)
                self._insert(
                    connection,
                    series_id,
                    list(range(start, start + count)),
                    floats,
                    exact,
                    _padded(new_steps, start, count),
                    _padded(new_times, start, count),
                )
            connection.execute(
                "UPDATE expm_series SET length = %s, stepped = %s WHERE id = %s",
                (len(values), stepped, series_id),
            )

    @staticmethod
    def _insert(  # noqa: PLR0917 (one argument per column)
        connection: psycopg.Connection[Any],
        series_id: int,
        seqs: list[int],
        floats: list[float],
        exact: list[int | None],
        steps: list[Any],
        times: list[Any],
    ) -> None:
        columns = _copy.packable(exact, steps, times) if seqs else None
        if columns is not None:  # seqs are consecutive: the packed form numbers them
            _copy.copy_points(connection, [_copy.Batch(series_id, seqs[0], floats, *columns)])
            return
        if not any(e is not None for e in exact):
            exact = [None] * len(floats)
        connection.execute(_INSERT_POINTS, (series_id, seqs, floats, exact, steps, times))

    @staticmethod
    def _new_series(connection: psycopg.Connection[Any], pk: int, version: int, name: str) -> int:
        row = connection.execute(
            "INSERT INTO expm_series (experiment, version, name) VALUES (%s, %s, %s) RETURNING id",
            (pk, version, name),
        ).fetchone()
        assert row is not None
        return int(row[0])

    @staticmethod
    def _drop_series(connection: psycopg.Connection[Any], series_id: int) -> None:
        connection.execute("DELETE FROM expm_points WHERE series = %s", (series_id,))
        connection.execute("DELETE FROM expm_series WHERE id = %s", (series_id,))

    @staticmethod
    def _wrote(connection: psycopg.Connection[Any], pk: int) -> None:
        connection.execute("UPDATE expm_experiments SET writes = writes + 1 WHERE id = %s", (pk,))

    # -- primitives -------------------------------------------------------------------

    def create_version(
        self,
        experiment_id: str,
        fields: Mapping[str, Any],
        before_write: Callable[[int], None] | None = None,
    ) -> StoredVersion:
        """Number and store a new version in one transaction; see :meth:`Store.create_version`."""
        return self._create(experiment_id, [fields], before_write)[0]

    def _create(
        self,
        experiment_id: str,
        many: Sequence[Mapping[str, Any]],
        before_write: Callable[[int], None] | None = None,
    ) -> list[StoredVersion]:
        for fields in many:  # refused before the experiment's row is made
            _check_storable(fields)
        pk = self._pk(experiment_id, create=True)
        assert pk is not None
        made = []
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT latest FROM expm_experiments WHERE id = %s FOR UPDATE", (pk,)
            ).fetchone()
            assert row is not None
            latest = int(row[0])
            if latest == 0:
                self._refuse_case_twin(connection, experiment_id)
            for offset, fields in enumerate(many, start=1):
                number = latest + offset
                if before_write is not None:
                    before_write(number)
                record = new_record(experiment_id, number, _without_private(fields))
                record = _serialize.loads(_serialize.dumps(record))
                record.setdefault("status", "running")
                made.append(record)
            if len(made) == 1:
                self._write_row(connection, pk, made[0], insert=True)
                self._write_points(connection, pk, made[0]["version"], {}, made[0])
            else:
                self._copy_in(connection, pk, made)
            connection.execute(
                "UPDATE expm_experiments SET latest = %s, writes = writes + 1 WHERE id = %s",
                (latest + len(many), pk),
            )
        return [copy.deepcopy(r) for r in made]

    def _refuse_case_twin(self, connection: psycopg.Connection[Any], experiment_id: str) -> None:
        """In the creating transaction: refuse a new id whose case twin has versions.

        Twins have rows of their own, so the row lock does not order them: both take
        a transaction-level advisory lock on the folded name first, and the second
        reads the first's committed row.
        """
        folded = fold(experiment_id)
        digest = hashlib.blake2b(f"{self._store_id}:name:{folded}".encode(), digest_size=8)
        # The two-key form: a key space apart from the liveness locks' single keys.
        high, low = struct.unpack(">ii", digest.digest())
        connection.execute("SELECT pg_advisory_xact_lock(%s::int4, %s::int4)", (high, low))
        rows = connection.execute(
            "SELECT name FROM expm_experiments WHERE latest > 0 AND lower(name) = %s"
            " AND name <> %s",
            (folded, experiment_id),
        ).fetchall()
        refuse_case_twin(experiment_id, [str(row[0]) for row in rows])

    def _copy_in(
        self, connection: psycopg.Connection[Any], pk: int, records: list[StoredVersion]
    ) -> None:
        """Store new versions with COPY: rows of versions, series and points in three streams."""
        for record in records:
            for name in record.get("metrics") or {}:
                _check_metric_name(name)
        series_count = sum(len(r.get("metrics") or {}) for r in records)
        ids = [
            int(r[0])
            for r in connection.execute(
                "SELECT nextval('expm_series_id_seq') FROM generate_series(1, %s)",
                (series_count,),
            ).fetchall()
        ]
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY expm_versions (experiment, version, status, fields, summary, segment,"
                " shipped) FROM STDIN"
            ) as stream:
                for record in records:
                    status = str(record.get("status") or "running")
                    summary = (
                        None
                        if status == "running"
                        else _serialize.dumps(_index.summarize(record)).decode()
                    )
                    stream.write_row(
                        (
                            pk,
                            record["version"],
                            status,
                            _rows.fields_of(record).decode(),
                            summary,
                            int(record.get("_journal_segment", 0)),
                            int(record.get("_journal_offset", 0)),
                        )
                    )
            next_id = iter(ids)
            points: list[tuple[Any, ...]] = []
            with cursor.copy(
                "COPY expm_series (id, experiment, version, name, length, stepped) FROM STDIN"
            ) as stream:
                for record in records:
                    steps = record.get("steps") or {}
                    times = record.get("timestamps") or {}
                    for name, values in (record.get("metrics") or {}).items():
                        series_id = next(next_id)
                        stepped = name in steps
                        stream.write_row(
                            (series_id, pk, record["version"], name, len(values), stepped)
                        )
                        floats, exact = _rows.encode_values(values)
                        count = len(values)
                        points.extend(
                            zip(
                                itertools.repeat(series_id, count),
                                range(count),
                                floats,
                                exact,
                                _padded(list(steps.get(name) or []) if stepped else None, 0, count),
                                _padded(list(times.get(name) or []) if stepped else None, 0, count),
                                strict=True,
                            )
                        )
            with cursor.copy(
                "COPY expm_points (series, seq, value, exact, step, time) FROM STDIN"
            ) as stream:
                for point in points:
                    stream.write_row(point)

    def add_versions(self, experiment_id: str, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Store many versions in one transaction; see :meth:`Store.add_versions`."""
        records = list(records)  # read before the transaction opens
        if not records:
            return []
        return [r["version"] for r in self._create(experiment_id, records)]

    def append(
        self,
        experiment_id: str,
        version: int,
        metrics: Mapping[str, Sequence[Any]] | None = None,
        checkpoints: Sequence[str] = (),
        *,
        steps: Mapping[str, Sequence[Any]] | None = None,
        timestamps: Mapping[str, Sequence[float]] | None = None,
        checkpoint_details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """Add values and checkpoints to a running version by inserting rows only.

        The version's points already stored are never read back, so a call costs what
        it adds; see :meth:`Store.append` for what it does.
        """
        pk = self._pk(experiment_id)
        if pk is None:
            raise ExperimentNotFoundError(experiment_id, version)
        metrics, steps, timestamps = metrics or {}, steps or {}, timestamps or {}
        for name in metrics:
            _check_metric_name(name)
        _text.check_value(list(checkpoints), "checkpoints")
        _text.check_value([dict(d) for d in checkpoint_details], "checkpoint_details")
        with self._transaction() as connection:
            row = connection.execute(
                "SELECT fields::text, status, segment, shipped FROM expm_versions"
                " WHERE experiment = %s AND version = %s FOR UPDATE",
                (pk, version),
            ).fetchone()
            if row is None:
                raise ExperimentNotFoundError(experiment_id, version)
            fields, status, segment, shipped = row
            if status == "running":
                self._append_rows(
                    connection,
                    (experiment_id, pk, version, segment, shipped, fields),
                    metrics,
                    (steps, timestamps),
                    (checkpoints, checkpoint_details),
                )
                return
        # An ended version keeps its summary in its row: the general path recomputes it.
        super().append(
            experiment_id,
            version,
            metrics,
            checkpoints,
            steps=steps,
            timestamps=timestamps,
            checkpoint_details=checkpoint_details,
        )

    def _append_rows(
        self,
        connection: psycopg.Connection[Any],
        where: tuple[str, int, int, int, int, str],
        metrics: Mapping[str, Sequence[Any]],
        columns: tuple[Mapping[str, Sequence[Any]], Mapping[str, Sequence[float]]],
        added: tuple[Sequence[str], Sequence[Mapping[str, Any]]],
    ) -> None:
        experiment_id, pk, version, segment, shipped, fields = where
        steps, timestamps = columns
        checkpoints, checkpoint_details = added
        # Points streamed before this call come first: ship this host's journal.
        pending = self.read_journal(experiment_id, version, segment, shipped)
        whole = pending[: pending.rfind(b"\n") + 1]
        if whole:
            connection.execute(
                "SELECT expm_ship(%s, %s, %s, %s, %s, %s)",
                (pk, version, segment, shipped, shipped + len(whole), whole.decode("utf-8")),
            )
        known = {
            name: (int(series_id), int(length), bool(stepped))
            for name, series_id, length, stepped in connection.execute(
                "SELECT name, id, length, stepped FROM expm_series"
                " WHERE experiment = %s AND version = %s",
                (pk, version),
            ).fetchall()
        }
        packed: list[_copy.Batch] = []
        lengths: list[tuple[int, int, bool]] = []
        for name, values in metrics.items():
            series_id, start, stepped = known.get(name, (0, 0, False))
            if not series_id:
                series_id = self._new_series(connection, pk, version, name)
            stepped = stepped or name in steps
            count = len(values)
            if count:
                floats, exact = _rows.encode_values(values)
                at = _padded(list(steps.get(name) or []), 0, count)
                times = _padded(list(timestamps.get(name) or []), 0, count)
                fits = _copy.packable(exact, at, times)
                if fits is not None:
                    packed.append(_copy.Batch(series_id, start, floats, *fits))
                else:
                    seqs = list(range(start, start + count))
                    self._insert(connection, series_id, seqs, floats, exact, at, times)
            lengths.append((series_id, start + count, stepped))
        _copy.copy_points(connection, packed)
        if lengths:
            ids, ends, flags = zip(*lengths, strict=True)
            connection.execute(
                "UPDATE expm_series s SET length = u.length, stepped = u.stepped FROM"
                " unnest(%s::bigint[], %s::integer[], %s::boolean[]) AS u (id, length, stepped)"
                " WHERE s.id = u.id",
                (list(ids), list(ends), list(flags)),
            )
        if checkpoints or checkpoint_details:
            record = _serialize.loads(fields.encode())
            record.setdefault("checkpoints", []).extend(checkpoints)
            if checkpoint_details:
                record.setdefault("checkpoint_details", []).extend(
                    dict(d) for d in checkpoint_details
                )
            connection.execute(
                "UPDATE expm_versions SET fields = %s::json WHERE experiment = %s AND version = %s",
                (_rows.fields_of(record).decode(), pk, version),
            )
        self._wrote(connection, pk)

    def update_version(
        self, experiment_id: str, version: int, change: Callable[[StoredVersion], T]
    ) -> T:
        """Change one version in a transaction locking its row; see :meth:`Store.update_version`."""
        pk = self._pk(experiment_id)
        if pk is None:
            raise ExperimentNotFoundError(experiment_id, version)
        with self._transaction() as connection:
            found = self._records(connection, pk, version, lock=True)
            if not found:
                raise ExperimentNotFoundError(experiment_id, version)
            record, series = found[0]
            before = _snapshot(series)
            segment = int(record.get("_journal_segment", 0))
            committed = int(record.get("_journal_offset", 0))
            self._changing.add(id(record))
            try:
                result = change(record)
                folded = self._folded.get(id(record))
            finally:
                self._changing.discard(id(record))
                self._folded.pop(id(record), None)
            if int(record.get("_journal_segment", 0)) != segment:
                # The journal segment is left: keep how much of it is in, so a tail a
                # killed writer left on its own host can still be shipped (_recover).
                connection.execute(
                    "INSERT INTO expm_segments (experiment, version, segment, shipped)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (pk, version, segment, committed if folded is None else folded),
                )
            self._write_row(connection, pk, record, insert=False)
            self._write_points(connection, pk, version, before, record)
            self._wrote(connection, pk)
        return result

    def load_version(self, experiment_id: str, version: int) -> StoredVersion:
        """Read one version's row and points in one snapshot; see :meth:`Store.load_version`."""
        pk = self._pk(experiment_id)
        if pk is None:
            raise ExperimentNotFoundError(experiment_id, version)
        with self._snapshot() as connection:
            found = self._records(connection, pk, version)
        if not found:
            raise ExperimentNotFoundError(experiment_id, version)
        return found[0][0]

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection() as connection, connection.transaction():
            connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield connection

    def latest_version(self, experiment_id: str) -> int | None:
        """The experiment row's last number; see :meth:`Store.latest_version`."""
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT latest FROM expm_experiments WHERE name = %s", (experiment_id,)
            ).fetchone()
        return int(row[0]) if row is not None and row[0] else None

    def load_with_identity(self, experiment_id: str) -> tuple[list[StoredVersion], object]:
        """Every version, read in one snapshot; see :meth:`Store.load_with_identity`."""
        pk = self._pk(experiment_id)
        if pk is None:
            return [], None
        with self._snapshot() as connection:
            row = connection.execute(
                "SELECT writes FROM expm_experiments WHERE id = %s", (pk,)
            ).fetchone()
            records = [record for record, _ in self._records(connection, pk)]
        return records, (int(row[0]) if row is not None else None)

    def history_identity(self, experiment_id: str) -> object:
        """The experiment row's write counter; see :meth:`Store.history_identity`."""
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT writes FROM expm_experiments WHERE name = %s", (experiment_id,)
            ).fetchone()
        return int(row[0]) if row is not None else None

    def experiment_ids(self) -> list[str]:
        """Every experiment with a version; see :meth:`Store.experiment_ids`."""
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT name FROM expm_experiments WHERE latest > 0"
            ).fetchall()
        return sorted(str(row[0]) for row in rows)

    # -- journals -----------------------------------------------------------------------

    def _key(self, experiment_id: str, version: int, segment: int) -> _spool.Key | None:
        pk = self._pk(experiment_id)
        return None if pk is None else (pk, version, segment)

    def open_journal(self, experiment_id: str, version: int, segment: int) -> JournalWriter:
        """Open the version's local journal, shipped while open; see :meth:`Store.open_journal`."""
        key = self._key(experiment_id, version, segment)
        if key is None:
            raise ExperimentNotFoundError(experiment_id, version)
        return _spool.SpoolJournal(_spool.journal_path(self._root, key), self._shipper, key)

    def read_journal(self, experiment_id: str, version: int, segment: int, offset: int) -> bytes:
        """Lines not yet shipped, from this host's journal; see :meth:`Store.read_journal`."""
        key = self._key(experiment_id, version, segment)
        if key is None:
            return b""
        try:
            with open(_spool.journal_path(self._root, key), "rb") as journal:
                journal.seek(offset)
                return journal.read()
        except FileNotFoundError:
            return b""

    def remove_journal(self, experiment_id: str, version: int, segment: int) -> None:
        """Delete the local journal once ended; see :meth:`Store.remove_journal`."""
        key = self._key(experiment_id, version, segment)
        if key is not None:
            self._shipper.unwatch(key)
            with contextlib.suppress(FileNotFoundError):
                _spool.journal_path(self._root, key).unlink()

    def version_purged(self, experiment_id: str, version: int) -> None:
        """Forget the purged version's left journal segments; see :meth:`Store.version_purged`.

        Its journals are gone, so no tail of them is left to ship.
        """
        pk = self._pk(experiment_id)
        if pk is None:
            return
        with self._pool.connection() as connection:
            connection.execute(
                "DELETE FROM expm_segments WHERE experiment = %s AND version = %s", (pk, version)
            )

    def journal_name(self, experiment_id: str, version: int, segment: int) -> str:
        """The local journal's path; see :meth:`Store.journal_name`."""
        key = self._key(experiment_id, version, segment)
        if key is None:
            return super().journal_name(experiment_id, version, segment)
        return str(_spool.journal_path(self._root, key))

    def _ship(self, key: _spool.Key, offset: int, data: bytes) -> int:
        experiment, version, segment = key
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT expm_ship(%s, %s, %s, %s, %s, %s)",
                (experiment, version, segment, offset, offset + len(data), data.decode("utf-8")),
            ).fetchone()
        shipped = int(row[0]) if row is not None else -1
        return shipped if shipped >= 0 else offset + len(data)

    def fold_journal(self, experiment_id: str, record: StoredVersion) -> None:
        """Fold as every store does, noting how far, for :meth:`update_version`."""
        super().fold_journal(experiment_id, record)
        if id(record) in self._changing:  # a reader's fold is not kept: nothing pops it
            self._folded[id(record)] = int(record.get("_journal_offset", 0))

    def _recover(self) -> None:
        """Ship what killed writers on this host left in their journals."""
        try:
            names = os.listdir(self._root)
        except OSError:
            return
        for name in names:
            key = _spool.parse_name(name)
            if key is None:
                continue
            experiment, version, segment = key
            path = self._root / name
            with contextlib.suppress(StoreConnectionError, OSError):
                with self._pool.connection() as connection:
                    row = connection.execute(
                        "SELECT v.segment, v.shipped, v.status, e.name FROM expm_versions v"
                        " JOIN expm_experiments e ON e.id = v.experiment"
                        " WHERE v.experiment = %s AND v.version = %s",
                        (experiment, version),
                    ).fetchone()
                if row is None:
                    path.unlink()  # its version is gone
                    continue
                if int(row[0]) != segment:
                    # Its version ended or was resumed, maybe on another host: what
                    # that host could not see goes in now, then the journal is done.
                    self._ship_closed(str(row[3]), key, path)
                    continue
                if self.is_live(str(row[3]), version):
                    continue  # its writer is alive and ships it
                data = path.read_bytes()[int(row[1]) :]
                whole = data[: data.rfind(b"\n") + 1]
                if whole:
                    self._ship(key, int(row[1]), whole)

    def _ship_closed(self, experiment_id: str, key: _spool.Key, path: os.PathLike[str]) -> None:
        """Ship the tail of a left journal segment, refresh the summary, drop the file."""
        experiment, version, segment = key
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT shipped FROM expm_segments"
                " WHERE experiment = %s AND version = %s AND segment = %s",
                (experiment, version, segment),
            ).fetchone()
        if row is not None:
            offset = int(row[0])
            with open(path, "rb") as journal:
                journal.seek(offset)
                data = journal.read()
            whole = data[: data.rfind(b"\n") + 1]
            if whole:
                with self._pool.connection() as connection:
                    connection.execute(
                        "SELECT expm_ship_closed(%s, %s, %s, %s, %s, %s)",
                        (
                            experiment,
                            version,
                            segment,
                            offset,
                            offset + len(whole),
                            whole.decode("utf-8"),
                        ),
                    )
                # An ended version's summary counts the points it now has.
                self.update_version(experiment_id, version, lambda stored: None)
        os.unlink(path)

    def refresh_running(self, experiment_id: str, record: StoredVersion) -> None:
        """Bring a running version up to date; ship a dead writer's last points.

        When the version's writer is gone and its journal is on this host, the
        points it had not shipped yet are shipped now, so every host sees them.

        Args:
            experiment_id: A validated experiment id.
            record: A stored version, not shared with the store.
        """
        offset = int(record.get("_journal_offset", 0))
        super().refresh_running(experiment_id, record)
        if record.get("status") != "crashed":
            return
        key = self._key(experiment_id, record["version"], int(record.get("_journal_segment", 0)))
        if key is None:
            return
        data = self.read_journal(experiment_id, record["version"], key[2], offset)
        whole = data[: data.rfind(b"\n") + 1]
        if whole:
            with contextlib.suppress(StoreConnectionError):
                self._ship(key, offset, whole)

    # -- liveness -----------------------------------------------------------------------

    def _lock_key(self, pk: int, version: int) -> int:
        digest = hashlib.blake2b(f"{self._store_id}:{pk}:{version}".encode(), digest_size=8)
        return int.from_bytes(digest.digest(), "big", signed=True)

    def hold_live(self, experiment_id: str, version: int) -> LiveHandle | None:
        """Take the version's advisory lock on its own connection; see :meth:`Store.hold_live`."""
        pk = self._pk(experiment_id, create=True)
        assert pk is not None
        key = self._lock_key(pk, version)
        connection = _connect.connect(self._uri, keepalive=True)
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        except _connect.driver().Error as error:  # outside the pool: typed here
            connection.close()
            raise _connect.connection_error(self._uri, error) from None
        if row is None or not row[0]:
            connection.close()
            return None
        live = _LiveLock(self, (pk, version), key, connection)
        with self._live_lock:
            self._live[(pk, version)] = live
        self._shipper.start()  # its thread also keeps the lock if the connection breaks
        return live

    def is_live(self, experiment_id: str, version: int) -> bool:
        """Whether any session holds the version's advisory lock; see :meth:`Store.is_live`."""
        pk = self._pk(experiment_id)
        if pk is None:
            return False
        unsigned = self._lock_key(pk, version) & 0xFFFFFFFFFFFFFFFF
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = %s::bigint::oid AND objid = %s::bigint::oid AND objsubid = 1"
                " AND granted)",
                (unsigned >> 32, unsigned & 0xFFFFFFFF),
            ).fetchone()
        return bool(row and row[0])

    def _released(self, live: _LiveLock) -> None:
        with self._live_lock:
            if self._live.get(live.version) is live:
                del self._live[live.version]

    def _keep_live(self) -> None:
        """Take a liveness lock again on a new connection if its connection broke."""
        with self._live_lock:
            held = list(self._live.values())
        for live in held:
            live.check()

    # -- hooks --------------------------------------------------------------------------

    def flush(self, experiment_id: str | None = None) -> None:
        """Wait until every point logged in this process is committed; see :meth:`Store.flush`."""
        self._shipper.ship_now()

    def summaries(self, experiment_id: str) -> list[dict[str, Any]]:
        """Summaries kept in each ended version's row; see :meth:`Store.summaries`."""
        return self._summaries(experiment_id, None)

    def _summaries(
        self, experiment_id: str, condition: tuple[str, list[Any]] | None
    ) -> list[dict[str, Any]]:
        """Summaries in version order: running versions all, ended ones passing ``condition``."""
        pk = self._pk(experiment_id)
        if pk is None:
            return []
        # The condition is fixed SQL text from _filter; its values are parameters.
        where, params = ("true", []) if condition is None else condition
        sql = (
            "SELECT version, status, summary::text FROM expm_versions WHERE experiment = %s"  # noqa: S608
            f" AND (summary IS NULL OR status = 'running' OR {where}) ORDER BY version"
        )
        with self._pool.connection() as connection:
            rows = connection.execute(sql, (pk, *params)).fetchall()
        return self._decoded(experiment_id, rows)

    def summaries_of(self, experiment_id: str, versions: Iterable[int]) -> list[dict[str, Any]]:
        """The rows of these versions only; see :meth:`Store.summaries_of`."""
        pk = self._pk(experiment_id)
        wanted = sorted({int(v) for v in versions})
        if pk is None or not wanted:
            return []
        with self._pool.connection() as connection:
            rows = connection.execute(
                "SELECT version, status, summary::text FROM expm_versions"
                " WHERE experiment = %s AND version = ANY(%s) ORDER BY version",
                (pk, wanted),
            ).fetchall()
        return self._decoded(experiment_id, rows)

    def _decoded(self, experiment_id: str, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Summaries of (version, status, summary text) rows; running ones read afresh."""
        out = []
        for number, status, summary in rows:
            if summary is None or status == "running":
                fresh = self._fresh_summary(experiment_id, number)
                if fresh is not None:
                    out.append(fresh)
            else:
                out.append(decode_summary(_serialize.loads(summary)))
        return out

    def _fresh_summary(self, experiment_id: str, version: int) -> dict[str, Any] | None:
        """A running version's summary, from its rows and unshipped points (None if gone).

        Its aggregates are taken in SQL (see :mod:`._running`) while its writer holds
        it; anything else (a dead writer, values that summary leaves out) reads the
        version whole, as :meth:`read_version` does.
        """
        fast = self._summary_in_sql(experiment_id, version)
        if fast is not None and self.is_live(experiment_id, version):
            return decode_summary(fast)
        try:
            record = self.read_version(experiment_id, version)
        except ExperimentNotFoundError:
            return None
        return decode_summary(_index.summarize(record))

    def _summary_in_sql(self, experiment_id: str, version: int) -> dict[str, Any] | None:
        """A running version's summary in stored form from :mod:`._running`, or None."""
        pk = self._pk(experiment_id)
        if pk is None:
            return None
        with self._snapshot() as connection:
            row = connection.execute(_VERSION_ONE, (pk, version)).fetchone()
            if row is None or row[2] != "running":
                return None
            _, fields, status, segment, shipped = row
            record = _rows.assemble(fields, status, segment, shipped, {})
            data = self.read_journal(experiment_id, version, segment, shipped)
            whole = data[: data.rfind(b"\n") + 1]
            source = self.journal_name(experiment_id, version, segment)
            return _running.summary(connection, pk, record, whole, source)

    def search_versions(
        self,
        experiment_id: str,
        query: Query | None = None,
        order_by: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """The filter's conditions narrow the rows in SQL; see :meth:`Store.search_versions`.

        The SQL only drops versions the filter cannot match (see :mod:`._filter`); the
        filter, the order and the limit are then applied as on every backend.
        """
        from experiment_manager.query import search_records

        condition = _filter.necessary(query.node) if query is not None else None
        return search_records(self._summaries(experiment_id, condition), query, order_by, limit)

    def overview(
        self, experiment_id: str, *, include_archived: bool = False
    ) -> dict[str, Any] | None:
        """Aggregated in SQL over ended versions; see :meth:`Store.overview`."""
        pk = self._pk(experiment_id)
        if pk is None:
            return None
        with self._snapshot() as connection:
            row = connection.execute(
                _OVERVIEW, {"pk": pk, "hidden": 1 if include_archived else 0}
            ).fetchone()
            running = connection.execute(
                "SELECT version FROM expm_versions WHERE experiment = %s"
                " AND (summary IS NULL OR status = 'running') ORDER BY version",
                (pk,),
            ).fetchall()
        assert row is not None  # an aggregate always gives a row
        count, latest, created, activity, statuses, firsts, counts, metrics, configs = row
        server = _overview.Tally(
            versions=int(count),
            latest=latest,
            first_created=created,
            last_activity=activity,
            statuses={
                status: (int(first), int(n))
                for status, first, n in zip(statuses or [], firsts or [], counts or [], strict=True)
            },
            metric_names=set(metrics or []),
            config_names=set(configs or []),
        )
        fresh = [self._fresh_summary(experiment_id, number) for (number,) in running]
        shown = _overview.visible([s for s in fresh if s is not None], include_archived)
        return _overview.entry(experiment_id, _overview.merge([server, _overview.tally(shown)]))

    def read_metric(self, experiment_id: str, metric: str, x: str) -> MetricRead | None:
        """One metric, read per version when a chart asks; see :meth:`Store.read_metric`.

        Only the statuses are read here; each version's columns are read by one query
        when first used, so a chart of 20 versions reads 20 versions' points however
        many the experiment has.
        """
        from experiment_manager.stores._metric_read import MetricRead, VersionColumns

        pk = self._pk(experiment_id)
        if pk is None:
            return None
        with self._snapshot() as connection:
            identity_row = connection.execute(
                "SELECT writes FROM expm_experiments WHERE id = %s", (pk,)
            ).fetchone()
            statuses: dict[int, str] = dict(
                connection.execute(
                    "SELECT version, status FROM expm_versions WHERE experiment = %s", (pk,)
                ).fetchall()
            )
        running = [number for number, status in statuses.items() if status == "running"]
        # A running version's points grow without a write to its row: never reuse then.
        identity = None if running or identity_row is None else int(identity_row[0])
        for number in list(running):
            if not self.is_live(experiment_id, number):
                # Ended since the snapshot (the end commits before the lock is let go),
                # or crashed.
                statuses[number] = self._status_now(pk, number)
                if statuses[number] != "running":
                    running.remove(number)
                else:
                    statuses[number] = "crashed"
        empty = _empty_columns()
        versions = [VersionColumns(n, statuses[n], empty) for n in sorted(statuses)]
        loaded = set(running)

        def load(version: int) -> Columns:
            if version in loaded:
                return _columns(self.read_version(experiment_id, version), metric)
            return self._metric_columns(pk, version, metric)

        return MetricRead(identity, versions, load)

    def _status_now(self, pk: int, version: int) -> str:
        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT status FROM expm_versions WHERE experiment = %s AND version = %s",
                (pk, version),
            ).fetchone()
        return "crashed" if row is None else str(row[0])

    def read_series(
        self, experiment_id: str, metric: str, version: int, view: SeriesRequest
    ) -> dict[str, Any] | None:
        """One metric of one version, reduced in SQL; see :meth:`Store.read_series`."""
        pk = self._pk(experiment_id)
        if pk is None:
            return None
        with self._snapshot() as connection:
            row = connection.execute(
                "SELECT status FROM expm_versions WHERE experiment = %s AND version = %s",
                (pk, version),
            ).fetchone()
            if row is None or row[0] == "running":
                return None  # its last points may be in a journal: reduced by the caller
            return _series.reduce_series(connection, pk, version, metric, view)

    def _metric_columns(self, pk: int, version: int, metric: str) -> Columns:
        import numpy as np

        from experiment_manager.stores._metric_read import Columns

        with self._pool.connection() as connection:
            row = connection.execute(
                "SELECT s.stepped,"
                " string_agg(float8send(p.value), ''::bytea ORDER BY p.seq),"
                " string_agg(float8send(coalesce(p.step::float8, 'NaN')), ''::bytea"
                "   ORDER BY p.seq),"
                " string_agg(float8send(coalesce(p.time, 'NaN')), ''::bytea ORDER BY p.seq)"
                " FROM expm_series s JOIN expm_points p ON p.series = s.id"
                " WHERE s.experiment = %s AND s.version = %s AND s.name = %s GROUP BY s.id",
                (pk, version, metric),
            ).fetchone()
        if row is None:
            return _empty_columns()
        stepped, values, steps, times = row

        def floats(data: bytes | None) -> np.ndarray:
            return np.frombuffer(data or b"", dtype=">f8").astype(float)

        none = np.asarray([], dtype=float)
        return Columns(
            floats(values), floats(steps) if stepped else none, floats(times) if stepped else none
        )

    def close(self) -> None:
        """Close the idle connections (live versions keep theirs until they end)."""
        self._pool.close()


# One listing entry's aggregates over the ended versions a listing shows, from the
# columns migration 2 derives from each summary (the rules of stores/_overview.py).
_OVERVIEW = """
WITH v AS MATERIALIZED (
    SELECT version, status, created, activity, config, metric_names FROM expm_versions
    WHERE experiment = %(pk)s AND summary IS NOT NULL AND status <> 'running'
      AND hidden <= %(hidden)s
), s AS (
    SELECT status, min(version) AS first, count(*) AS n FROM v GROUP BY 1
)
SELECT
    (SELECT count(*) FROM v),
    (SELECT max(version) FROM v),
    (SELECT min(created COLLATE "C") FROM v),
    (SELECT max(activity COLLATE "C") FROM v),
    (SELECT array_agg(status ORDER BY first) FROM s),
    (SELECT array_agg(first ORDER BY first) FROM s),
    (SELECT array_agg(n ORDER BY first) FROM s),
    (SELECT array_agg(DISTINCT name) FROM v, unnest(metric_names) AS name),
    (SELECT array_agg(DISTINCT config) FROM v WHERE config IS NOT NULL)
"""


def _empty_columns() -> Columns:
    import numpy as np

    from experiment_manager.stores._metric_read import Columns

    none = np.asarray([], dtype=float)
    return Columns(none, none, none)


def _columns(record: StoredVersion, metric: str) -> Columns:
    import numpy as np

    from experiment_manager import _serialize as codec
    from experiment_manager.stores._metric_read import Columns

    values = codec.decode_metric_values((record.get("metrics") or {}).get(metric) or [])
    steps = (record.get("steps") or {}).get(metric) or []
    times = (record.get("timestamps") or {}).get(metric) or []
    return Columns(
        np.asarray(values, float),
        np.asarray([np.nan if s is None else s for s in steps], float),
        np.asarray([np.nan if t is None else t for t in times], float),
    )


class _LiveLock:
    """A version's advisory lock, held by a connection that does nothing else."""

    def __init__(
        self, store: PostgresStore, version: tuple[int, int], key: int, connection: Any
    ) -> None:
        self._store: PostgresStore | None = store
        self.version = version
        self._key = key
        self._connection = connection
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def check(self) -> None:
        store = self._store
        if store is None or self._pid != os.getpid():
            return
        with self._lock:
            try:
                self._connection.execute("SELECT 1")
                return
            except Exception:  # the session is gone: the lock with it
                with contextlib.suppress(Exception):
                    self._connection.close()
            try:
                connection = _connect.connect(store._uri, keepalive=True)
                row = connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
                self._connection = connection
                if not (row and row[0]):
                    connection.close()
            except Exception:  # noqa: S110 (the server is still away: try again later)
                pass

    def release(self) -> None:
        store, self._store = self._store, None
        if store is None:
            return
        with self._lock:
            if self._pid == os.getpid():
                with contextlib.suppress(Exception):
                    self._connection.close()  # ends the session and frees the lock
        store._released(self)


def _check_metric_name(name: str) -> None:
    if "\x00" in name:
        raise InvalidMetricError(name, None, "PostgreSQL cannot store U+0000 in a name")


def _check_storable(fields: Mapping[str, Any]) -> None:
    """Refuse a new version's fields that PostgreSQL cannot hold, naming the field."""
    for name in fields.get("metrics") or {}:
        _check_metric_name(name)
    rest = {k: v for k, v in _without_private(fields).items() if k not in _rows.SERIES_KEYS}
    _text.check_json(_serialize.dumps(rest))


def _padded(column: list[Any] | None, start: int, count: int) -> list[Any]:
    if column is None:
        return [None] * count
    part = column[start : start + count]
    return part + [None] * (count - len(part))


def _snapshot(series: Mapping[str, _rows.Series]) -> dict[str, _rows.Series]:
    """Copies of a version's columns as read, to see afterwards what a change added."""
    return {
        name: _rows.Series(
            one.id,
            list(one.values),
            None if one.steps is None else list(one.steps),
            None if one.times is None else list(one.times),
        )
        for name, one in series.items()
    }


def _without_private(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in fields.items()
        if k not in ("_revision", "_journal_offset", "_journal_segment")
    }
