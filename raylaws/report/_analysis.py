"""What a report says about a sweep, computed from its trials table: no plotting here.

Every quantity the HTML shows is computed once in :func:`analyse` and handed on as an
:class:`Analysis`; the figures and the page only draw it. N is the paper's non-embedding
parameter count 12*L*H^2 throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import pyarrow as pa

from raylaws import views
from raylaws.trial import Phase, Status, StopReason

# A best learning rate within this fraction of the search box's log-width from an edge is "at
# the edge": the optimum may lie outside the box.
EDGE_FRACTION = 0.1
# A patience stop counts as "still improving" when the least-squares line through the last half
# of its evaluations falls by more than this fraction of the loss over that window.
STILL_IMPROVING = 0.002
HOLDOUT = 2  # largest sizes the backtest holds out (the paper's)


@dataclass(frozen=True)
class Finding:
    """One line of the findings section, about one size (or the sweep, ``size`` None)."""

    kind: str  # "off_law", "lr_edge", "still_improving", "fallback"
    size: Optional[str]
    message: str


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
    """A finetuning task's best loss per size and, with 2+ sizes, its power law."""

    task: str
    n_params: list[float]
    losses: list[float]
    exponent: Optional[float]
    r2: Optional[float]
    law: Any = None


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


def analyse(trials: pa.Table, spec: Any, *, name: str, n_bootstrap: int = 1000, level: float = 0.95,
            random_state: Optional[int] = 0) -> Analysis:
    """Compute what the report shows.

    Args:
        trials: the trials table (:data:`raylaws.store.TRIALS_SCHEMA`, optionally a ``task`` column).
        spec: the sweep's :class:`raylaws.ExperimentSpec` (its search box and ladder).
        name: the sweep's name, for titles.
        n_bootstrap: hierarchical bootstrap replicates of the law (its band and the off-law check).
        level: coverage of the band and of the off-law intervals.
        random_state: seed of the bootstrap.
    """
    rows = trials.to_pylist()
    pretraining = trials.filter(_no_task_mask(trials)) if "task" in trials.column_names else trials
    best = views.best_per_size(pretraining).to_pylist()
    fit_rows = views.fit_rows(pretraining) if pretraining.num_rows else views.FitRows([], [], [], [])
    law, no_fit_reason = _fit_law(fit_rows, n_bootstrap=n_bootstrap, level=level, random_state=random_state)
    lr_box = (float(spec.search.learning_rate.low), float(spec.search.learning_rate.high))
    findings = _off_law_findings(law, fit_rows, level) if law is not None else []
    findings += _lr_edge_findings(best, lr_box)
    findings += _still_improving_findings(pretraining.to_pylist())
    if fit_rows.fallback:
        findings.append(Finding("fallback", None, f"no completed seed re-runs yet for {', '.join(fit_rows.fallback)}: "
                                                  "the law uses their best search trial instead"))
    ladder = _ladder(spec)
    budget = len(ladder) * int(spec.budget_per_size) if ladder else None
    return Analysis(name=name, trials=rows, best=best, fit_rows=fit_rows, law=law, no_fit_reason=no_fit_reason,
                    findings=findings, compute=_compute_table(rows, ladder, spec.budget_per_size), lr_box=lr_box,
                    batch_sizes=sorted(int(b) for b in spec.search.batch_size), recorded=len(rows), budget=budget,
                    ladder=ladder, level=level, tasks=_task_laws(trials))


def _no_task_mask(trials: pa.Table) -> pa.Array:
    import pyarrow.compute as pc

    return pc.is_null(trials.column("task"))


def _fit_law(rows: views.FitRows, *, n_bootstrap: int, level: float,
             random_state: Optional[int]) -> tuple[Optional[LawSummary], str]:
    n_sizes = len(set(rows.n_params))
    if n_sizes < 2:
        what = "no size has" if n_sizes == 0 else "only one size has"
        return None, f"{what} a completed trial yet, so there is no law of loss against N to fit"
    from raylaws.fit import PowerLaw, backtest

    try:
        law = PowerLaw("power", n_bootstrap=n_bootstrap, random_state=random_state).fit(rows.n_params, rows.values)
    except ValueError as error:
        return None, f"the fit failed: {error}"
    intervals = law.confidence_intervals(level) if n_bootstrap else {}
    holdout = min(HOLDOUT, n_sizes - 2)
    result, note = None, ""
    if holdout < 1:
        note = f"needs at least 3 sizes (fit on 2, predict the rest); this sweep has {n_sizes}"
    else:
        try:
            result = backtest(PowerLaw("power", n_bootstrap=0), rows.n_params, rows.values, holdout=holdout)
            if holdout < HOLDOUT:
                note = f"only {n_sizes} sizes: held out the largest {holdout}, not {HOLDOUT}"
        except ValueError as error:
            note = str(error)
    return LawSummary(law=law, n_sizes=n_sizes, params=dict(law.params_), intervals=dict(intervals),
                      r2=float(law.r2_), backtest=result, backtest_note=note), ""


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


def _off_law_findings(summary: LawSummary, rows: views.FitRows, level: float) -> list[Finding]:
    from raylaws import fit

    if not getattr(summary.law, "n_bootstrap", 0):
        return []
    try:
        try:
            table = fit.off_law(summary.law, rows.n_params, rows.values, level=level)
        except TypeError:  # the signature is moving; the estimator's own method knows its data
            table = summary.law.off_law(level)
    except ValueError:  # too few sizes to leave one out
        return []
    size_of = dict(zip(rows.n_params, rows.sizes))
    findings = []
    for row in table.to_pylist():
        if not row.get("flagged"):
            continue
        direction = row.get("direction") or "off"
        hint = ("likely under-trained or stopped too early" if direction == "above"
                else "better than the law of the other sizes")
        size = size_of.get(float(row["n_params"]), f"N={row['n_params']:,.0f}")
        deviation = row.get("rel_deviation")
        by = f" by {deviation:+.1%}" if deviation is not None else ""
        findings.append(Finding("off_law", size, f"{size} (N={row['n_params']:,.0f}) lies {direction} the law fitted "
                                                 f"to the other sizes{by}, outside its {level:.0%} interval: {hint}"))
    return findings


