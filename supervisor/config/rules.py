"""What a configuration must hold beyond the types of its keys: the least value of a key, and
rules across keys. `config.load` applies them to every configuration it builds (a start, a
command, a SIGHUP reload), so a value that would break the loop never reaches it.

To add a rule: a function taking the Config and returning the problem in one line naming
the keys (None when there is none), listed in RULES.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from loguru import logger

from supervisor.errors import ConfigError

if TYPE_CHECKING:
    from supervisor.config.model import Config, Limits


@dataclass(frozen=True)
class Bound:
    """`[section] key` may not be below `least` nor above `most` (None: no bound that side; 0
    for a limit means none: it is allowed)."""

    section: str
    key: str
    why: str
    least: float | None = None
    most: float | None = None


BOUNDS = (
    Bound("supervisor", "interval", "a shorter poll interval is a busy loop", least=0.01),
    Bound("supervisor", "heartbeat_interval", "each heartbeat is a few queries", least=0.1),
    Bound("supervisor", "result_max_kb", "no result would fit", least=1),
    Bound("limits", "check_interval", "a shorter sampling interval is a busy loop", least=0.01),
    Bound("runner", "nice", "a runner may not outrank the supervisor that samples it", least=0),
    Bound("web", "refresh", "a live page fetched more often only loads the database", least=0.5),
    Bound("retention", "batch_size", "a batch deletes at least one job", least=1),
    Bound("retention", "budget", "each turn must have time for a batch", least=0.01),
    Bound("retention", "interval", "pruning more often only loads the database", least=1),
    # As `jobsup start --concurrency` allows: each runner is a process and pipes.
    Bound(
        "supervisor", "concurrency", "each slot is a process; use several supervisors", most=10000
    ),
)


def check(cfg: Config, where: str) -> None:
    """ConfigError (one line starting with `where`) naming the first rule `cfg` breaks."""
    for rule in RULES:
        problem = rule(cfg)
        if problem:
            raise ConfigError(f"{where}: {problem}")


def _bounds(cfg: Config) -> str | None:
    for bound in BOUNDS:
        for label, table in _tables(cfg, bound.section):
            value = getattr(table, bound.key)
            if bound.least is not None and value < bound.least:
                side, limit = "at least", bound.least
            elif bound.most is not None and value > bound.most:
                side, limit = "at most", bound.most
            else:
                continue
            return f"{label} {bound.key}: must be {side} {limit:g}, got {value:g} ({bound.why})"
    return None


def _ai_base_url(cfg: Config) -> str | None:
    url = cfg.ai.base_url
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            f"[ai] base_url: expected an http(s) URL such as https://api.openai.com/v1, got "
            f"{url!r} (or leave it empty)"
        )
    return None


def _tables(cfg: Config, section: str) -> list[tuple[str, object]]:
    """The section's values; for [limits], each job type's too (they inherit them)."""
    if section == "limits":
        return list(_limits(cfg))
    return [(f"[{section}]", getattr(cfg, section))]


def _limits(cfg: Config) -> list[tuple[str, Limits]]:
    job_types = [(f"[job_types.{name}]", t.limits) for name, t in cfg.job_types.items()]
    return [("[limits]", cfg.limits), *job_types]


def _stale_after(cfg: Config) -> str | None:
    sup = cfg.supervisor
    if sup.stale_after < 2 * sup.heartbeat_interval:
        return (
            f"[supervisor] stale_after ({sup.stale_after:g}) must be at least twice "
            f"heartbeat_interval ({sup.heartbeat_interval:g}): peers would take the jobs of "
            "a live supervisor whose heartbeat is a little late"
        )
    return None


def _lease_timeout(cfg: Config) -> str | None:
    sup = cfg.supervisor
    if sup.lease_timeout and sup.lease_timeout >= sup.stale_after:
        return (
            f"[supervisor] lease_timeout ({sup.lease_timeout:g}) must be below stale_after "
            f"({sup.stale_after:g}): a supervisor cut off from the database must stop its "
            "runners before its peers may reclaim their jobs"
        )
    return None


def _time_limits(cfg: Config) -> str | None:
    for label, limits in _limits(cfg):
        soft, hard = limits.soft_time_limit, limits.time_limit
        if soft and hard and soft >= hard:
            return (
                f"{label} soft_time_limit ({soft:g}) must be below time_limit ({hard:g}), "
                "or the handler never gets its SIGTERM to clean up"
            )
    return None


def _served_types(cfg: Config) -> str | None:
    for name in cfg.supervisor.job_types:
        if name not in cfg.job_types:
            return f"[supervisor] job_types: {unknown_job_type(name, cfg)}"
    return None


def _periodic_types(cfg: Config) -> str | None:
    for schedule in cfg.periodic.values():
        if schedule.job_type not in cfg.job_types:
            why = unknown_job_type(schedule.job_type, cfg)
            return f"[periodic.{schedule.name}] job_type: {why}"
    return None


def unknown_job_type(name: str, cfg: Config) -> str:
    """`no job type 'x' is configured (did you mean 'y'?; configured: …)`."""
    known = sorted(cfg.job_types)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"no job type '{name}' is configured{hint}; configured: {', '.join(known)}"


def _rotation(cfg: Config) -> str | None:
    rotation = cfg.logging.rotation
    try:
        # loguru parses `rotation` when a file sink is added; delay=True opens no file.
        logger.remove(logger.add(os.devnull, rotation=rotation, delay=True))
    except (ValueError, TypeError):
        return (
            '[logging] rotation: expected a size ("100 MB"), an interval ("1 day"), a time '
            f'("00:00") or a weekday ("sunday"), got {rotation!r}'
        )
    return None


RULES: list[Callable[[Config], str | None]] = [
    _bounds,
    _ai_base_url,
    _stale_after,
    _lease_timeout,
    _time_limits,
    _served_types,
    _periodic_types,
    _rotation,
]


def check_chosen(chosen: tuple[str, ...], config: Config) -> None:
    """ConfigError when a `--job-type` of the command line is not configured in `config`
    (a reload would leave this supervisor serving less than it was started for)."""
    for name in chosen:
        if name not in config.job_types:
            why = unknown_job_type(name, config)
            raise ConfigError(f"--job-type {name}: {why}")
