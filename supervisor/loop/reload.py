"""SIGHUP: the config file read again and checked as at start; a file that cannot work is
refused in one line and the running configuration kept. Running jobs keep the limits they
started with; the database URL is the one thing a reload cannot change.
"""

from __future__ import annotations

from loguru import logger

from supervisor import config as configuration
from supervisor.config import Config, Overrides
from supervisor.config import rules as config_rules
from supervisor.errors import ConfigError
from supervisor.runners import handler_modules


def reload(running: Config, overrides: Overrides, chosen: tuple[str, ...]) -> Config | None:
    """The new configuration from `running`'s file (with the command line's `overrides`
    and --job-type `chosen`), or None: keep `running`."""
    try:
        new = configuration.load(running.path, overrides)
        handler_modules.check(new)
        config_rules.check_chosen(chosen, new)
    except ConfigError as e:
        logger.error("SIGHUP: {}; keeping the running configuration", e)
        return None
    if new.database.url != running.database.url:
        logger.warning("SIGHUP: the database URL changed; restart to use the new one")
    return new
