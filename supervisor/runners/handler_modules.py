"""The Python modules behind the configured job types: that each can be found before the
supervisor starts, and which the fork server imports once for every runner."""

from __future__ import annotations

import ast
import builtins
import difflib
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

from supervisor.config import Config
from supervisor.errors import ConfigError
from supervisor.runners import privileges


def check(config: Config) -> None:
    """ConfigError naming the first handler or preload module that cannot be found, a handler
    function its module does not define, a `retry_on` name no handler could raise, or why
    runners could not run as configured (`supervisor.runners.privileges`).

    Read, never imported: a handler module may start threads or open connections at import,
    and the supervisor is not where that should happen (the runners import it).
    """
    where = config.path or "configuration"
    sources: dict[str, str | None] = {}
    for name, job_type in config.job_types.items():
        module, _, function = job_type.handler.partition(":")
        if not _findable(module):
            raise ConfigError(
                f"{where}: [job_types.{name}] handler {job_type.handler!r}: "
                f"no module named {module!r} on this Python's path"
            )
        source = sources[module] = _source(module)
        defined = _defined(source) if source else None
        if defined is not None and function not in defined:
            close = difflib.get_close_matches(function, sorted(defined), n=1)
            hint = f" (did you mean '{module}:{close[0]}'?)" if close else ""
            raise ConfigError(
                f"{where}: [job_types.{name}] handler {job_type.handler!r}: module {module!r} "
                f"defines no {function!r}{hint}"
            )
    _check_retry_on(f"{where}: [retry] retry_on", config.retry.retry_on, sources)
    for name, job_type in config.job_types.items():
        if job_type.retry.retry_on != config.retry.retry_on:  # its own
            _check_retry_on(f"{where}: [job_types.{name}] retry_on", job_type.retry.retry_on,
                            sources)  # fmt: skip
    for module in config.supervisor.preload:
        if not _findable(module):
            raise ConfigError(
                f"{where}: [supervisor] preload: no module named {module!r} on this Python's path"
            )
    privileges.check(config)


def _check_retry_on(where: str, names: Sequence[str], sources: dict[str, str | None]) -> None:
    """ConfigError for the first name of `retry_on` that is neither a built-in exception nor
    named in the source of a configured handler module.

    A runner reports the class name of what its handler raised and of its bases; a class of
    the handler's own, or of a library it uses, is named in its module (defined, imported,
    raised or caught), so a name found nowhere is a typo or a guess. A module whose source
    cannot be read (compiled) is given the benefit of the doubt.
    """
    for name in names:
        if _builtin_exception(name) or any(
            source is None or re.search(rf"\b{re.escape(name)}\b", source)
            for source in sources.values()
        ):
            continue
        close = difflib.get_close_matches(name, BUILTIN_EXCEPTIONS, n=1, cutoff=0.85)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        modules = ", ".join(sorted(sources))
        raise ConfigError(
            f"{where}: {name!r} is neither a built-in exception nor named in any handler "
            f"module ({modules}){hint}: "
            "give the class name the handler raises (a base class matches its subclasses)"
        )


BUILTIN_EXCEPTIONS = sorted(
    n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
)


def _builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def _source(module: str) -> str | None:
    """The Python source of `module` (its package's __init__), None when there is none to
    read (compiled, a namespace package) or it cannot be read."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    origin = spec.origin if spec else None
    if not origin or not origin.endswith(".py"):
        return None
    try:
        return Path(origin).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _defined(source: str) -> set[str] | None:
    """The names a module's source binds at its top level (also inside top-level if, try and
    with blocks); None when that cannot be told without running it (`import *`, a module
    `__getattr__`, a syntax error)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    names: set[str] = set()
    statements = list(tree.body)
    while statements:
        node = statements.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for field in ("body", "orelse", "finalbody", "handlers"):
                statements += getattr(node, field, [])
        elif isinstance(node, ast.ExceptHandler):
            statements += node.body
    return None if "__getattr__" in names else names


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
