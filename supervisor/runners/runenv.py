"""The environment runners get: an allow-list, never the supervisor's secrets.

The fork server is started with it, so runners and everything they start inherit only it
(`/proc/<pid>/environ` of a runner shows what its fork server was started with).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping

from supervisor.config import Config

# What names the database or configures jobsup: passed only when `[runner] env` names it
# exactly (a pattern such as "P*" or "*" never lets these through).
NEVER_BY_PATTERN = ("DATABASE_URL", "POSTGRES_URL", "PG*", "JOBSUP_*")


def environment(config: Config, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of `environ` (default: ours) a runner may see, plus `[runner] set`.

    `[runner] env` names them (a trailing `*` matches a prefix); the `[ai] api_key_env`
    variable is added when the AI summary is configured, as the `analysis` handler reads it.
    """
    environ = os.environ if environ is None else environ
    exact = set(config.runner.env)
    if config.ai.base_url:
        exact.add(config.ai.api_key_env)
    patterns = [p for p in exact if "*" in p]
    passed = {
        name: value
        for name, value in environ.items()
        if name in exact or (_matches(name, patterns) and not _matches(name, NEVER_BY_PATTERN))
    }
    return passed | dict(config.runner.set)


def _matches(name: str, patterns: list[str] | tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
