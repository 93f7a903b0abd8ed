"""The Python modules behind the configured job types: that each can be found before the
supervisor starts, and which the fork server imports once for every runner."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from supervisor.config import Config
from supervisor.errors import ConfigError
from supervisor.runners import privileges


def check(config: Config) -> None:
    """ConfigError naming the first handler or preload module that cannot be found, or why
    runners could not run as configured (`supervisor.runners.privileges`)."""
    where = config.path or "configuration"
    for name, job_type in config.job_types.items():
        module = job_type.handler.partition(":")[0]
        if not _findable(module):
            raise ConfigError(
                f"{where}: [job_types.{name}] handler {job_type.handler!r}: "
                f"no module named {module!r} on this Python's path"
            )
    for module in config.supervisor.preload:
        if not _findable(module):
            raise ConfigError(
                f"{where}: [supervisor] preload: no module named {module!r} on this Python's path"
            )
    privileges.check(config)


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package that does not exist
        return False


def preload(config: Config, served: Sequence[str]) -> list[str]:
    """The modules the fork server imports once, so runners start without importing them:
    the handlers shipped with jobsup (runner.*) of the job types `served`, and the
    configured `preload`. Other handler modules are imported in each runner: one that
    starts threads or opens connections at import must stay out of the server."""
    types = [config.job_types[t] for t in served if t in config.job_types]
    modules = {t.handler.partition(":")[0] for t in types}
    own = {m for m in modules if m.startswith("runner.")}
    return sorted(own | set(config.supervisor.preload))
