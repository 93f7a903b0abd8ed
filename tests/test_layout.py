"""The architecture as a test: supervisor/'s rooms import each other one way, `runner/` never
imports `supervisor/`, no module imports itself back through others (imports inside functions
count: a lazy import is still a cycle), and the maps in README and the package docstring name
every module of every room."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runner", "supervisor")
# supervisor/'s rooms, bottom first: each may import those before it, never one after it.
ROOMS = ("db", "scheduling", "config", "runners", "store", "ops", "web", "loop", "cli")
# Below the loop, what runs it: none of these may import the loop or an operator's surface.
LOW = ("runners", "store", "db", "scheduling", "config")
HIGH = ("loop", "ops", "client", "cli", "web")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports, outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}  # fmt: skip
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names} | {node.module}
    return {name for name in found if name in modules}


def graph() -> dict[str, set[str]]:
    files = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    modules = set(files)
    edges = {name: _imports(path, modules) - {name} for name, path in files.items()}
    # A package's __init__ is imported with each of its modules: not an edge worth a cycle.
    return {name: {d for d in deps if not name.startswith(d + ".")} for name, deps in edges.items()}


def room(module: str) -> str | None:
    """`supervisor.runners.pool` → "runners"; a leaf (`supervisor.errors`) → None."""
    parts = module.split(".")
    if parts[0] != "supervisor" or len(parts) < 2:
        return None
    return parts[1] if (ROOT / "supervisor" / parts[1]).is_dir() else None


def crossings(edges: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importing room, imported room) for every import from one room into another."""
    return {(room(m), room(d)) for m, deps in edges.items() for d in deps  # type: ignore[misc]
            if room(m) and room(d) and room(m) != room(d)}  # fmt: skip


def wrong(edges: dict[str, set[str]], rooms: tuple[str, ...], banned: tuple[str, ...]) -> list[str]:
    return sorted(f"{m} imports {d}" for m, deps in edges.items() for d in deps
                  if room(m) in rooms and room(d) in banned)  # fmt: skip


def test_runner_imports_nothing_of_the_supervisor() -> None:
    wrong = {m: sorted(d for d in deps if d.startswith("supervisor"))
             for m, deps in graph().items() if m.startswith("runner")}  # fmt: skip
    assert {m: d for m, d in wrong.items() if d} == {}


def test_the_rooms_below_the_loop_import_no_loop_ops_client_cli_or_web() -> None:
    assert wrong(graph(), LOW, HIGH) == []


def test_store_never_imports_the_loop() -> None:
    assert wrong(graph(), ("store",), ("loop",)) == []


def test_web_never_imports_the_cli() -> None:
    assert wrong(graph(), ("web",), ("cli",)) == []


def test_the_rooms_import_each_other_one_way() -> None:
    upward = sorted(f"{a} → {b}" for a, b in crossings(graph())
                    if a in ROOMS and b in ROOMS and ROOMS.index(b) > ROOMS.index(a))  # fmt: skip
    assert upward == []


def test_client_rests_on_db_and_the_shared_leaves() -> None:
    """What an application imports (and a handler module inside the fork server): all it
    pulls in, transitively, is db/, client/ and leaves that themselves import no room."""
    edges = graph()
    seen, todo = set(), [m for m in edges if room(m) == "client"]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(edges[name])
    outside = sorted(m for m in seen if m.startswith("supervisor.")
                     and room(m) not in ("client", "db") and m != "supervisor")  # fmt: skip
    leaves_with_rooms = sorted(m for m in outside if room(m) is not None or edges[m] - seen)
    assert [m for m in outside if room(m) is not None] == []
    assert leaves_with_rooms == []


def closure(edges: dict[str, set[str]], start: list[str]) -> dict[str, str]:
    """Every module `start` pulls in, transitively: each with the module that imports it."""
    via: dict[str, str] = {}
    todo = list(start)
    while todo:
        name = todo.pop()
        for dep in edges[name]:
            if dep not in via and dep not in start:
                via[dep] = name
                todo.append(dep)
    return via


def test_the_loop_pulls_in_no_operator_code() -> None:
    """The supervisor's loop, transitively, imports nothing of ops/, cli/ or web/: what the
    operator's tools and the loop share lives below both (health, listen, store)."""
    edges = graph()
    via = closure(edges, [m for m in edges if room(m) == "loop"])
    chains = []
    for name in sorted(m for m in via if room(m) in ("ops", "cli", "web")):
        chain = [name]
        while chain[-1] in via:
            chain.append(via[chain[-1]])
        chains.append(" ← ".join(chain))
    assert chains == []


def test_no_import_cycles() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def tree() -> dict[str, set[str]]:
    """Each room of supervisor/ ("" for the leaves) and the modules it holds."""
    top = ROOT / "supervisor"
    rooms = {"": {p.stem for p in top.glob("*.py") if p.stem not in ("__init__", "__main__")}}
    for folder in sorted(p for p in top.iterdir() if (p / "__init__.py").exists()):
        rooms[folder.name] = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    return rooms


def _listed(text: str, marker: str) -> set[str]:
    """The words of the map's entry that starts with `marker`, up to its colon (the entry
    may go on over the next lines)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        entry = line.strip().removeprefix("- ")
        if entry.startswith(marker):
            words = entry[len(marker) :]
            for more in lines[i + 1 :]:
                if ":" in words:
                    break
                words += " " + more
            return set(re.findall(r"[a-z_]+", words.split(":", 1)[0]))
    return set()


MAPS = {
    "README.md": lambda: (ROOT / "README.md").read_text(),
    "supervisor/__init__.py": lambda: (
        ast.get_docstring(ast.parse((ROOT / "supervisor" / "__init__.py").read_text())) or ""
    ),
}


@pytest.mark.parametrize("where", sorted(MAPS))
def test_the_map_names_every_module_of_every_room(where: str) -> None:
    text = MAPS[where]()
    missing: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    for name, modules in tree().items():
        listed = _listed(text, f"{name}/" if name else "(leaves)")
        if name in ("cli", "web"):  # operator surfaces: named as rooms, not module by module
            assert f"{name}/" in text
            continue
        missing |= {name or "leaves": sorted(modules - listed)} if modules - listed else {}
        unknown |= {name or "leaves": sorted(listed - modules)} if listed - modules else {}
    assert missing == {}
    assert unknown == {}


def test_tests_share_helpers_through_fixtures_modules_never_through_other_tests() -> None:
    """A test module imports no other test module and no conftest: what tests share lives in
    tests/fixtures/ (or a helper module beside them), so a test file can move or go alone."""
    found = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                last = name.split(".")[-1]
                if name.startswith("tests.") and (last == "conftest" or last.startswith("test_")):
                    found.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not found, found
