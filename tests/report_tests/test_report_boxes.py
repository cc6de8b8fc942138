"""The report draws the box each size actually searched when a size-aware search narrowed or
widened it, and judges an edge optimum against that box."""

from __future__ import annotations

from pathlib import Path

import raylaws
from raylaws.report import analyse, render_report
from tests.report_tests.sweeps import write_sweep


def _sweep(tmp_path: Path) -> raylaws.Sweep:
    return raylaws.open(write_sweep(tmp_path / "demo", [1, 2, 3]))


def test_an_edge_optimum_is_judged_against_the_box_the_size_searched(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    spec_range = analyse(sweep.trials(), sweep.spec, name="demo", n_bootstrap=0)
    assert ("lr_edge", "L1-H12") in {(f.kind, f.size) for f in spec_range.findings}
    widened = analyse(sweep.trials(), sweep.spec, name="demo", n_bootstrap=0,
                      boxes={"L1-H12": (1e-3, 1.2e-1), "L2-H24": (3e-3, 1e-2)})
    edges = {f.size: f.message for f in widened.findings if f.kind == "lr_edge"}
    assert "L1-H12" not in edges  # its widened box holds its best well inside
    assert "L2-H24" in edges and "size-aware box" in edges["L2-H24"]  # its best, 9.8e-3, on its box's top
    assert widened.box_of("L1-H12") == (1e-3, 1.2e-1) and widened.box_of("L3-H36") == widened.lr_box
    assert widened.lr_span() == (1e-3, 1.2e-1)


def test_the_page_says_each_size_searched_its_own_box(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    plain = render_report(sweep.trials(), sweep.spec, name="demo", n_bootstrap=0)
    boxed = render_report(sweep.trials(), sweep.spec, name="demo", n_bootstrap=0, boxes={"L1-H12": (1e-3, 1.2e-1)})
    assert "box each size searched last" in boxed and "box each size searched last" not in plain


def test_a_sweep_without_size_aware_search_has_no_boxes(tmp_path: Path) -> None:
    assert _sweep(tmp_path).search_boxes() == {}
