"""The import rules of ARCHITECTURE.md, checked on the source (no module is imported).

Every module of src/xstilts belongs to a layer; a module imports only from its own layer or lower
ones, with imports inside functions counted as well. Modules import no cycle (Tarjan's strongly
connected components over module-level and function-level imports together). An import inside a
function is allowed only where it saves start-up time: the module it imports loads a heavy
library (torch, transformers, ...), or the importer is a command (the CLI imports every command
module to build its parser; each command loads its work only when it runs). Anything else is
imported at the top. Plug-ins are imported by name (`xstilts.registry.load_plugins`), not here.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "xstilts"

# Lowest first. A layer's modules are named by their first component under xstilts
# ("" is the package itself, which holds only the version).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("", "errors", "registry", "io", "progress", "languages", "hub", "config", "version")),
    ("tasks", ("tasks",)),
    ("data", ("data",)),
    ("kinds", ("kinds",)),
    ("models", ("models",)),
    ("evaluation", ("evaluation",)),
    ("training", ("training",)),  # above evaluation: training evaluates on its dev sets
    ("synthetic", ("synthetic",)),  # a plug-in: it registers into the layers below, none imports it
    ("experiments", ("experiments",)),
    ("selection", ("selection",)),  # above experiments: it validates rankings against a results store
    ("analysis", ("analysis",)),
    ("interface", ("commands", "cli", "__main__")),
]
RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}

# Libraries whose import takes a noticeable part of a second; importing them is what an import
# inside a function may put off.
HEAVY = frozenset({"torch", "transformers", "datasets", "accelerate", "pandas", "numpy", "scipy", "sklearn", "matplotlib"})

# Violations that other branches of issue #21 remove; each must still occur (the test says when
# one no longer does) and the list is emptied when they are merged.
PENDING_ARROWS: set[tuple[str, str]] = set()
PENDING_CYCLES: set[frozenset[str]] = set()
PENDING_LAZY: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # an xstilts module, or the top-level name of another library
    path: Path
    line: int
    in_function: bool
    type_checking: bool  # under `if TYPE_CHECKING:` (never runs)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(SRC.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {module_name(p) for p in PACKAGE.rglob("*.py") if p.name == "__init__.py"} | {
    module_name(p / "__init__.py") for p in PACKAGE.rglob("*") if p.is_dir() and any(p.glob("*.py"))
}


def existing_module(name: str) -> str:
    """`name`, or the nearest enclosing module of it (an imported attribute's module)."""
    while name not in MODULES and name not in PACKAGES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def layer_of(module: str) -> int:
    parts = module.split(".")
    return RANK[parts[1] if len(parts) > 1 else ""]


def layer_name(module: str) -> str:
    return LAYERS[layer_of(module)][0]


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield existing_module(alias.name) if alias.name.startswith("xstilts") else alias.name.split(".")[0]
        return
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    if not source.startswith("xstilts"):
        yield source.split(".")[0]
        return
    for alias in node.names:
        yield existing_module(f"{source}.{alias.name}")


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(module: str, path: Path) -> list[Import]:
    found: list[Import] = []

    def walk(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _targets(child, module, path.name == "__init__.py"):
                    if target and target != module:
                        found.append(Import(module, target, path, child.lineno, in_function, type_checking))
            walk(
                child,
                in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda),
                type_checking or _is_type_checking(child),
            )

    walk(ast.parse(path.read_text(encoding="utf-8")), False, False)
    return found


IMPORTS = [imp for module, path in MODULES.items() for imp in imports_of(module, path)]
INTERNAL = [imp for imp in IMPORTS if imp.target.startswith("xstilts")]


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if (m.split(".") + [""])[1] not in RANK)
    assert not unplaced, f"modules in no layer (add their package to LAYERS in {Path(__file__).name}): {unplaced}"


