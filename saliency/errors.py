"""Errors meant for users. Each carries the exit code the CLI returns for it.

The library raises these; the CLI prints their message as one line on stderr and exits
with `exit_code`. Anything else escaping is a bug and keeps its traceback.
"""


class SaliencyError(Exception):
    exit_code = 1


class UsageError(SaliencyError):
    """A bad option value: unknown method or label, --steps 0, a position outside the text."""

    exit_code = 2


class RecordUsageError(UsageError):
    """A usage error that depends on one text (a position past its end): batch work skips that record."""


class InputError(SaliencyError):
    """Bad input text: empty, no tokens, undecodable bytes, a malformed record."""

    exit_code = 3


class ModelError(SaliencyError):
    """Unknown model name, missing, truncated or inconsistent model file."""

    exit_code = 4


class OutputError(SaliencyError):
    """The output cannot be written: the disk is full, stdout is closed."""

    exit_code = 6


# Not an exception: `batch` exits with this when some records failed and the rest were written.
EXIT_RUN_FAILED = 1  # batch --ray: Ray gave up on a window (its worker died past the retries)
EXIT_RECORDS_FAILED = 5
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143  # SIGTERM while a model file was written: the old file is kept
