"""Integrations with training frameworks: pass a logger or a callback, get a tracked run.

Each module imports its framework only when it is itself imported, so
``import experiment_manager`` never loads one:

* :mod:`experiment_manager.integrations.lightning`: ``ExperimentManagerLogger``, a
  PyTorch Lightning logger (``lightning`` or ``pytorch_lightning``).
* :mod:`experiment_manager.integrations.keras`: ``ExperimentManagerCallback``, a
  Keras 3 callback.
* :mod:`experiment_manager.integrations.transformers`: ``ExperimentManagerCallback``,
  a Hugging Face ``TrainerCallback``.

See ``docs/integrations.md``.

Example:
    >>> import experiment_manager.integrations
"""

__all__: list[str] = []
