"""raylaws imports one way: no cycle among its modules, imports inside functions and
TYPE_CHECKING blocks included (scripts/import_cycles.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "import_cycles.py"


def _script() -> object:
    spec = importlib.util.spec_from_file_location("import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_of_raylaws_takes_part_in_an_import_cycle() -> None:
    script = _script()
    graph = script.graph_of()  # type: ignore[attr-defined]
    assert {"raylaws.search._box", "raylaws.sweep._run", "raylaws.cli"} <= set(graph)  # the scan found the modules
    assert script.cycles(graph) == []  # type: ignore[attr-defined]


def test_the_scan_reports_a_cycle_once_one_import_points_back() -> None:
    script = _script()
    graph = script.graph_of()  # type: ignore[attr-defined]
    graph["raylaws.layout"] = graph["raylaws.layout"] | {"raylaws.sweep._stored"}  # stored imports layout
    assert any({"raylaws.layout", "raylaws.sweep._stored"} <= set(c) for c in script.cycles(graph))  # type: ignore[attr-defined]
