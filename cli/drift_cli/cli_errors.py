"""The one error type a command raises for a person's mistake: printed as one line, never a traceback."""

from __future__ import annotations

EXIT_FAILED = 1
"""The command ran but the answer is "no": a run did not succeed, manifests have problems, a resume was refused."""
EXIT_USAGE = 2
"""The command could not do its job: bad arguments, unreadable input, no cluster, unknown object."""


class CliError(Exception):
    """A problem to report as `error: {message}` with an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
