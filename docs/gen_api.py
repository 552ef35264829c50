"""Generate docs/api.md — the API reference — from lamina's docstrings.

Usage: ``python docs/gen_api.py [output]`` (default: docs/api.md next to this file). The test
suite runs it into a temporary file, so every public name keeps a docstring.
"""
from __future__ import annotations

import importlib
import inspect
import pathlib
import sys

MODULES = ["lamina", "lamina.groups", "lamina.scaling", "lamina.penalties", "lamina.datafits", "lamina.operators",
           "lamina.solvers.base", "lamina.solvers.path", "lamina.estimators", "lamina.testing",
           "lamina.inverse", "lamina.studies", "lamina.tuners", "lamina.report.study_report"]
OPTIONAL = ["lamina.torch", "lamina.torch.lm", "lamina.tuners.linear", "lamina.trees"]


def public_names(module) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n, v in vars(module).items() if not n.startswith("_")
                 and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == module.__name__]
    return sorted(names)


def describe(name: str, obj) -> str:
    try:
        signature = str(inspect.signature(obj))
    except (TypeError, ValueError):
        signature = ""
    kind = "class" if inspect.isclass(obj) else "function" if callable(obj) else "object"
    doc = inspect.getdoc(obj) or ""
    return f"### `{name}{signature}`\n\n_{kind}_\n\n```\n{doc}\n```\n"


def generate() -> tuple[str, list[str]]:
    """(markdown, names lacking a docstring)."""
    parts = ["# lamina API reference\n", "Generated from the docstrings by `python docs/gen_api.py`.\n"]
    undocumented = []
    modules = list(MODULES)
    for optional in OPTIONAL:
        try:
            importlib.import_module(optional)
            modules.append(optional)
        except ImportError:
            pass
    for module_name in modules:
        module = importlib.import_module(module_name)
        parts.append(f"## `{module_name}`\n\n{inspect.getdoc(module) or ''}\n")
        for name in public_names(module):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or callable(obj)):
                continue
            if not inspect.getdoc(obj):
                undocumented.append(f"{module_name}.{name}")
            parts.append(describe(name, obj))
    return "\n".join(parts), undocumented


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = pathlib.Path(argv[0]) if argv else pathlib.Path(__file__).with_name("api.md")
    text, undocumented = generate()
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out} ({len(text)} characters)")
    if undocumented:
        print("no docstring:", ", ".join(undocumented))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
