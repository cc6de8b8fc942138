"""The report stage: one self-contained HTML page of a sweep's results.

Loss against N with the fitted law, its bootstrap band and the backtest; each size's trials
against learning rate with the search box; lr*(N) and bs*(N); eval-loss curves; off-law and
convergence findings; per-task laws once finetuning ran; a compute table. Figures are PNGs
drawn with matplotlib (imported on first use) and embedded in the page, so the file opens
offline. N is the paper's non-embedding parameter count 12*L*H^2.

Example:
    >>> import raylaws
    >>> from raylaws.report import write_report
    >>> write_report(raylaws.open("results/demo"))  # doctest: +SKIP
    PosixPath('results/demo/report.html')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

import pyarrow as pa

from raylaws.report._analysis import Analysis, Finding, analyse
from raylaws.report._html import SECTIONS, render

def default_path(sweep: Any) -> Path:
    """Where :func:`write_report` writes by default: ``<sweep>/report.html``."""
    from raylaws.layout import SweepLayout

    return SweepLayout.at(sweep.path).report


def render_report(trials: pa.Table, spec: Any, *, name: str, n_bootstrap: int = 1000, level: float = 0.95,
                  random_state: Optional[int] = 0, boxes: Optional[Mapping[str, tuple[float, float]]] = None,
                  budgets: Optional[Mapping[str, int]] = None) -> str:
    """The report page of a trials table as one HTML string.

    Args:
        trials: the trials table (:data:`raylaws.store.TRIALS_SCHEMA`; a ``task`` column with
            non-null values adds the per-task section).
        spec: the sweep's :class:`raylaws.ExperimentSpec` (search box, ladder, budget).
        name: the sweep's name.
        n_bootstrap: hierarchical bootstrap replicates of the law (0: no band, no off-law check).
        level: coverage of the band, the confidence intervals and the off-law check.
        random_state: seed of the bootstrap.
        boxes: the learning-rate box each size searched last, by size name (a size-aware
            search); sizes not in it searched the spec's range.
        budgets: trials each size records (:meth:`raylaws.Sweep.budgets`); default
            ``spec.budget_per_size`` for every size.
    """
    return render(analyse(trials, spec, name=name, n_bootstrap=n_bootstrap, level=level, random_state=random_state,
                          boxes=boxes, budgets=budgets))


def write_report(sweep: Any, output: Optional[Union[str, Path]] = None, *, n_bootstrap: int = 1000,
                 level: float = 0.95, random_state: Optional[int] = 0) -> Path:
    """Write the report of ``sweep`` (a :class:`raylaws.Sweep`) and return its path.

    Works on a running or partly failed sweep (it shows what is recorded) and on a sweep with one
    size (no law: the page says so). The file is written whole (temp file, then rename).

    Args:
        sweep: the sweep, from :func:`raylaws.open`.
        output: the HTML file; default ``<sweep>/report.html`` (put in the store for a sweep
            in object storage; its URI is returned then).
        n_bootstrap, level, random_state: see :func:`render_report`.
    """
    boxes = {size: (found[-1].lr_low, found[-1].lr_high) for size, found in sweep.search_boxes().items()}
    page = render_report(sweep.trials(), sweep.spec, name=sweep.name, n_bootstrap=n_bootstrap, level=level,
                         random_state=random_state, boxes=boxes, budgets=sweep.budgets())
    if output is None and getattr(sweep.layout, "is_remote", False):  # a sweep in object storage: one put
        sweep.layout.write_bytes(sweep.layout.report, page.encode("utf-8"))
        return f"{sweep.layout.location.partition('?')[0].rstrip('/')}/{sweep.layout.REPORT}"  # type: ignore[return-value]
    path = Path(output) if output is not None else default_path(sweep)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(page, encoding="utf-8")
    staged.replace(path)
    return path


__all__ = ["SECTIONS", "Analysis", "Finding", "analyse", "default_path", "render_report", "write_report"]
