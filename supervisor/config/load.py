"""Configuration: TOML file < environment < command-line flags, validated into frozen dataclasses.

Every key is optional; `conf/dev.toml` and `conf/prod.toml` list them all with their defaults.
A bad key, type or value, or values that break a rule of config/rules.py (minimums, rules
across keys), raise `ConfigError` with one line naming the file, the keys and the problem.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supervisor import durations
from supervisor.config import flow
from supervisor.config import rules as config_rules
from supervisor.config.flow import RateLimit
from supervisor.config.model import (
    BUILTIN_JOB_TYPES,
    JOB_TYPE_RETRY_KEYS,
    SECTIONS,
    Config,
    JobType,
    Limits,
    Overrides,
    RetryConfig,
)
from supervisor.errors import ConfigError, JobsupError
from supervisor.scheduling import periodic

# Values outside these sets are refused at load time rather than at first use.
CHOICES: dict[str, tuple[str, ...]] = {
    "memory_metric": ("rss", "pss", "uss"),
    "on_memory_limit": ("retry", "fail"),
    "on_time_limit": ("retry", "fail"),
    "on_lost_lease": ("kill", "finish"),
    "pooler": ("none", "session", "transaction"),
    "level": ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"),
}


def load(path: str | Path | None, overrides: Overrides | None = None) -> Config:
    """The validated configuration from `path` (None: defaults only), environment and flags."""
    path = Path(path) if path else None
    where = str(path) if path else "configuration"
    data = read_toml(path) if path else {}
    data = _apply_environment(data)
    for dotted, value in (overrides or {}).items():
        section, key = dotted.split(".", 1)
        data.setdefault(section, {})[key] = value
    cfg = _build_config(path, data, where)
    config_rules.check(cfg, where)
    return cfg


def read_toml(path: Path) -> dict[str, Any]:
    """The parsed TOML document at `path`, or ConfigError with the reason in one line."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read config file: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from None


def _apply_environment(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with DATABASE_URL / POSTGRES_URL / JOBSUP_HOME laid over the file's values."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    url = os.environ.get("DATABASE_URL") or os.environ.get("POSTGRES_URL")
    if url:
        _section(data, "database")["url"] = url
    home = os.environ.get("JOBSUP_HOME")
    if home:
        _section(data, "supervisor")["state_dir"] = home
    return data


def _section(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.setdefault(name, {})
    return table if isinstance(table, dict) else {}


def _build_config(path: Path | None, data: Mapping[str, Any], where: str) -> Config:
    known = [*SECTIONS, "job_types", "periodic"]
    for name, table in data.items():
        if name not in known:
            raise ConfigError(f"{where}: unknown section [{name}]{_suggest(name, known)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: [{name}] must be a table, got {_kind(table)}")
    sections = {
        name: _build(cls, data.get(name, {}), where, f"[{name}]") for name, cls in SECTIONS.items()
    }
    job_types = _build_job_types(
        data.get("job_types", {}), sections["limits"], sections["retry"], where
    )
    schedules = periodic.build(data.get("periodic", {}), where)
    return Config(path=path, job_types=job_types, periodic=schedules, **sections)


def _build_job_types(
    tables: Mapping[str, Any], limits: Limits, retry: RetryConfig, where: str
) -> dict[str, JobType]:
    job_types = {
        name: JobType(handler, limits, retry) for name, handler in BUILTIN_JOB_TYPES.items()
    }
    for name, table in tables.items():
        label = f"[job_types.{name}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {label} must be a table, got {_kind(table)}")
        table = dict(table)
        handler = table.pop("handler", job_types[name].handler if name in job_types else None)
        if not isinstance(handler, str) or not _is_handler_path(handler):
            raise ConfigError(
                f'{where}: {label} handler: expected "module:function", got {handler!r}'
            )
        max_running = _check(table.pop("max_running", 0), int, "max_running",
                             f"{where}: {label} max_running")  # fmt: skip
        rate_limit = _rate_limit(table.pop("rate_limit", None), f"{where}: {label} rate_limit")
        retry_keys = {k: table.pop(k) for k in list(table) if k in JOB_TYPE_RETRY_KEYS}
        own_retry = _build(RetryConfig, retry_keys, where, label, base=retry)
        own_limits = _build_limits(table, where, label, limits)
        job_types[name] = JobType(handler, own_limits, own_retry, max_running, rate_limit)
    return job_types


def _build_limits(table: Mapping[str, Any], where: str, label: str, limits: Limits) -> Limits:
    """The [limits] keys of a job type's table; an unknown key is named with every key known."""
    known = [f.name for f in dataclasses.fields(Limits)]
    for key in table:
        if key not in known:
            allowed = [*known, *JOB_TYPE_RETRY_KEYS, "handler", "max_running", "rate_limit"]
            raise ConfigError(f"{where}: {label} unknown key '{key}'{_suggest(key, allowed)}")
    return typing.cast(Limits, _build(Limits, table, where, label, base=limits))


def _rate_limit(value: Any, where: str) -> RateLimit | None:
    """`rate_limit = "60/minute"` as a RateLimit (absent: None), or one ConfigError line."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string such as {flow.EXAMPLE}, got {_kind(value)}")
    try:
        return flow.parse_rate(value)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None


def _is_handler_path(path: str) -> bool:
    module, _, function = path.partition(":")
    return bool(module) and function.isidentifier()


def _build(
    cls: type[Any], table: Mapping[str, Any], where: str, label: str, base: Any = None
) -> Any:
    """An instance of the dataclass `cls` from `table`, every key checked against its fields."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{where}: {label} unknown key '{key}'{_suggest(key, list(fields))}")
        values[key] = _check(value, hints[key], key, f"{where}: {label} {key}")
    return dataclasses.replace(base, **values) if base is not None else cls(**values)


