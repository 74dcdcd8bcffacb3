"""The package's shape: stages whose imports point one way, no import cycle, small modules and functions.

Every module under orchestrator/ is read with ``ast`` (nothing is imported or run): each Import
and ImportFrom node counts, those inside functions too. A module belongs to the stage its path
names; it may import its own stage and the stages before it (docs/architecture.md draws them).
No database is needed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "orchestrator"

#: The stages in import order: a module may import only its own stage and those before it.
STAGES = ("foundation", "connect", "catalog", "plan", "render", "verify", "apply", "rehearse", "report", "cli", "tools")
#: Modules that sit outside a stage folder, and the stage they belong to.
LOOSE = {
    "orchestrator": "foundation",
    "orchestrator.errors": "foundation",
    "orchestrator.names": "foundation",
    "orchestrator.resources": "foundation",
    "orchestrator.__main__": "cli",
}

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

#: Known exceptions, each with its size today: a new offender fails, and so does one that grows.
KNOWN_LONG_MODULES: dict[str, int] = {}
KNOWN_LONG_FUNCTIONS: dict[str, int] = {}
#: Import cycles left on purpose, as sorted module tuples.
KNOWN_CYCLES: set[tuple[str, ...]] = set()


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _stage(module: str) -> str:
    if module in LOOSE:
        return LOOSE[module]
    return module.split(".")[1]


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if MODULES[module].name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> set[str]:
    """The orchestrator modules ``module`` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            names = [f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name.startswith("orchestrator") and name != module:
                found.add(name)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def test_every_module_has_a_stage():
    unknown = sorted(m for m in MODULES if _stage(m) not in STAGES)
    assert not unknown, f"modules outside every stage: {unknown}"


def test_imports_point_to_the_same_or_an_earlier_stage():
    rank = {stage: i for i, stage in enumerate(STAGES)}
    backwards = sorted(
        f"{module} ({_stage(module)}) imports {target} ({_stage(target)})"
        for module, targets in GRAPH.items()
        for target in targets
        if target != "orchestrator" and rank[_stage(target)] > rank[_stage(module)]
    )
    assert not backwards, "imports that run back up the stages:\n" + "\n".join(backwards)


def _cycles() -> set[tuple[str, ...]]:
    """Strongly connected components of more than one module (Tarjan), each as a sorted tuple."""
    index, low, stack, on_stack, found = {}, {}, [], set(), set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(tuple(sorted(component)))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    assert _cycles() <= KNOWN_CYCLES, f"import cycles: {sorted(_cycles() - KNOWN_CYCLES)}"


def test_known_cycles_are_still_there():
    """A known cycle that is gone leaves this list: the list only shrinks."""
    assert KNOWN_CYCLES <= _cycles(), f"no longer cycles, remove them: {sorted(KNOWN_CYCLES - _cycles())}"


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_no_module_over_the_limit():
    over = {m: _lines(p) for m, p in MODULES.items() if _lines(p) > MAX_MODULE_LINES}
    new = {m: n for m, n in over.items() if n > KNOWN_LONG_MODULES.get(m, MAX_MODULE_LINES)}
    assert not new, f"modules over {MAX_MODULE_LINES} lines (or grown past their known size): {new}"


def _functions() -> dict[str, int]:
    sizes = {}
    for module, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                sizes.setdefault(f"{module}.{node.name}", node.end_lineno - start + 1)
    return sizes


def test_no_function_over_the_limit():
    over = {f: n for f, n in _functions().items() if n > MAX_FUNCTION_LINES}
    new = {f: n for f, n in over.items() if n > KNOWN_LONG_FUNCTIONS.get(f, MAX_FUNCTION_LINES)}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (or grown past their known size): {new}"


@pytest.mark.parametrize("table", ["modules", "functions"])
def test_known_exceptions_are_still_exceptions(table):
    """An exception that was split below the limit leaves its list."""
    if table == "modules":
        sizes = {m: _lines(p) for m, p in MODULES.items()}
        known, limit = KNOWN_LONG_MODULES, MAX_MODULE_LINES
    else:
        sizes, known, limit = _functions(), KNOWN_LONG_FUNCTIONS, MAX_FUNCTION_LINES
    stale = sorted(name for name in known if sizes.get(name, 0) <= limit)
    assert not stale, f"no longer over the limit, remove them from the known exceptions: {stale}"


#: What plan/ may take from psycopg: composing SQL text, never running it.
PLAN_PSYCOPG_NAMES = {"sql"}
#: Modules that read the live database; plan/ decides on the dataclasses they return.
READERS = {
    "orchestrator.connect",
    "orchestrator.catalog.read",
    "orchestrator.catalog.survey",
    "orchestrator.catalog.gather",
}
READER_NAMES = {"Catalog", "snapshot"}
#: Methods of a connection or cursor: a call of any of them runs or fetches a query.
QUERY_METHODS = {"execute", "executemany", "cursor", "fetchone", "fetchall", "fetchmany", "transaction", "connect"}


def _plan_module_faults(module: str) -> list[str]:
    faults = []
    for node in ast.walk(TREES[module]):
        if isinstance(node, ast.Import):
            faults += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "psycopg"]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            names = {a.name for a in node.names}
            if source.split(".")[0] == "psycopg" and (source != "psycopg" or names - PLAN_PSYCOPG_NAMES):
                faults.append(f"from {source} import {', '.join(sorted(names))}")
            if any(source == r or source.startswith(r + ".") for r in READERS) or (
                source == "orchestrator.catalog" and names & READER_NAMES
            ):
                faults.append(f"from {source} import {', '.join(sorted(names))}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in QUERY_METHODS:
            faults.append(f"line {node.lineno}: .{node.func.attr}(...)")
    return faults


def test_plan_is_pure():
    """plan/ decides on the snapshot and its facts and never reads the database: its modules import
    from psycopg only ``sql`` (to compose names), import no reader of the catalog (connect/,
    catalog.read, catalog.survey, catalog.gather, nor the names Catalog and snapshot), and call
    no method that runs or fetches a query (.execute, .cursor, .fetchone, ... by name, on anything)."""
    faults = {m: f for m in MODULES if _stage(m) == "plan" and (f := _plan_module_faults(m))}
    assert not faults, f"plan/ modules that could read the database: {faults}"
