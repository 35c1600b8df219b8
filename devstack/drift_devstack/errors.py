"""The one error type of the stack tool: a one-line message naming the cause (and the log, if any)."""


class StackError(Exception):
    """A failure the user can act on; the CLI prints it on one line and exits 1, without a traceback."""
