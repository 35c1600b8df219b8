"""`python -m drift_cli` is `kubectl drift`."""

from drift_cli.app import main

main()
