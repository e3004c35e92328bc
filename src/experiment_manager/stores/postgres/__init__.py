"""The PostgreSQL backend (needs the ``postgres`` extra: psycopg 3).

Chosen by :func:`experiment_manager.stores.open_store` for a ``postgresql://`` or
``postgres://`` ``log_dir``; see docs/postgres.md.
"""

from experiment_manager.stores.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
