"""``python -m experiment_manager``: the ``expm`` command line."""

from experiment_manager.cli import main

if __name__ == "__main__":
    main()
