"""What a report says about a sweep, computed from its trials table: no plotting here.

Every quantity the HTML shows is computed once in :func:`analyse` and handed on as an
:class:`Analysis`; the figures and the page only draw it. N is the paper's non-embedding
parameter count 12*L*H^2 throughout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import numpy as np
import pyarrow as pa

from raylaws import views
from raylaws.diagnose import Finding, diagnose, lr_edge, still_improving  # noqa: F401 - lr_edge, still_improving: re-exported
from raylaws.trial import Phase, Status


@dataclass(frozen=True)
class LawSummary:
    """The fitted law of loss against N, and what the report draws of it."""

    law: Any  # a fitted raylaws.fit.PowerLaw
    n_sizes: int
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    r2: float
    backtest: Any = None  # raylaws.fit.BacktestResult, or None with too few sizes
    backtest_note: str = ""


@dataclass(frozen=True)
class TaskLaw:
    """A finetuning task's loss per size (the mean of the rows its law is fitted to) and, with
    2+ sizes, that law; below R^2 0.95, its likely causes (:mod:`raylaws.causes`), strongest
    first."""

    task: str
    n_params: list[float]
    losses: list[float]
    exponent: Optional[float]
    r2: Optional[float]
    law: Any = None
    verdict: str = ""
    causes: tuple[Any, ...] = ()  # raylaws.causes.Cause


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows, computed once from the trials table and the spec."""

    name: str
    trials: list[dict[str, Any]]  # every recorded trial (trials-table rows)
    best: list[dict[str, Any]]  # views.best_per_size rows, ascending N
    fit_rows: views.FitRows
    law: Optional[LawSummary]
    no_fit_reason: str  # why there is no law ("" when there is one)
    findings: list[Finding]
    compute: list[dict[str, Any]]  # one row per size, then the sweep total (size "total")
    lr_box: tuple[float, float]  # the search box of the learning rate (spec.search.learning_rate)
    batch_sizes: list[int]  # the search box of the batch size, sequences per step
    recorded: int
    budget: Optional[int]  # trials the sweep will record in all (None if the ladder is unknown)
    ladder: list[tuple[str, int]]  # (size, N) of every size of the spec's ladder, ascending N
    level: float
    tasks: list[TaskLaw] = field(default_factory=list)
    # The learning-rate box each size searched last (a size-aware search narrows and widens it
    # per size); a size not in it searched lr_box.
    size_boxes: dict[str, tuple[float, float]] = field(default_factory=dict)

    def box_of(self, size: str) -> tuple[float, float]:
        """The learning-rate box ``size`` searched last."""
        return self.size_boxes.get(size, self.lr_box)

    def lr_span(self) -> tuple[float, float]:
        """The learning rates every box covers, the spec's range included."""
        boxes = [self.lr_box, *self.size_boxes.values()]
        return min(b[0] for b in boxes), max(b[1] for b in boxes)


def analyse(trials: pa.Table, spec: Any, *, name: str, n_bootstrap: int = 1000, level: float = 0.95,
            random_state: Optional[int] = 0, boxes: Optional[Mapping[str, tuple[float, float]]] = None,
            budgets: Optional[Mapping[str, int]] = None) -> Analysis:
    """Compute what the report shows.

    Args:
        trials: the trials table (:data:`raylaws.store.TRIALS_SCHEMA`, optionally a ``task`` column).
        spec: the sweep's :class:`raylaws.ExperimentSpec` (its search box and ladder).
        name: the sweep's name, for titles.
        n_bootstrap: hierarchical bootstrap replicates of the law (its band and the off-law check).
        level: coverage of the band and of the off-law intervals.
        random_state: seed of the bootstrap.
        boxes: the learning-rate box each size searched last (a size-aware search), by size.
        budgets: trials each size records, by size (default ``spec.budget_per_size`` each).
    """
    rows = trials.to_pylist()
    size_boxes = {size: (float(low), float(high)) for size, (low, high) in (boxes or {}).items()}
    pretraining = trials.filter(_no_task_mask(trials)) if "task" in trials.column_names else trials
    best = views.best_per_size(pretraining).to_pylist()
    designs = views.designs_of(pretraining)
    shown = designs[0] if designs else None  # designs are never fitted together: the law of the first
    fit_rows = (views.fit_rows(pretraining, design=shown) if pretraining.num_rows
                else views.FitRows([], [], [], []))
    law, no_fit_reason = _fit_law(fit_rows, n_bootstrap=n_bootstrap, level=level, random_state=random_state)
    lr_box = (float(spec.search.learning_rate.low), float(spec.search.learning_rate.high))
    findings = diagnose(trials, spec, laws={(shown, None): law.law} if law is not None else None,
                        n_bootstrap=n_bootstrap, level=level, random_state=random_state, size_boxes=size_boxes)
    if designs:
        findings.insert(0, Finding("designs", None, f"this sweep compares designs {', '.join(designs)}; the law "
                                                    f"shown is design {shown}'s (`raylaws fit --design D` fits "
                                                    "another, `raylaws compare --at N` gives their gap)"))
    if fit_rows.fallback:
        findings.append(Finding("fallback", None, f"no completed seed re-runs yet for {', '.join(fit_rows.fallback)}: "
                                                  "the law uses their best search trial instead"))
    ladder = _ladder(spec)
    per_size = {name: int(budgets[name]) if budgets and name in budgets else int(spec.budget_per_size)
                for name, _ in ladder}
    budget = sum(per_size.values()) if ladder else None
    return Analysis(name=name, trials=rows, best=best, fit_rows=fit_rows, law=law, no_fit_reason=no_fit_reason,
                    findings=findings, compute=_compute_table(rows, ladder, per_size), lr_box=lr_box,
                    batch_sizes=sorted(int(b) for b in spec.search.batch_size), recorded=len(rows), budget=budget,
                    ladder=ladder, level=level, tasks=_task_laws(trials, shown), size_boxes=size_boxes)


