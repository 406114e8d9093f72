"""The package's folders are its layers, and imports only go down: drawn from the code's own import
statements, those inside functions included (a lazy import is still a dependency)."""
from __future__ import annotations

import ast
import pathlib

import videostyle

ROOT = pathlib.Path(videostyle.__file__).parent

# Lowest first. A module may import its own layer and those below, never one above.
LAYERS = ["errors", "config", "io", "flow", "method", "run", "cluster", "commands", "cli"]
TOP = {"videostyle", "videostyle.__main__", "videostyle.cli"}  # the API and the command line: above all


def modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(("videostyle",) + parts)] = path
    return out


def layer(module: str) -> int:
    if module in TOP or module.startswith("videostyle.cli."):  # the command line's package is all top floor
        return len(LAYERS)
    return LAYERS.index(module.split(".")[1])


def imports(module: str, path: pathlib.Path, known: set[str]) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import of the package in ``path``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("videostyle"):
                continue
            names = [a.name for a in node.names]
            submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
            for sub in submodules:
                out.append((sub, [], node.lineno))
            rest = [n for n in names if f"{target}.{n}" not in known]
            if rest or not submodules:
                out.append((target, rest, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names if a.name.startswith("videostyle")]
    return out


def graph() -> dict[str, list[tuple[str, list[str], int]]]:
    mods = modules()
    return {m: imports(m, p, set(mods)) for m, p in mods.items()}


def test_every_module_lives_in_a_layer_folder():
    flat = [m for m, path in modules().items() if m.count(".") == 1 and path.name != "__init__.py"
            and m not in TOP | {"videostyle.errors", "videostyle.config"}]
    assert not flat, f"modules outside the layer folders: {flat}"
    for m in modules():
        layer(m)  # ValueError for a folder that is no layer


def test_imports_only_go_down():
    upward = [f"{m} ({modules()[m].relative_to(ROOT.parent)}:{line}) imports {target}"
              for m, edges in graph().items() for target, _, line in edges
              if target in modules() and layer(target) > layer(m)]
    assert not upward, "imports that run up a layer:\n" + "\n".join(upward)


def test_no_private_name_is_imported_across_modules():
    private = [f"{m}:{line} takes {n} from {target}" for m, edges in graph().items()
               for target, names, line in edges for n in names
               if n.startswith("_") and not n.startswith("__") and target != m]
    assert not private, "\n".join(private)


def test_the_import_graph_has_no_circles():
    edges = {m: {t for t, _, _ in e if t in modules() and t != m} for m, e in graph().items()}
    # A package's __init__ is imported before its modules; an edge to a module through its package's
    # __init__ is the package's own business, so only module-to-module edges count.
    cycles, state, stack = [], {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == "open":
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = "done"

    for m in sorted(edges):
        if m not in state:
            visit(m)
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_see_an_import_inside_a_function(tmp_path):
    """The graph counts a lazy import: the circle pipeline → cluster → pipeline once hid in one."""
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from ..cluster import shot\n    from ..io.media import _private\n")
    found = imports("videostyle.run.probe", path, set(modules()))
    assert ("videostyle.cluster.shot", [], 2) in found
    assert ("videostyle.io.media", ["_private"], 3) in found
