"""The trial runner `jobsup start` runs before it says it is ready: can a runner, as the runner
user, reach Python, jobsup's own modules and every handler?

It is a handler (`runner.preflight:check`), so the trial goes the way every job goes: forked by
the fork server, its privileges dropped, then loaded and called. `Job.metadata` holds
`handlers` (the "module:function" paths to load) and `paths` (what the supervisor found where,
as `[what, path]` pairs: Python, each handler's module file). Beside those, every directory a
module already loaded came from must be open: a runner imports lazily from there (a handler's
first `import html` reads the standard library's directory).

Its one insight's content says what it found: `closed`, the first path closed to the user
(the first directory on the way it cannot enter, or the path itself when it cannot read it),
why it matters and the fix, or None; `unloadable`, the handlers that could not be loaded for
another reason (one raises at import, names no function): the supervisor refuses to start on
the first, warns of the others (their jobs fail as they would have).
"""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runner import handlers
from runner.errors import PermanentFailure
from runner.job import Job

HANDLER = "runner.preflight:check"


def check(job: Job) -> list[dict[str, Any]]:
    """One insight: the first path closed to this process's user (None: none), and the
    handlers that could not be loaded for other reasons."""
    wanted = [*job.metadata.get("paths", []), *_import_directories(sys.modules.items())]
    closed = next(filter(None, (_closed(what, path) for what, path in wanted)), None)
    unloadable = []
    for handler in [] if closed else job.metadata.get("handlers", []):
        try:
            handlers.load(handler)
        except PermanentFailure as e:
            unloadable.append(str(e))
        except Exception as e:  # raised at import: each of its jobs will fail the same way
            unloadable.append(f"cannot load handler {handler}: {type(e).__name__}: {e}")
    return [{"insight_type": "preflight", "content": {"closed": closed, "unloadable": unloadable}}]


def first_closed(path: str) -> str | None:
    """The first directory on the way to `path` that this process cannot enter, or `path`
    itself when it cannot read it (list and enter it, for a directory); None when all is open,
    or when `path` does not exist behind open directories."""
    target = Path(path)
    if os.access(target, os.R_OK) and (not target.is_dir() or os.access(target, os.X_OK)):
        return None  # the common case, at one call: reaching it took every directory above
    for directory in reversed(target.parents):
        if not os.access(directory, os.X_OK):
            return str(directory)
    if not os.path.exists(target):
        return None
    wanted = os.R_OK | os.X_OK if target.is_dir() else os.R_OK
    return None if os.access(target, wanted) else str(target)


def _closed(what: str, path: str) -> str | None:
    """What is closed on the way to `path` and the fix, in words; None when nothing is."""
    closed = first_closed(path)
    if closed is None:
        return None
    user = _user()
    on_the_way = "" if closed == path else f" (on the way to {path})"
    fix = "o+x" if closed != path else "o+rx" if os.path.isdir(closed) else "o+r"  # on the way: x
    return (
        f"{what}: {closed} is closed to user {user}{on_the_way}: open it to that user "
        f"(e.g. chmod {fix} {closed}) or install it where {user} can read it"
    )


def _import_directories(modules: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """("the modules beside <first module>", directory) for each directory a loaded module
    came from, in the order they were loaded."""
    seen: dict[str, str] = {}
    for name, module in list(modules):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.isabs(file):
            seen.setdefault(os.path.dirname(file), name)
    return [(f"the modules beside {name}", directory) for directory, name in seen.items()]


def _user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