def _no_task_mask(trials: pa.Table) -> pa.Array:
    import pyarrow.compute as pc

    return pc.is_null(trials.column("task"))


def _fit_law(rows: views.FitRows, *, n_bootstrap: int, level: float,
             random_state: Optional[int]) -> tuple[Optional[LawSummary], str]:
    """The law of loss against N as ``raylaws fit`` fits it (:func:`raylaws.laws.law_of_rows`),
    or None and why not."""
    from raylaws.laws import law_of_rows  # scipy: not on importing the report

    fitted = law_of_rows(rows, n_bootstrap=n_bootstrap, random_state=random_state)
    law = fitted.law
    if law is None:
        return None, fitted.note
    intervals = law.confidence_intervals(level) if n_bootstrap else {}
    return LawSummary(law=law, n_sizes=len(set(rows.n_params)), params=dict(law.params_), intervals=dict(intervals),
                      r2=float(law.r2_), backtest=fitted.backtest, backtest_note=fitted.note), ""


def band(law: Any, n_params: np.ndarray, level: float, *,
         n_seeds: Optional[int]) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """The law's bootstrap interval at ``n_params`` (None without bootstrap replicates)."""
    if not getattr(law, "n_bootstrap", 0):
        return None
    try:
        lo, hi = law.predict_interval(n_params, level, n_seeds=n_seeds)
    except TypeError:  # an older/newer predict_interval without n_seeds
        lo, hi = law.predict_interval(n_params, level)
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


def _sizes_by_n(rows: list[dict[str, Any]]) -> list[str]:
    n_of = {r["size"]: r["n_params"] for r in rows}
    return sorted(n_of, key=lambda s: (n_of[s], s))


def _ladder(spec: Any) -> list[tuple[str, int]]:
    try:
        from raylaws.ladder import build_ladder

        return [(size.name, int(size.n_params)) for size in build_ladder(spec)]
    except Exception:  # a stored spec the current ladder code cannot build: show what was recorded
        return []


def _compute_table(rows: list[dict[str, Any]], ladder: list[tuple[str, int]],
                   per_size: Mapping[str, int]) -> list[dict[str, Any]]:
    """Per size (every ladder size, recorded or not, then any other recorded size), then the total."""
    n_of = dict(ladder)
    for size in _sizes_by_n(rows):
        n_of.setdefault(size, next(r["n_params"] for r in rows if r["size"] == size))
    out = []
    for size in sorted(n_of, key=lambda s: (n_of[s], s)):
        mine = [r for r in rows if r["size"] == size]
        out.append(_compute_row(size, n_of[size], mine, per_size.get(size)))
    total = _compute_row("total", None, rows, None)
    total["budget"] = sum(r["budget"] for r in out) if ladder else None
    return out + [total]


def _compute_row(size: str, n_params: Optional[int], rows: list[dict[str, Any]],
                 budget: Optional[int]) -> dict[str, Any]:
    return {
        "size": size,
        "n_params": n_params,
        "trials": len(rows),
        "budget": budget,
        "completed": sum(r["status"] == Status.COMPLETED for r in rows),
        "pruned": sum(r["status"] == Status.PRUNED for r in rows),
        "diverged": sum(r["status"] == Status.DIVERGED for r in rows),
        "failed": sum(r["status"] == Status.FAILED for r in rows),
        "seeds": sum(r["phase"] == Phase.SEED for r in rows),
        "wall_seconds": sum(float(r["wall_seconds"] or 0.0) for r in rows),
        "flops": sum(float(r["flops"] or 0.0) for r in rows),
        "tokens": sum(int(r["tokens"] or 0) for r in rows),
    }


def _task_laws(trials: pa.Table, design: Optional[str]) -> list[TaskLaw]:
    """Per finetuning task, ``design``'s law as ``raylaws fit --task`` fits it (the same rows:
    each size's latest round, its seed runs or else its best search trial) and, to plot, each
    size's mean of those rows."""
    if "task" not in trials.column_names:
        return []
    from raylaws.laws import law_of_rows, with_causes

    out = []
    for task in views.tasks_of(trials):
        rows = views.fit_rows(trials, task=task, design=design)
        by_size: dict[float, list[float]] = {}
        for n_params, value in zip(rows.n_params, rows.values):
            by_size.setdefault(n_params, []).append(value)
        fitted = with_causes(law_of_rows(rows, task=task, design=design, n_bootstrap=0), trials, rows)
        law = fitted.law
        out.append(TaskLaw(task=task, n_params=list(by_size), losses=[float(np.mean(v)) for v in by_size.values()],
                           exponent=float(law.exponent_) if law is not None else None,
                           r2=float(law.r2_) if law is not None else None, law=law,
                           verdict=fitted.verdict if law is not None else f"no law ({fitted.note})",
                           causes=fitted.causes))
    return out
