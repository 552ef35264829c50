"""The package's import structure: no import cycles, every module importable, modules ≤ ~400 lines.

The cycle check reads the module graph from the source (``ast``): an edge A → B for every
``import``/``from … import`` of a lamina module B executed when A is imported (module level,
also inside ``if``/``try``; not inside functions, nor under ``if TYPE_CHECKING``). A cycle
there makes the result of an import depend on which module is imported first; a lazy import
inside a function that only dodges such a cycle hides it, so those are gone too (the graph of
all imports, function-level included, has no cycle either).
"""
import ast
import os
import subprocess
import sys

import pytest

SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
MAX_LINES = 400


def _modules() -> dict:
    found = {}
    for folder, _, files in os.walk(os.path.join(SRC, "lamina")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, SRC)[:-3].replace(os.sep, ".")
                found[module[: -len(".__init__")] if module.endswith(".__init__") else module] = path
    return found


def _imports(module: str, path: str, modules: dict, top_level_only: bool) -> set:
    """lamina modules ``module`` imports (module level only, or everywhere)."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    found = set()

    def visit(nodes, top):
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import) and (top or not top_level_only):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and (top or not top_level_only):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
                for alias in node.names:
                    found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
            inner_top = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                                      ast.Lambda))
            body = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.stmt)]
            if body and not isinstance(node, (ast.Import, ast.ImportFrom)):
                visit(body, inner_top if not isinstance(node, ast.ClassDef) else top)

    visit(tree.body, True)
    return {name for name in found if name in modules and name != module}


def _cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, components, counter = {}, {}, [], set(), [], [0]

    def connect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
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
                components.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return components


def test_the_module_graph_has_no_cycle():
    modules = _modules()
    graph = {m: _imports(m, p, modules, top_level_only=True) for m, p in modules.items()}
    assert len(graph) > 100 and graph["lamina.tuners.search"] >= {"lamina.tuners.hypergradient_probes"}
    assert _cycles(graph) == []


def test_no_function_level_import_closes_a_cycle():
    """Module-level plus function-level imports between lamina modules, except the root package
    and the command line, studies and report layers (which load the rest lazily on purpose: the
    CLI starts without torch)."""
    modules = _modules()
    lazy_layers = ("lamina.cli", "lamina.studies", "lamina.report", "lamina.__main__")
    graph = {m: {t for t in _imports(m, p, modules, top_level_only=False)
                 if t != "lamina" and not t.startswith(lazy_layers)}
             for m, p in modules.items() if m != "lamina" and not m.startswith(lazy_layers)}
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The checker itself: two modules importing each other (one inside a function) are found."""
    package = tmp_path / "lamina"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from lamina.b import g\n")
    (package / "b.py").write_text("def g():\n    from lamina.a import g\n")
    paths = {"lamina": str(package / "__init__.py"), "lamina.a": str(package / "a.py"), "lamina.b": str(package / "b.py")}
    top = {m: _imports(m, p, paths, True) for m, p in paths.items()}
    every = {m: _imports(m, p, paths, False) for m, p in paths.items()}
    assert _cycles(top) == [] and _cycles(every) == [["lamina.a", "lamina.b"]]


def test_every_module_imports_in_a_fresh_interpreter():
    modules = sorted(m for m in _modules() if not m.endswith("__main__"))
    code = ("import importlib, sys\nfailed = []\nfor name in sys.argv[1:]:\n    try:\n"
            "        importlib.import_module(name)\n    except Exception as error:\n"
            "        failed.append(f'{name}: {type(error).__name__}: {error}')\nprint('\\n'.join(failed))\n"
            "sys.exit(1 if failed else 0)\n")
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("module", sorted(_modules()))
def test_modules_stay_short(module):
    with open(_modules()[module], encoding="utf-8") as handle:
        assert sum(1 for _ in handle) <= MAX_LINES, f"{module} is longer than {MAX_LINES} lines: split it by idea"