def lr_edge(learning_rate: float, box: tuple[float, float]) -> Optional[str]:
    """``"low"``/``"high"`` when ``learning_rate`` sits at that edge of the search box, else None."""
    low, high = box
    width = math.log(high / low)
    if math.log(learning_rate / low) <= EDGE_FRACTION * width:
        return "low"
    if math.log(high / learning_rate) <= EDGE_FRACTION * width:
        return "high"
    return None


def _lr_edge_findings(best: list[dict[str, Any]], box: tuple[float, float]) -> list[Finding]:
    findings = []
    for row in best:
        lr = row["learning_rate"]
        edge = lr_edge(lr, box) if lr else None
        if edge is None:
            continue
        low, high = box
        suggestion = f"low: {low / 3:.1e}" if edge == "low" else f"high: {high * 3:.1e}"
        message = (f"{row['size']}: best learning rate {lr:.2e} sits at the {edge} edge of the search box "
                   f"[{low:.1e}, {high:.1e}]; the optimum may lie outside it: widen search.learning_rate "
                   f"(e.g. {suggestion})")
        findings.append(Finding("lr_edge", row["size"], message))
    return findings


def still_improving(row: dict[str, Any]) -> Optional[float]:
    """For a trial stopped by patience: the relative fall of its eval loss over the last half of
    its evaluations (least-squares line), if more than :data:`STILL_IMPROVING`; else None."""
    if row.get("stop_reason") != StopReason.PATIENCE:
        return None
    steps, losses = row.get("eval_steps") or [], row.get("eval_losses") or []
    points = [(s, y) for s, y in zip(steps, losses) if y is not None and math.isfinite(y)]
    tail = points[len(points) // 2:]
    if len(tail) < 3:
        return None
    x = np.array([s for s, _ in tail], dtype=float)
    y = np.array([v for _, v in tail], dtype=float)
    slope = np.polyfit(x, y, 1)[0]
    fall = -slope * (x[-1] - x[0]) / float(np.mean(y))
    return float(fall) if fall > STILL_IMPROVING else None


def _still_improving_findings(rows: list[dict[str, Any]]) -> list[Finding]:
    findings = []
    for size in _sizes_by_n(rows):
        mine = [r for r in rows if r["size"] == size and r.get("stop_reason") == StopReason.PATIENCE]
        improving = [(r, still_improving(r)) for r in mine]
        improving = [(r, fall) for r, fall in improving if fall is not None]
        if not improving:
            continue
        ids = ", ".join(f"{r['trial_id']} (-{fall:.1%})" for r, fall in improving)
        findings.append(Finding("still_improving", size, f"{size}: {len(improving)} of {len(mine)} trial(s) stopped by "
                                                         f"patience while the eval loss was still falling over the "
                                                         f"last half of their evaluations: {ids}; raise "
                                                         "training.patience (or train longer)"))
    return findings


def _sizes_by_n(rows: list[dict[str, Any]]) -> list[str]:
    n_of = {r["size"]: r["n_params"] for r in rows}
    return sorted(n_of, key=lambda s: (n_of[s], s))


def _ladder(spec: Any) -> list[tuple[str, int]]:
    try:
        from raylaws.ladder import build_ladder

        return [(size.name, int(size.n_params)) for size in build_ladder(spec)]
    except Exception:  # a stored spec the current ladder code cannot build: show what was recorded
        return []


def _compute_table(rows: list[dict[str, Any]], ladder: list[tuple[str, int]], per_size: int) -> list[dict[str, Any]]:
    """Per size (every ladder size, recorded or not, then any other recorded size), then the total."""
    n_of = dict(ladder)
    for size in _sizes_by_n(rows):
        n_of.setdefault(size, next(r["n_params"] for r in rows if r["size"] == size))
    out = []
    for size in sorted(n_of, key=lambda s: (n_of[s], s)):
        mine = [r for r in rows if r["size"] == size]
        out.append(_compute_row(size, n_of[size], mine, per_size if size in dict(ladder) else None))
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


def _task_laws(trials: pa.Table) -> list[TaskLaw]:
    """Per finetuning task (a non-null ``task`` column), its best loss per size and power law."""
    if "task" not in trials.column_names:
        return []
    from raylaws.fit import PowerLaw

    rows = [r for r in trials.to_pylist() if r.get("task") is not None]
    out = []
    for task in sorted({r["task"] for r in rows}):
        mine = [r for r in rows if r["task"] == task and r["status"] == Status.COMPLETED and r["eval_loss"] is not None]
        n_params, losses = [], []
        for size in _sizes_by_n(mine):
            of_size = [r for r in mine if r["size"] == size]
            seeds = [r["eval_loss"] for r in of_size if r["phase"] in (Phase.SEED, Phase.FINETUNE_SEED)]
            n_params.append(float(of_size[0]["n_params"]))
            losses.append(float(np.mean(seeds)) if seeds else min(r["eval_loss"] for r in of_size))
        law = exponent = r2 = None
        if len(n_params) >= 2:
            try:
                law = PowerLaw("power", n_bootstrap=0).fit(n_params, losses)
                exponent, r2 = float(law.exponent_), float(law.r2_)
            except ValueError:
                law = None
        out.append(TaskLaw(task=task, n_params=n_params, losses=losses, exponent=exponent, r2=r2, law=law))
    return out
