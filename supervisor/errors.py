"""Errors a person sees: one line that names the thing and the fix, and an exit code."""


class JobsupError(Exception):
    """An error the CLI prints as one line (no traceback) before exiting with `exit_code`."""

    exit_code = 1


class ConfigError(JobsupError):
    """The configuration (file, flag or environment) is wrong."""

    exit_code = 2


class DatabaseError(JobsupError):
    """The database cannot be reached or is not in the expected shape."""

    exit_code = 1


def describe(error: BaseException) -> str:
    """The first line of an error's message (its type when it has none), for one-line reports."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


# SQLSTATEs of a database that is up but refuses writes: a read-only transaction
# (`default_transaction_read_only`, a standby reached by mistake), a full disk.
WRITES_REFUSED = {"25006": "read-only", "53100": "disk full"}


def refuses_writes(error: BaseException | None) -> bool:
    """Whether `error` (a psycopg2.Error) says the database refuses writes for now."""
    return getattr(error, "pgcode", None) in WRITES_REFUSED