def _check(value: Any, hint: Any, key: str, where: str) -> Any:
    """`value` converted to the field type `hint`, or ConfigError naming `where`."""
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {_kind(value)}")
        return value
    if hint is float and isinstance(value, str) and key in DURATION_KEYS:
        value = _duration(value, where)
    if hint in (int, float):
        ok = isinstance(value, int) or (hint is float and isinstance(value, float))
        if not ok or isinstance(value, bool):
            expected = "an integer" if hint is int else "a number"
            raise ConfigError(f"{where}: expected {expected}, got {_kind(value)}")
        if not math.isfinite(value):  # TOML's inf and nan, and 1e400 (read as inf)
            raise ConfigError(f"{where}: expected a finite number, got {value}")
        if value < 0:
            raise ConfigError(f"{where}: must not be negative, got {value}")
        return hint(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {_kind(value)}")
        return _check_choice(value, key, where)
    if _is_str_tuple(hint):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings, got {_kind(value)}")
        return _check_names(tuple(value), key, where)
    if _is_str_mapping(hint):
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{where}: expected a table of strings, got {_kind(value)}")
        _check_names(tuple(value), key, where)
        return dict(value)
    raise TypeError(f"unsupported config field type {hint!r}")  # a bug, not a user error


# Keys that may be written as a duration ("14d", "12h") as well as a number of seconds.
DURATION_KEYS = {"completed", "failed", "cancelled"}


def _duration(value: str, where: str) -> float:
    try:
        return durations.parse(value)
    except JobsupError as e:
        raise ConfigError(f"{where}: {e} (0 keeps them for ever)") from None


def _check_choice(value: str, key: str, where: str) -> str:
    choices = CHOICES.get(key)
    if choices is None:
        return value
    normal = value.upper() if key == "level" else value
    if normal not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
    return normal


def _is_str_tuple(hint: Any) -> bool:
    return typing.get_origin(hint) is tuple and typing.get_args(hint) == (str, ...)


def _is_str_mapping(hint: Any) -> bool:
    return typing.get_origin(hint) is Mapping and typing.get_args(hint) == (str, str)


# Environment variable names ([runner] env may end one with * to match a prefix).
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\*?|\*")
_CLASS_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
NAME_KEYS = {"env": _VARIABLE_PATTERN, "set": _VARIABLE, "retry_on": _CLASS_NAME}
NAME_KINDS = {"retry_on": "an exception class name (such as TimeoutError)"}


def _check_names(names: tuple[str, ...], key: str, where: str) -> tuple[str, ...]:
    pattern = NAME_KEYS.get(key)
    bad = [name for name in names if pattern and not pattern.fullmatch(name)]
    if bad:
        kind = NAME_KINDS.get(key, "an environment variable name")
        raise ConfigError(f"{where}: {bad[0]!r} is not {kind}")
    return names


def _suggest(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _kind(value: Any) -> str:
    if isinstance(value, dict | list):
        return type(value).__name__
    return f"{type(value).__name__} {value!r}"
