"""Named SQL statements, kept in `sql/*.sql` where a DBA can read them whole."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
_INCLUDE = re.compile(r"^-- include: (\w+)\s*$", re.MULTILINE)
_PARAM = re.compile(r"%\((\w+)\)s(::[\w\[\]]+)?")  # a parameter, and its cast
_COMMENT = re.compile(r"--[^\n]*")  # our statements have no '--' inside a string


def load(filename: str) -> dict[str, str]:
    """The statements of `sql/<filename>`, each introduced by a `-- name: <name>` line; a
    line `-- include: <name>` in one is replaced by that named part (a CTE several share),
    itself with its own includes replaced (a part may include another)."""
    text = (resources.files("supervisor") / "sql" / filename).read_text()
    parts = _NAME.split(text)  # [preamble, name1, body1, name2, body2, ...]
    named = {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}

    def expand(body: str, depth: int = 0) -> str:
        if depth > 5:  # a bug: parts including each other
            raise ValueError(f"sql/{filename}: includes nested too deep")
        return _INCLUDE.sub(lambda m: expand(named[m.group(1)], depth + 1), body)

    return {name: expand(body) for name, body in named.items()}


@dataclass(frozen=True)
class Prepared:
    """A named statement as a server-side prepared statement: `prepare` once on a
    connection, then `execute` with the same named parameters as the plain statement."""

    name: str  # on the server
    prepare: str
    execute: str


def prepared(name: str, text: str) -> Prepared:
    """`text` (pyformat: %(name)s, %%) as PREPARE … AS … ($1, $2, … in the order the
    parameters first appear outside comments; the server infers their types) and its EXECUTE.

    The server-side name carries a digest of the statement: behind a pooler that shares
    server sessions, a supervisor of another version never runs a statement of the same
    name but other text.
    """
    order: list[str] = []
    casts: dict[str, str] = {}

    def positional(match: re.Match[str]) -> str:
        param, cast = match.group(1), match.group(2) or ""
        if param not in order:
            order.append(param)
        if cast:
            casts.setdefault(param, cast)
        return f"${order.index(param) + 1}{cast}"

    body = _PARAM.sub(positional, _COMMENT.sub("", text)).replace("%%", "%")
    server_name = f"jobsup_{name}_{hashlib.sha1(body.encode()).hexdigest()[:10]}"  # nosec B324
    # The argument keeps the statement's cast: EXECUTE coerces only implicitly (text[] to
    # uuid[] it would refuse).
    arguments = ", ".join(f"%({param})s{casts.get(param, '')}" for param in order)
    return Prepared(server_name, f"PREPARE {server_name} AS {body}",
                    f"EXECUTE {server_name}({arguments})")  # fmt: skip


SQL = load("queries.sql")
