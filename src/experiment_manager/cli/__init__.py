"""The ``expm`` command line: a thin layer over the library."""

from experiment_manager.cli._main import main

__all__ = ["main"]
