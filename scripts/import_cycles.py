"""Report import cycles among raylaws's modules, imports inside functions and
``if TYPE_CHECKING:`` blocks included.

    python scripts/import_cycles.py [PACKAGE_DIR ...]   # default: every module of raylaws

Every ``import`` / ``from ... import`` anywhere in a file is an edge from its module to the
module it names (``from pkg import name`` to ``pkg.name`` where that is a module, else to
``pkg``). The implicit import of a module's parent package is not an edge. Exits 1 if the
modules of the given directories take part in a cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / "raylaws").rglob("*.py"))}


def edges(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a non-module: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def graph_of() -> dict[str, set[str]]:
    known = modules()
    return {name: edges(name, path, known) for name, path in known.items()}


def main(argv: list[str]) -> int:
    graph = graph_of()
    watched = ({module_name(path) for d in argv for path in (ROOT / d).glob("*.py")} if argv else set(graph))
    bad = [c for c in cycles(graph) if watched & set(c)]
    for name in sorted(watched):
        inside = sorted(t for t in graph[name] if t in watched)
        print(f"{name} -> {', '.join(inside) or '(none)'}")
    for component in bad:
        print("CYCLE:", " <-> ".join(component))
    others = [c for c in cycles(graph) if not watched & set(c)]
    for component in others:
        print("(cycle elsewhere:", " <-> ".join(component) + ")")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
