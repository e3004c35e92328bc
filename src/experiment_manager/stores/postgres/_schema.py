"""The PostgreSQL schema: numbered migrations, applied once, under an advisory lock.

Every process that opens a store checks the schema version; the first to find it
behind applies the missing migrations inside one transaction while holding a
transaction-level advisory lock, so many processes starting at once against an
empty database end with one schema and no error. The tables are described in
docs/postgres.md.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from experiment_manager.errors import UnsupportedSchemaError

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "ensure_schema"]

# Any fixed number: it only has to differ from the keys other applications lock.
_MIGRATION_LOCK = 0x65787063_6D696772  # "expcmigr"

_FIRST = """
CREATE TABLE expm_meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE expm_experiments (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    latest integer NOT NULL DEFAULT 0,
    writes bigint NOT NULL DEFAULT 0
);
CREATE TABLE expm_versions (
    experiment bigint NOT NULL REFERENCES expm_experiments (id) ON DELETE CASCADE,
    version integer NOT NULL,
    status text NOT NULL,
    fields json NOT NULL,
    summary json,
    segment integer NOT NULL DEFAULT 0,
    shipped bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (experiment, version)
);
CREATE TABLE expm_series (
    id bigserial PRIMARY KEY,
    experiment bigint NOT NULL,
    version integer NOT NULL,
    name text NOT NULL,
    length integer NOT NULL DEFAULT 0,
    stepped boolean NOT NULL DEFAULT false,
    UNIQUE (experiment, version, name),
    FOREIGN KEY (experiment, version) REFERENCES expm_versions ON DELETE CASCADE
);
CREATE TABLE expm_points (
    series bigint NOT NULL,
    seq integer NOT NULL,
    value float8 NOT NULL,
    exact numeric,
    step bigint,
    time float8,
    PRIMARY KEY (series, seq)
);
CREATE FUNCTION expm_ship(
    p_experiment bigint, p_version integer, p_segment integer,
    p_offset bigint, p_end bigint, p_data text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_segment integer;
    v_shipped bigint;
BEGIN
    SELECT segment, shipped INTO v_segment, v_shipped FROM expm_versions
        WHERE experiment = p_experiment AND version = p_version FOR UPDATE;
    IF NOT FOUND OR v_segment <> p_segment OR v_shipped <> p_offset THEN
        RETURN coalesce(v_shipped, -1);
    END IF;
    CREATE TEMP TABLE IF NOT EXISTS expm_incoming (
        n integer, name text, value json, step bigint, time float8
    ) ON COMMIT DELETE ROWS;
    INSERT INTO expm_incoming
        SELECT u.n, e.key, e.value, (u.line::json ->> 's')::bigint, (u.line::json ->> 't')::float8
        FROM unnest(string_to_array(rtrim(p_data, E'\n'), E'\n')) WITH ORDINALITY AS u (line, n),
             json_each(u.line::json -> 'm') AS e
        WHERE u.line <> '';
    INSERT INTO expm_series (experiment, version, name)
        SELECT DISTINCT p_experiment, p_version, i.name FROM expm_incoming i
        ON CONFLICT (experiment, version, name) DO NOTHING;
    WITH added AS (
        INSERT INTO expm_points (series, seq, value, exact, step, time)
        SELECT s.id,
               s.length + row_number() OVER (PARTITION BY s.id ORDER BY i.n) - 1,
               CASE json_typeof(i.value) WHEN 'string' THEN (i.value #>> '{}')::float8
                                          ELSE (i.value::text)::float8 END,
               CASE WHEN i.value::text ~ '^-?[0-9]+$' THEN (i.value::text)::numeric END,
               i.step, i.time
        FROM expm_incoming i
        JOIN expm_series s ON s.experiment = p_experiment AND s.version = p_version
                           AND s.name = i.name
        RETURNING series
    )
    UPDATE expm_series s SET length = s.length + c.k, stepped = true
        FROM (SELECT series, count(*) AS k FROM added GROUP BY series) AS c
        WHERE s.id = c.series;
    UPDATE expm_versions SET shipped = p_end
        WHERE experiment = p_experiment AND version = p_version;
    RETURN p_end;
END;
$$;
"""

# Columns derived from each ended version's summary, so searches and listings run on
# the server: a binary copy for filters (the json column stays what readers get, since
# jsonb would turn -0.0 into 0 and reorder keys), and the few values a listing
# aggregates, so it reads no JSON at all. The functions follow stores/_overview.py.
_DERIVED = r"""
CREATE FUNCTION expm_text(v json) RETURNS text IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE WHEN json_typeof(v) = 'string' THEN v #>> '{}' END
$$;
CREATE FUNCTION expm_truthy(v json) RETURNS boolean IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE json_typeof(v)
        WHEN 'string' THEN v #>> '{}' <> ''
        WHEN 'boolean' THEN v::text = 'true'
        WHEN 'number' THEN (v::text)::numeric <> 0
        WHEN 'array' THEN json_array_length(v) > 0
        WHEN 'object' THEN EXISTS (SELECT 1 FROM json_object_keys(v))
        ELSE false END
$$;
CREATE FUNCTION expm_hidden(s json) RETURNS smallint IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE WHEN s IS NULL THEN NULL
        WHEN expm_truthy(s -> 'purged_at') OR expm_truthy(s -> 'trashed_at') THEN 2
        WHEN expm_truthy(s -> 'archived') THEN 1 ELSE 0 END::smallint
$$;
CREATE FUNCTION expm_activity(s json) RETURNS text IMMUTABLE LANGUAGE sql AS $$
    SELECT max(t COLLATE "C") FROM (
        SELECT expm_text(s -> 'created_at') AS t
        UNION ALL SELECT expm_text(s -> 'ended_at')
        UNION ALL SELECT expm_text(s -> 'last_logged_at')
        UNION ALL SELECT expm_text(r -> 'at') FROM json_array_elements(
            CASE WHEN json_typeof(s -> 'resumed') = 'array' THEN s -> 'resumed' END) AS r
            WHERE json_typeof(r) = 'object'
    ) AS moments
$$;
CREATE FUNCTION expm_metric_names(s json) RETURNS text[] IMMUTABLE LANGUAGE sql AS $$
    SELECT CASE WHEN json_typeof(s -> 'metric_summaries') = 'object'
        THEN ARRAY(SELECT json_object_keys(s -> 'metric_summaries')) END
$$;
ALTER TABLE expm_versions
    ADD COLUMN facts jsonb GENERATED ALWAYS AS (summary::jsonb) STORED,
    ADD COLUMN hidden smallint GENERATED ALWAYS AS (expm_hidden(summary)) STORED,
    ADD COLUMN created text GENERATED ALWAYS AS (
        nullif(expm_text(summary -> 'created_at'), '')) STORED,
    ADD COLUMN activity text GENERATED ALWAYS AS (expm_activity(summary)) STORED,
    ADD COLUMN config text GENERATED ALWAYS AS (expm_text(summary -> 'config_name')) STORED,
    ADD COLUMN metric_names text[] GENERATED ALWAYS AS (expm_metric_names(summary)) STORED;
"""

# The journal segment a version left, with how much of it is committed: a writer
# killed on one host while another host ended or resumed its version still has its
# unshipped points in a local journal; they are shipped into the version when that
# host opens the store again (expm_ship_closed), never dropped.
_SEGMENTS = r"""
CREATE TABLE expm_segments (
    experiment bigint NOT NULL,
    version integer NOT NULL,
    segment integer NOT NULL,
    shipped bigint NOT NULL,
    PRIMARY KEY (experiment, version, segment),
    FOREIGN KEY (experiment, version) REFERENCES expm_versions ON DELETE CASCADE
);
CREATE FUNCTION expm_add_points(p_experiment bigint, p_version integer, p_data text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS expm_incoming (
        n integer, name text, value json, step bigint, time float8
    ) ON COMMIT DELETE ROWS;
    INSERT INTO expm_incoming
        SELECT u.n, e.key, e.value, (u.line::json ->> 's')::bigint, (u.line::json ->> 't')::float8
        FROM unnest(string_to_array(rtrim(p_data, E'\n'), E'\n')) WITH ORDINALITY AS u (line, n),
             json_each(u.line::json -> 'm') AS e
        WHERE u.line <> '';
    INSERT INTO expm_series (experiment, version, name)
        SELECT DISTINCT p_experiment, p_version, i.name FROM expm_incoming i
        ON CONFLICT (experiment, version, name) DO NOTHING;
    WITH added AS (
        INSERT INTO expm_points (series, seq, value, exact, step, time)
        SELECT s.id,
               s.length + row_number() OVER (PARTITION BY s.id ORDER BY i.n) - 1,
               CASE json_typeof(i.value) WHEN 'string' THEN (i.value #>> '{}')::float8
                                          ELSE (i.value::text)::float8 END,
               CASE WHEN i.value::text ~ '^-?[0-9]+$' THEN (i.value::text)::numeric END,
               i.step, i.time
        FROM expm_incoming i
        JOIN expm_series s ON s.experiment = p_experiment AND s.version = p_version
                           AND s.name = i.name
        RETURNING series
    )
    UPDATE expm_series s SET length = s.length + c.k, stepped = true
        FROM (SELECT series, count(*) AS k FROM added GROUP BY series) AS c
        WHERE s.id = c.series;
END;
$$;
CREATE OR REPLACE FUNCTION expm_ship(
    p_experiment bigint, p_version integer, p_segment integer,
    p_offset bigint, p_end bigint, p_data text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_segment integer;
    v_shipped bigint;
BEGIN
    SELECT segment, shipped INTO v_segment, v_shipped FROM expm_versions
        WHERE experiment = p_experiment AND version = p_version FOR UPDATE;
    IF NOT FOUND OR v_segment <> p_segment OR v_shipped <> p_offset THEN
        RETURN coalesce(v_shipped, -1);
    END IF;
    PERFORM expm_add_points(p_experiment, p_version, p_data);
    UPDATE expm_versions SET shipped = p_end
        WHERE experiment = p_experiment AND version = p_version;
    RETURN p_end;
END;
$$;
CREATE FUNCTION expm_ship_closed(
    p_experiment bigint, p_version integer, p_segment integer,
    p_offset bigint, p_end bigint, p_data text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_shipped bigint;
BEGIN
    -- The version's row first, in the order every writer locks.
    PERFORM 1 FROM expm_versions
        WHERE experiment = p_experiment AND version = p_version FOR UPDATE;
    SELECT shipped INTO v_shipped FROM expm_segments
        WHERE experiment = p_experiment AND version = p_version AND segment = p_segment
        FOR UPDATE;
    IF NOT FOUND OR v_shipped <> p_offset THEN
        RETURN coalesce(v_shipped, -1);
    END IF;
    PERFORM expm_add_points(p_experiment, p_version, p_data);
    UPDATE expm_segments SET shipped = p_end
        WHERE experiment = p_experiment AND version = p_version AND segment = p_segment;
    RETURN p_end;
END;
$$;
"""

# Migration 4: a call's new series are made in the order their names first come (line,
# then key in the line), as the other stores keep a version's metrics; SELECT DISTINCT
# numbered them in whatever order its hash or sort gave. Its own temporary table, since
# a session may still hold expm_incoming as the earlier function made it.
_SERIES_ORDER = r"""
CREATE OR REPLACE FUNCTION expm_add_points(p_experiment bigint, p_version integer, p_data text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS expm_incoming_keyed (
        n integer, k integer, name text, value json, step bigint, time float8
    ) ON COMMIT DELETE ROWS;
    INSERT INTO expm_incoming_keyed
        SELECT u.n, e.k, e.key, e.value, (u.line::json ->> 's')::bigint,
               (u.line::json ->> 't')::float8
        FROM unnest(string_to_array(rtrim(p_data, E'\n'), E'\n')) WITH ORDINALITY AS u (line, n),
             json_each(u.line::json -> 'm') WITH ORDINALITY AS e (key, value, k)
        WHERE u.line <> '';
    INSERT INTO expm_series (experiment, version, name)
        SELECT p_experiment, p_version, i.name FROM expm_incoming_keyed i
        GROUP BY i.name ORDER BY min(i.n), min(i.k)
        ON CONFLICT (experiment, version, name) DO NOTHING;
    WITH added AS (
        INSERT INTO expm_points (series, seq, value, exact, step, time)
        SELECT s.id,
               s.length + row_number() OVER (PARTITION BY s.id ORDER BY i.n) - 1,
               CASE json_typeof(i.value) WHEN 'string' THEN (i.value #>> '{}')::float8
                                          ELSE (i.value::text)::float8 END,
               CASE WHEN i.value::text ~ '^-?[0-9]+$' THEN (i.value::text)::numeric END,
               i.step, i.time
        FROM expm_incoming_keyed i
        JOIN expm_series s ON s.experiment = p_experiment AND s.version = p_version
                           AND s.name = i.name
        RETURNING series
    )
    UPDATE expm_series s SET length = s.length + c.k, stepped = true
        FROM (SELECT series, count(*) AS k FROM added GROUP BY series) AS c
        WHERE s.id = c.series;
END;
$$;
"""

#: Each migration's statements; migration ``n`` takes the schema from ``n - 1`` to ``n``.
MIGRATIONS: tuple[str, ...] = (_FIRST, _DERIVED, _SEGMENTS, _SERIES_ORDER)
#: The schema version this library writes.
SCHEMA_VERSION = len(MIGRATIONS)


def _installed(connection: psycopg.Connection[tuple[object, ...]]) -> int:
    # Read pg_tables (an MVCC scan), not to_regclass: its cached catalog may still
    # miss a table another process created while this one waited for the lock.
    row = connection.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables"
        " WHERE tablename = 'expm_meta' AND schemaname = current_schema())"
    ).fetchone()
    if row is None or not row[0]:
        return 0
    found = connection.execute("SELECT value FROM expm_meta WHERE key = 'schema'").fetchone()
    return int(str(found[0])) if found is not None else 0


def ensure_schema(connection: psycopg.Connection[tuple[object, ...]], location: str) -> str:
    """Bring the database's schema up to :data:`SCHEMA_VERSION`; return the store's id.

    Args:
        connection: An autocommit connection.
        location: The redacted URI, for errors.

    Returns:
        The random id made by the first migration (it salts the liveness lock keys,
        so two stores in one database never share a lock).

    Raises:
        UnsupportedSchemaError: The schema is newer than this library knows.
    """
    found = _installed(connection)
    if found < SCHEMA_VERSION:
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            found = _installed(connection)  # another process may have just done it
            for number in range(found + 1, SCHEMA_VERSION + 1):
                connection.execute(MIGRATIONS[number - 1])
                if number == 1:
                    connection.execute(
                        "INSERT INTO expm_meta (key, value) VALUES ('store', %s)",
                        (secrets.token_hex(8),),
                    )
                connection.execute(
                    "INSERT INTO expm_meta (key, value) VALUES ('schema', %s)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(number),),
                )
            found = max(found, SCHEMA_VERSION)
    if found > SCHEMA_VERSION:
        raise UnsupportedSchemaError(location, found, SCHEMA_VERSION)
    row = connection.execute("SELECT value FROM expm_meta WHERE key = 'store'").fetchone()
    return str(row[0]) if row is not None else ""