def test_imports_go_down_the_layers() -> None:
    upward = [imp for imp in INTERNAL if layer_of(imp.target) > layer_of(imp.module)]
    problems = [
        f"{imp.where}: {imp.module} -> {imp.target} ({layer_name(imp.module)} imports {layer_name(imp.target)}, a higher layer)"
        for imp in upward
        if (imp.module, imp.target) not in PENDING_ARROWS
    ]
    stale = PENDING_ARROWS - {(imp.module, imp.target) for imp in upward}
    assert not problems, "imports up the layers:\n" + "\n".join(problems)
    assert not stale, f"no longer imported: remove from PENDING_ARROWS: {sorted(stale)}"


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm; the components of more than one module (a module never imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return components


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for imp in INTERNAL:
        graph[imp.module].add(imp.target)
        graph[imp.target]
    cycles = [c for c in strongly_connected(graph) if frozenset(c) not in PENDING_CYCLES]
    problems = []
    for component in cycles:
        arrows = [f"  {imp.where}: {imp.module} -> {imp.target}" for imp in INTERNAL if imp.module in component and imp.target in component]
        problems.append(f"cycle between {sorted(component)}:\n" + "\n".join(arrows))
    stale = PENDING_CYCLES - {frozenset(c) for c in strongly_connected(graph)}
    assert not problems, "import cycles:\n" + "\n".join(problems)
    assert not stale, f"no longer a cycle: remove from PENDING_CYCLES: {[sorted(c) for c in stale]}"


def heavy_modules() -> set[str]:
    """xstilts modules whose import loads a HEAVY library (directly, through the modules they
    import at the top, or through their enclosing packages)."""
    loads: dict[str, set[str]] = defaultdict(set)
    for imp in IMPORTS:
        if not (imp.in_function or imp.type_checking):
            loads[imp.module].add(imp.target)
    for module in MODULES:
        parts = module.split(".")
        loads[module].update(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in MODULES)
    heavy = {m for m in MODULES if loads[m] & HEAVY}
    grew = True
    while grew:
        grew = False
        for module in MODULES:
            if module not in heavy and loads[module] & heavy:
                heavy.add(module)
                grew = True
    return heavy


def test_imports_inside_functions_put_off_a_heavy_library() -> None:
    heavy = heavy_modules()
    light = [imp for imp in INTERNAL if imp.in_function and imp.target not in heavy and layer_name(imp.module) != "interface"]
    problems = sorted({
        f"{imp.where}: {imp.module} imports {imp.target} inside a function, but it loads no heavy library: import it at the top"
        for imp in light
        if (imp.module, imp.target) not in PENDING_LAZY
    })
    stale = PENDING_LAZY - {(imp.module, imp.target) for imp in light}
    assert not problems, "needless imports inside functions:\n" + "\n".join(problems)
    assert not stale, f"no longer imported inside a function: remove from PENDING_LAZY: {sorted(stale)}"


# Standard-library modules slow enough to put off (importlib.metadata: ~70 ms).
SLOW_STDLIB = frozenset({"importlib"})


def _says_why(imp: Import) -> bool:
    lines = imp.path.read_text(encoding="utf-8").splitlines()
    here, above = lines[imp.line - 1], lines[imp.line - 2] if imp.line > 1 else ""
    comment = here.partition("#")[2] if "#" in here else above.strip().removeprefix("#") if above.strip().startswith("#") else ""
    return bool(comment.strip()) and not comment.strip().startswith(("noqa", "type:"))


def test_imports_inside_functions_say_why() -> None:
    """An import put off into a function says why in a comment on its line or the one above, and
    never puts off the standard library, which costs nothing to import at the top."""
    inside = [imp for imp in IMPORTS if imp.in_function and not imp.type_checking and layer_name(imp.module) != "interface"]
    unexplained = sorted({f"{imp.where}: {imp.target}" for imp in inside if not _says_why(imp)})
    stdlib = sorted({f"{imp.where}: {imp.target}" for imp in inside if imp.target in sys.stdlib_module_names - SLOW_STDLIB})
    assert not unexplained, "imports inside functions without a comment saying why (e.g. '# lazy: loads torch'):\n" + "\n".join(unexplained)
    assert not stdlib, "standard-library imports inside functions (import them at the top):\n" + "\n".join(stdlib)
