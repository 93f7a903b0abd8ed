"""The state directory (pidfile, logs, the embedded database) is private: created 0700, and
the files jobsup writes there readable by its own user (and group) only."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o640  # the group may read logs (e.g. adm); others nothing


def ensure(path: Path) -> Path:
    """`path`, created private (0700) if it does not exist; an existing one is left as it is
    (it may be a directory the operator chose, such as systemd's StateDirectory)."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    return path


def private_opener(path: str, flags: int) -> int:
    """An `opener` for open() and loguru: a file it creates is PRIVATE_FILE, not 0666 - umask."""
    return os.open(path, flags, PRIVATE_FILE)
