"""raylaws.search and raylaws.spec import one way: no cycle, imports inside functions and
TYPE_CHECKING blocks included (scripts/import_cycles.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "import_cycles.py"


def test_search_and_spec_modules_import_one_way() -> None:
    spec = importlib.util.spec_from_file_location("import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    graph = module.graph_of()
    watched = {name for name in graph if name.startswith(("raylaws.search", "raylaws.spec"))}
    assert [c for c in module.cycles(graph) if watched & set(c)] == []
    assert "raylaws.search._box" in graph  # the scan found the modules
