"""The import graph of src/deltaprop: no circles, and no import that goes up the layers.

Every ``import`` and ``from ... import`` in every module is read with ``ast`` (at module level,
inside functions, classes and ``try`` blocks alike: an import hidden in a function is still a
dependency), resolved to the module it names, and turned into a graph whose nodes are modules
(a package's ``__init__`` is the node named after the package). ``from pkg import name`` is an
edge to ``pkg.name`` when that is a module, else to ``pkg``. Importing ``pkg.mod`` is not counted
as importing ``pkg`` (Python runs pkg/__init__ first, but that is the package re-exporting its
own modules, not a dependency). An import under ``if TYPE_CHECKING:`` never runs: it cannot
close a circle, but it still counts against the layers.

The layers are those of ../shared/DESIGN.md, lowest first. A module may import its own layer
and the layers below it. ``SHARED`` areas serve every layer: the layer rule does not apply to
their own imports, but a shared module is only as low as what it imports, so importing one that
reaches a higher layer counts as going up (``io`` reads model files into ``nn`` modules: ``train``
may use it, ``ops`` may not).

nn and optim share a level but neither imports the other: a layer holds parameters and knows no
update rule; an optimizer sees only Parameters (Tensors), never the Module tree.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "deltaprop"

LAYERS = {
    "backend": 0,
    "strict_backend": 0,  # the strict host backend (CuPy's rules on NumPy) behind backend.py
    "autograd": 1,
    "ops": 2,
    "nn": 3,
    "optim": 3,
    "train": 4,
    "compile": 4,  # beside train: the Trainer trains through a compiled step
    # MPI ranks, sharding and the gradient bucket: the Trainer's distributed=True uses them, so
    # they sit beside train (knowing none of it), not above recipe as DESIGN.md first drew
    "parallel": 4,
    "diagnostics": 5,
    "viz": 5,
    "callbacks": 5,  # the public face: train's callbacks and diagnostics' GradientMonitor
    "recipe": 6,
    **dict.fromkeys(("tune", "semi", "distill", "gan", "sklearn", "onnx"), 7),
    "cli": 8,
}
SHARED = {"data", "io", "errors", "names", "checks", "config", "report", "__init__", "__main__"}
APART = {("nn", "optim"), ("optim", "nn")}  # same level, but no imports between them


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under src/deltaprop."""
    modules = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _import_nodes(tree: ast.AST):
    """(Import or ImportFrom node, whether it sits under ``if TYPE_CHECKING:``), everywhere."""
    stack = [(tree, False)]
    while stack:
        node, typing_only = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, typing_only
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend((child, True) for child in node.body)
            stack.extend((child, typing_only) for child in node.orelse)
        else:
            stack.extend((child, typing_only) for child in ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(
    name: str, path: Path, modules: dict[str, Path]
) -> tuple[dict[str, int], dict[str, int]]:
    """The deltaprop modules that ``name`` imports, each with the line of its first import:
    (run-time imports, imports only under ``if TYPE_CHECKING:``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    runtime: dict[str, int] = {}
    typing: dict[str, int] = {}

    def add(target: str, line: int, typing_only: bool) -> None:
        while target and target not in modules:  # `import a.b.c` names module a.b.c ... or a.b
            target = target.rpartition(".")[0]
        if target and target != name:
            found = typing if typing_only else runtime
            found[target] = min(line, found.get(target, line))

    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node, typing_only in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    add(alias.name, node.lineno, typing_only)
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            base = ".".join(base + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        if base != ROOT and not base.startswith(ROOT + "."):
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            add(sub if sub in modules else base, node.lineno, typing_only)
    for target in runtime:
        typing.pop(target, None)
    return runtime, typing


def build_graphs() -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """(run-time imports, all imports): module -> {imported module: line}. Circles are judged
    on the first (an import for annotations only never runs), layers on the second (it is
    knowledge of the higher layer all the same)."""
    modules = module_files()
    runtime, everything = {}, {}
    for name, path in modules.items():
        run, typing = imports_of(name, path, modules)
        runtime[name] = run
        everything[name] = {**typing, **run}
    return runtime, everything


def area(module: str) -> str:
    """The first name under deltaprop (``deltaprop`` itself is ``__init__``; cli_*.py are cli)."""
    parts = module.split(".")
    if len(parts) == 1:
        return "__init__"
    head = parts[1]
    return "cli" if head.startswith("cli_") else head


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One shortest circle through each knot (strongly connected group) of modules."""
    return [_shortest_circle(graph, group) for group in knots(graph)]


def knots(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """The groups of modules that import each other, directly or not (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(set(group))
    return groups


def _shortest_circle(graph: dict[str, dict[str, int]], group: set[str]) -> list[str]:
    """The shortest circle inside ``group`` through its first module (breadth-first)."""
    start = min(group)
    previous = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(graph[node]):
                if child == start:
                    path = [node]
                    while previous[path[-1]] is not None:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child in group and child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no circle in {group}")  # pragma: no cover - Tarjan found one


def shared_reach(graph: dict[str, dict[str, int]]) -> dict[str, tuple[int, list[str]]]:
    """For each shared module: the highest layer it reaches through shared modules, and the
    chain of imports that reaches it (-1 and [] when it imports no layered module)."""
    reach: dict[str, tuple[int, list[str]]] = {}

    def visit(module: str, seen: frozenset) -> tuple[int, list[str]]:
        if module in reach:
            return reach[module]
        best: tuple[int, list[str]] = (-1, [])
        for target in sorted(graph[module]):
            kind = area(target)
            if kind in LAYERS:
                if LAYERS[kind] > best[0]:
                    best = (LAYERS[kind], [target])
            elif kind in SHARED and target not in seen:
                level, chain = visit(target, seen | {target})
                if level > best[0]:
                    best = (level, [target, *chain])
        if not seen - {module}:  # memoize only complete (top-level) answers
            reach[module] = best
        return best

    for module in graph:
        if area(module) in SHARED:
            visit(module, frozenset({module}))
    return reach


def layer_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    problems = []
    unknown = sorted({area(m) for m in graph} - set(LAYERS) - SHARED)
    if unknown:
        problems.append(
            f"areas in no layer: {unknown}; add them to LAYERS or SHARED here and in DESIGN.md"
        )
    reach = shared_reach(graph)
    for module in sorted(graph):
        here = area(module)
        for target, line in sorted(graph[module].items()):
            there = area(target)
            where = f"{module} (line {line}) imports {target}"
            if there == "cli" and here != "cli" and module != f"{ROOT}.__main__":
                problems.append(f"{where}: nothing but __main__ imports the cli")
            elif here not in LAYERS:
                continue  # shared: only the circle rule (and, through reach, its users)
            elif there in LAYERS:
                if LAYERS[there] > LAYERS[here]:
                    problems.append(f"{where}: {here} is below {there}")
                elif (here, there) in APART:
                    problems.append(f"{where}: {here} and {there} do not import each other")
            elif there in SHARED:
                level, chain = reach.get(target, (-1, []))
                if level > LAYERS[here]:
                    via = " -> ".join([target, *chain])
                    problems.append(f"{where}, which reaches a higher layer: {via}")
    return problems


@functools.cache
def graphs() -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    # Not a fixture: pytest would print both graphs in full beside every failure.
    return build_graphs()


def test_the_graph_sees_every_module_and_import():
    graph = graphs()[0]
    # Known facts of the tree: if these fail, the parser has gone blind, not the code clean.
    assert f"{ROOT}.autograd.tensor" in graph and f"{ROOT}.ops" in graph
    assert f"{ROOT}.autograd.tensor" in graph[f"{ROOT}.ops.elementwise"]
    assert f"{ROOT}.errors" in graph[f"{ROOT}.backend"]
    assert f"{ROOT}.ops.elementwise" in graph[f"{ROOT}.ops"]  # a package re-exporting its own


def _short(module: str) -> str:
    return module.removeprefix(ROOT + ".")


def test_no_import_circles():
    graph = graphs()[0]
    lines = []
    for group in knots(graph):
        circle = _shortest_circle(graph, group)
        line = " -> ".join(map(_short, circle))
        others = sorted(group - set(circle))
        if others:
            line += f"   (the same knot also holds {', '.join(map(_short, others))})"
        lines.append(line)
    if lines:
        pytest.fail("import circles between modules of src/deltaprop:\n  " + "\n  ".join(lines))


def test_no_import_goes_up_the_layers():
    problems = layer_violations(graphs()[1])
    if problems:
        pytest.fail("imports against the layers of DESIGN.md:\n  " + "\n  ".join(problems))


# --- the checker itself, on small made-up graphs ------------------------------------------------


def test_cycles_finds_each_circle_once_and_shortest():
    g = {
        "deltaprop.a": {"deltaprop.b": 1},
        "deltaprop.b": {"deltaprop.c": 1, "deltaprop.a": 2},
        "deltaprop.c": {"deltaprop.a": 1},
        "deltaprop.d": {"deltaprop.a": 1},
        "deltaprop.e": {"deltaprop.f": 1},
        "deltaprop.f": {"deltaprop.e": 1},
    }
    assert sorted(cycles(g)) == [
        ["deltaprop.a", "deltaprop.b", "deltaprop.a"],
        ["deltaprop.e", "deltaprop.f", "deltaprop.e"],
    ]
    assert cycles({"deltaprop.a": {"deltaprop.b": 1}, "deltaprop.b": {}}) == []


def test_layer_rules_on_a_made_up_graph():
    g = {
        "deltaprop.ops.x": {"deltaprop.nn.y": 3, "deltaprop.io": 4, "deltaprop.errors": 5},
        "deltaprop.nn.y": {"deltaprop.optim.z": 7},
        "deltaprop.optim.z": {},
        "deltaprop.io": {"deltaprop.nn.y": 1},
        "deltaprop.errors": {},
        "deltaprop.train.t": {"deltaprop.io": 1, "deltaprop.cli.run": 2},
        "deltaprop.cli.run": {"deltaprop.train.t": 1},
        "deltaprop.__main__": {"deltaprop.cli.run": 1},
    }
    problems = layer_violations(g)
    assert len(problems) == 4, problems
    assert "deltaprop.ops.x (line 3) imports deltaprop.nn.y: ops is below nn" in problems
    assert any("ops.x (line 4) imports deltaprop.io, which reaches" in p for p in problems)
    assert any("nn and optim do not import each other" in p for p in problems)
    assert any("train.t (line 2) imports deltaprop.cli.run: nothing but" in p for p in problems)


def test_relative_imports_resolve_to_modules(tmp_path):
    pkg = tmp_path / ROOT
    (pkg / "ops").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "errors.py").write_text(
        "import typing\nif typing.TYPE_CHECKING:\n    from .ops.a import g\nelse:\n    g = None\n"
    )
    (pkg / "ops" / "__init__.py").write_text("from .a import f\nfrom . import b\n")
    (pkg / "ops" / "a.py").write_text(
        "from .. import errors\nfrom ..ops import b\n\ndef g():\n    import deltaprop.ops.b.c\n"
    )
    (pkg / "ops" / "b.py").write_text("from deltaprop import ops\n")
    modules = {
        "deltaprop": pkg / "__init__.py",
        "deltaprop.errors": pkg / "errors.py",
        "deltaprop.ops": pkg / "ops" / "__init__.py",
        "deltaprop.ops.a": pkg / "ops" / "a.py",
        "deltaprop.ops.b": pkg / "ops" / "b.py",
    }
    found = {name: imports_of(name, path, modules) for name, path in modules.items()}
    got = {name: set(runtime) for name, (runtime, _) in found.items()}
    assert got["deltaprop.ops"] == {"deltaprop.ops.a", "deltaprop.ops.b"}
    assert got["deltaprop.ops.a"] == {"deltaprop.errors", "deltaprop.ops.b"}
    assert got["deltaprop.ops.b"] == {"deltaprop.ops"}
    # Under `if TYPE_CHECKING:` an import never runs: no circle errors -> ops.a -> errors.
    assert got["deltaprop.errors"] == set()
    assert found["deltaprop.errors"][1] == {"deltaprop.ops.a": 3}
    assert cycles({k: dict.fromkeys(v, 1) for k, v in got.items()}) == [
        ["deltaprop.ops", "deltaprop.ops.b", "deltaprop.ops"]
    ]
