"""Moving versions between stores: ``migrate`` (a whole store) and ``sync`` (offline runs).

Both read the source through the store interface only and write the destination
with ``add_versions``, so any backend can be either side (a folder, PostgreSQL,
memory), and both can be run again at any time, also after being killed: what is
already in the destination is recognised and never copied twice.

Example:
    >>> from experiment_manager.transfer import migrate, sync, TransferReport
"""

from experiment_manager.transfer._migrate import migrate
from experiment_manager.transfer._report import TransferReport
from experiment_manager.transfer._sync import ORIGIN, origin_key, sync

__all__ = ["ORIGIN", "TransferReport", "migrate", "origin_key", "sync"]
