"""Import runs from other trackers: MLflow, TensorBoard and W&B offline folders.

Each imported version records where it came from in its ``imported_from`` field (tool,
source, the run's id and path), so running the same import again adds nothing: a
run already imported is skipped. A run that cannot be read is reported with its path
and the others are imported; the source is only ever read. Versions go into the store
through the store interface, so any backend works.

Needs the ``import`` extra for the file formats (``pip install
"experiment-manager[import]"``: PyYAML, tensorboard, wandb); an MLflow SQLite
database needs nothing but the standard library.

Example:
    >>> import tempfile
    >>> from experiment_manager.importers import import_tensorboard
    >>> import_tensorboard(tempfile.mkdtemp(), tempfile.mkdtemp()).ok
    True
"""

from experiment_manager.importers._api import (
    TOOLS,
    import_mlflow,
    import_runs,
    import_tensorboard,
    import_wandb,
)
from experiment_manager.importers._common import IMPORTED_FROM, ImportReport

__all__ = [
    "IMPORTED_FROM",
    "TOOLS",
    "ImportReport",
    "import_mlflow",
    "import_runs",
    "import_tensorboard",
    "import_wandb",
]
