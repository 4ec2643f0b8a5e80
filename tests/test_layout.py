"""The package's layout holds: imports between kwscope's modules form no circle and point one way
between its stages, every module says what it is for, and no module grows into a room of its own
(see docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "kwscope"
#: Stages in the order data flows; a module may import only from its own stage or earlier ones.
STAGES = ("errors", "settings", "io", "dsp", "engine", "features", "analysis", "learn", "plots", "report", "demo",
          "cli")
MAX_LINES = 520


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """kwscope modules ``name`` imports, at its top or inside functions."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kwscope"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("kwscope")}
    return {m for m in found if m in modules and m != name}


def _stage(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_import_circle():
    modules = _modules()
    graph = {m: _imports(m, p, modules) for m, p in modules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            assert state.get(d) != 1, "import circle: " + " -> ".join(path + [m, d])
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_imports_point_down_the_data_flow():
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        here = _stage(name)
        if here not in STAGES:
            continue
        for dep in _imports(name, path, modules):
            there = _stage(dep)
            if there in STAGES and STAGES.index(there) > STAGES.index(here):
                wrong.append(f"{name} imports {dep}")
    assert not wrong, wrong


def test_every_module_says_what_it_is_for_and_stays_small():
    for name, path in _modules().items():
        text = path.read_text(encoding="utf-8")
        assert ast.get_docstring(ast.parse(text)), f"{name} has no module docstring"
        assert text.count("\n") <= MAX_LINES, f"{name} has {text.count(chr(10))} lines (at most {MAX_LINES})"
