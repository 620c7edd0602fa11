"""The package's dependency rules, read from the source: every import, also those inside
functions, counts."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "riskengine"
# Entry points may reach everything; the layers below them only point downwards.
ENTRYPOINTS = ("riskengine.cli", "riskengine.app", "riskengine.demo")
# riskengine.quantities is a pure leaf (distances, speeds, ages, UTC offsets): any layer may use it.
LAYERS = {   # module prefix -> riskengine prefixes it may import
    "riskengine.signals": ("riskengine.signals", "riskengine.config"),
    "riskengine.storage": ("riskengine.storage", "riskengine.scoring.history", "riskengine.config",
                           "riskengine.quantities"),
    "riskengine.scoring": ("riskengine.scoring", "riskengine.signals", "riskengine.storage", "riskengine.schemas",
                           "riskengine.hashing", "riskengine.ids", "riskengine.errors", "riskengine.config",
                           "riskengine.usage.links", "riskengine.runtime", "riskengine.quantities"),
    "riskengine.usage": ("riskengine.usage", "riskengine.storage", "riskengine.signals", "riskengine.schemas",
                         "riskengine.hashing", "riskengine.errors", "riskengine.config"),
    "riskengine.rescore": ("riskengine.rescore", "riskengine.scoring", "riskengine.signals", "riskengine.storage",
                           "riskengine.usage", "riskengine.ids", "riskengine.config", "riskengine.runtime",
                           "riskengine.errors", "riskengine.quantities", "riskengine.privacy"),
    # retention and erasure: a service over storage, used by the web, the command line and rescore
    "riskengine.privacy": ("riskengine.privacy", "riskengine.storage", "riskengine.errors"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PKG.rglob("*.py") if "versions" not in p.parts}


def imports(path: Path, known: set[str]) -> set[str]:
    """Every module this file imports, anywhere in it: `from pkg import sub` counts as sub."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.add(sub if sub in known else base)
    return out


GRAPH = {m: imports(p, set(modules())) for m, p in modules().items()}


def test_no_import_cycle():
    internal = {m: {d for d in deps if d in GRAPH} for m, deps in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str):
        state[m] = 1
        stack.append(m)
        for d in sorted(internal[m]):
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(internal):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("framework", ["flask", "werkzeug", "gunicorn"])
def test_only_web_imports_the_web_framework(framework):
    users = sorted(m for m, deps in GRAPH.items()
                   if any(d == framework or d.startswith(framework + ".") for d in deps))
    assert all(m.startswith("riskengine.web") for m in users), users


def test_only_the_command_line_imports_click():
    users = sorted(m for m, deps in GRAPH.items() if any(d == "click" or d.startswith("click.") for d in deps))
    assert users == ["riskengine.cli"], users


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layers_point_one_way(layer):
    allowed = LAYERS[layer]
    inside = [m for m in GRAPH if m == layer or m.startswith(layer + ".")]
    wrong = sorted((m, d) for m in inside for d in GRAPH[m]
                   if d.startswith("riskengine.") and not any(d == a or d.startswith(a + ".") for a in allowed))
    assert not wrong, wrong


def test_nothing_but_entrypoints_imports_web_or_cli():
    wrong = sorted((m, d) for m, deps in GRAPH.items() for d in deps
                   if (d.startswith("riskengine.web") or d == "riskengine.cli")
                   and not m.startswith("riskengine.web") and m not in ENTRYPOINTS)
    assert not wrong, wrong


def test_test_modules_share_helpers_only_through_factories():
    tests = Path(__file__).resolve().parent
    wrong = []
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
                if node.module not in ("tests.factories", "tests.conftest"):
                    wrong.append((str(path.relative_to(tests)), node.module))
    assert not wrong, wrong
