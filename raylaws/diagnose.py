"""Convergence debugging that names its cause: findings per size, each with the spec field to change.

For every size (of every design, for the pretraining loss and each finetuning task), where they
hold:

* ``lr_edge`` / ``batch_edge``: the best learning rate (batch size) sits on an edge of the search
  space, so the optimum may lie outside it: widen ``search.learning_rate.high`` (``.low``) or
  add a ``search.batch_size`` choice;
* ``still_improving``: a trial stopped by patience while its eval loss was still falling: the
  least-squares line through the last half of its evaluations would have improved it by more
  than ``training.min_delta`` within another ``training.patience`` steps (and by more than
  :data:`STILL_IMPROVING` of the loss over that half): raise ``training.patience``;
* ``seed_spread``: the seeds of a size spread :data:`SPREAD_FACTOR` times more than those of its
  neighbouring sizes: more ``seeds``, or re-run the size to check it;
* ``off_law``: the size lies outside the prediction interval of the law fitted to the other
  sizes (:func:`raylaws.fit.off_law`); when one of the findings above holds for the same size,
  it is named as the likely cause.

Each finding carries the field to change and a suggested value; ``raylaws debug --rerun``
re-runs the flagged sizes with them (or with ``--set``) as a new round. N is the paper's
non-embedding count 12*L*H^2 throughout. Pure pyarrow/numpy: no Ray, no torch.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import pyarrow as pa

from raylaws import views
from raylaws.trial import Phase, StopReason

# A best learning rate within this fraction of the search box's log-width from an edge is "at
# the edge": the optimum may lie outside the box.
EDGE_FRACTION = 0.1
# A patience stop counts as "still improving" only when the least-squares line through the last
# half of its evaluations falls by more than this fraction of the loss over that window.
STILL_IMPROVING = 0.002
# A size's seed standard deviation this many times its neighbours' (largest) is "far above".
SPREAD_FACTOR = 3.0
# ... and at least this fraction of its mean loss (tiny spreads are all alike).
SPREAD_FLOOR = 0.002


@dataclass(frozen=True)
class Finding:
    """One finding about one size (or the sweep, ``size`` None).

    Attributes:
        kind: ``off_law``, ``lr_edge``, ``batch_edge``, ``still_improving``, ``seed_spread``
            or ``fallback``.
        size: the size's name (``<design>.<rung>`` in a sweep with designs).
        message: one line saying what holds, why it matters and what to change.
        field: the spec field to change (dotted), or None.
        value: a suggested value for ``field`` (what ``raylaws debug --rerun`` sets), or None.
        design: the size's design, or None.
        task: the finetuning task the finding is about (None: pretraining).
    """

    kind: str
    size: Optional[str]
    message: str
    field: Optional[str] = None
    value: Any = None
    design: Optional[str] = None
    task: Optional[str] = None


def lr_edge(learning_rate: float, box: tuple[float, float]) -> Optional[str]:
    """``"low"``/``"high"`` when ``learning_rate`` sits at that edge of the search box, else None."""
    low, high = box
    width = math.log(high / low)
    if math.log(learning_rate / low) <= EDGE_FRACTION * width:
        return "low"
    if math.log(high / learning_rate) <= EDGE_FRACTION * width:
        return "high"
    return None


def still_improving(row: Mapping[str, Any], *, patience: Optional[int] = None, min_delta: float = 0.0) -> Optional[float]:
    """For a trial stopped by patience: the relative fall of its eval loss over the last half of
    its evaluations (least-squares line), if that line would have improved the loss by more than
    ``min_delta`` within another ``patience`` steps (None: not checked) and the fall exceeds
    :data:`STILL_IMPROVING`; else None."""
    if row.get("stop_reason") != StopReason.PATIENCE:
        return None
    steps, losses = row.get("eval_steps") or [], row.get("eval_losses") or []
    points = [(s, y) for s, y in zip(steps, losses) if y is not None and math.isfinite(y)]
    tail = points[len(points) // 2:]
    if len(tail) < 3:
        return None
    x = np.array([s for s, _ in tail], dtype=float)
    y = np.array([v for _, v in tail], dtype=float)
    slope = float(np.polyfit(x, y, 1)[0])  # loss per step
    fall = -slope * (x[-1] - x[0]) / float(np.mean(y))
    if patience is not None and -slope * patience <= min_delta:
        return None
    return float(fall) if fall > STILL_IMPROVING else None


def diagnose(trials: pa.Table, spec: Any, *, laws: Optional[Mapping[tuple[Optional[str], Optional[str]], Any]] = None,
             n_bootstrap: int = 200, level: float = 0.95, random_state: Optional[int] = 0,
             size_boxes: Optional[Mapping[str, tuple[float, float]]] = None) -> list[Finding]:
    """Every finding of a sweep, per design and target (pretraining loss, then each task).

    Args:
        trials: the sweep's trials table; each size's latest round is judged.
        spec: the sweep's :class:`raylaws.ExperimentSpec` (its search space, per design).
        laws: already fitted laws by ``(design, task)`` (the off-law check refits clones).
        n_bootstrap: bootstrap replicates of laws not given (the off-law intervals need them).
        level: coverage of the off-law intervals.
        random_state: seed of the bootstrap.
        size_boxes: the learning-rate box each size searched last, by size (a size-aware
            search); a size not in it is judged against its spec's range.
    """
    from raylaws.spec import design_spec

    rows = views.latest_rounds(trials)
    out: list[Finding] = []
    for design in views.designs_of(rows) or [None]:
        variant = design_spec(spec, design) if spec is not None else None
        for task in [None, *views.tasks_of(rows)]:
            mine = [r for r in rows if r.get("design") == design and r.get("task") == task]
            if not mine:
                continue
            found: list[Finding] = []
            if task is None and variant is not None:
                best = views.best_per_size(mine).to_pylist()
                found += _lr_edge_findings(best, variant.search.learning_rate.low, variant.search.learning_rate.high,
                                           size_boxes or {})
                found += _batch_edge_findings(best, list(variant.search.batch_size))
            found += _still_improving_findings(mine, variant)
            found += _seed_spread_findings(mine, task)
            law = (laws or {}).get((design, task))
            found = _off_law_findings(trials, design, task, law, found, n_bootstrap=n_bootstrap, level=level,
                                      random_state=random_state) + found
            out += [_tagged(f, design, task) for f in found]
    return out


def _tagged(finding: Finding, design: Optional[str], task: Optional[str]) -> Finding:
    from dataclasses import replace

    return replace(finding, design=design, task=task)


def _of_task(task: Optional[str]) -> str:
    return "" if task is None else f" (task {task})"


def _lr_edge_findings(best: list[dict[str, Any]], low: float, high: float,
                      size_boxes: Mapping[str, tuple[float, float]]) -> list[Finding]:
    findings = []
    for row in best:
        lr = row["learning_rate"]
        own = size_boxes.get(row["size"])
        box_low, box_high = own or (low, high)
        edge = lr_edge(lr, (box_low, box_high)) if lr else None
        if edge is None:
            continue
        if own is not None:  # a size-aware box that widened as far as it may
            field, value = (("search.learning_rate.low", box_low / 3) if edge == "low"
                            else ("search.size_aware.beyond_range", None))
            fix = ("its size-aware box widened as far as allowed: raise search.size_aware.max_extra_trials or "
                   "beyond_range, or widen search.learning_rate")
        else:
            field, value = (("search.learning_rate.low", low / 3) if edge == "low"
                            else ("search.learning_rate.high", high * 3))
            fix = f"widen search.learning_rate (set {field}={value:.1e})"
        message = (f"{row['size']}: best learning rate {lr:.2e} sits at the {edge} edge of the search box "
                   f"[{box_low:.1e}, {box_high:.1e}]; the optimum may lie outside it: {fix}")
        findings.append(Finding("lr_edge", row["size"], message, field,
                                float(f"{value:.3g}") if value is not None else None))
    return findings


def _batch_edge_findings(best: list[dict[str, Any]], choices: list[int]) -> list[Finding]:
    """Only with 3+ choices: with two, every best batch size is at an edge."""
    if len(choices) < 3:
        return []
    low, high = min(choices), max(choices)
    findings = []
    for row in best:
        batch = row["batch_size"]
        if batch not in (low, high):
            continue
        extra = high * 2 if batch == high else max(1, low // 2)
        if extra in choices:
            continue
        value = sorted({*choices, extra})
        message = (f"{row['size']}: best batch size {batch} is the {'largest' if batch == high else 'smallest'} "
                   f"choice of search.batch_size {sorted(choices)}; the optimum may lie outside: add {extra} "
                   f"(set search.batch_size={value})")
        findings.append(Finding("batch_edge", row["size"], message, "search.batch_size", value))
    return findings


def _trial_training(row: Mapping[str, Any], variant: Any) -> tuple[Optional[int], float]:
    """The patience and min_delta a trial ran with: its stored config, else the spec's."""
    try:
        training = json.loads(row.get("config_json") or "{}").get("training") or {}
    except ValueError:
        training = {}
    fallback = variant.training if variant is not None else None
    patience = training.get("patience", fallback.patience if fallback is not None else None)
    min_delta = training.get("min_delta", fallback.min_delta if fallback is not None else 0.0)
    return patience, float(min_delta or 0.0)


def _trial_training_interval(row: Mapping[str, Any]) -> int:
    """The eval interval a trial ran with (its stored config; 1 if unknown)."""
    try:
        return int((json.loads(row.get("config_json") or "{}").get("training") or {}).get("eval_interval") or 1)
    except (ValueError, TypeError):
        return 1


def _still_improving_findings(rows: list[Mapping[str, Any]], variant: Any) -> list[Finding]:
    findings = []
    for size in _sizes_by_n(rows):
        mine = [r for r in rows if r["size"] == size and r.get("stop_reason") == StopReason.PATIENCE]
        improving = []
        for row in mine:
            patience, min_delta = _trial_training(row, variant)
            fall = still_improving(row, patience=patience, min_delta=min_delta)
            if fall is not None:
                improving.append((row, fall, patience))
        if not improving:
            continue
        patience = max((p for _, _, p in improving if p), default=None)
        interval = max(int(_trial_training_interval(r)) for r, _, _ in improving)
        # Three times the patience, and at least five evaluations' worth.
        value = max(3 * patience, 5 * interval) if patience else None
        ids = ", ".join(f"{r['trial_id']} (-{fall:.1%})" for r, fall, _ in improving)
        task = mine[0].get("task")
        set_to = f" (set training.patience={value})" if value else ""
        message = (f"{size}{_of_task(task)}: {len(improving)} of {len(mine)} trial(s) stopped by patience while "
                   f"the eval loss was still falling faster than training.min_delta per patience window over the "
                   f"last half of their evaluations: {ids}; raise training.patience{set_to}")
        findings.append(Finding("still_improving", size, message, "training.patience", value))
    return findings


def _seed_losses(rows: list[Mapping[str, Any]], size: str) -> list[float]:
    seed_phases = (Phase.SEED, Phase.FINETUNE_SEED)
    return [float(r["eval_loss"]) for r in rows if r["size"] == size and r["phase"] in seed_phases
            and r["status"] == "completed" and r["eval_loss"] is not None]


def _seed_spread_findings(rows: list[Mapping[str, Any]], task: Optional[str]) -> list[Finding]:
    sizes = _sizes_by_n(rows)
    spread = {}
    for size in sizes:
        losses = _seed_losses(rows, size)
        if len(losses) >= 2:
            spread[size] = (statistics.stdev(losses), statistics.fmean(losses))
    findings = []
    for index, size in enumerate(sizes):
        if size not in spread:
            continue
        neighbours = [spread[s][0] for s in sizes[max(0, index - 1):index + 2] if s != size and s in spread]
        sd, mean = spread[size]
        if not neighbours or sd < SPREAD_FLOOR * mean or sd <= SPREAD_FACTOR * max(max(neighbours), 1e-12):
            continue
        message = (f"{size}{_of_task(task)}: its seeds spread (sd {sd:.4f}) {sd / max(max(neighbours), 1e-12):.1f}x "
                   f"more than its neighbouring sizes' (sd {max(neighbours):.4f}); the size may train unstably "
                   "(check its learning rate and warmup) or have too few seeds: raise seeds, or re-run the size "
                   "(raylaws debug --rerun) to check it")
        findings.append(Finding("seed_spread", size, message, "seeds", None))
    return findings


def _off_law_findings(trials: pa.Table, design: Optional[str], task: Optional[str], law: Any,
                      others: list[Finding], *, n_bootstrap: int, level: float,
                      random_state: Optional[int]) -> list[Finding]:
    from raylaws import fit

    rows = views.fit_rows(trials, task=task, design=design)
    if len(set(rows.n_params)) < 3:
        return []
    try:
        if law is None:
            if not n_bootstrap:
                return []
            law = fit.PowerLaw("power", n_bootstrap=n_bootstrap, random_state=random_state)
        if not getattr(law, "n_bootstrap", 0):
            return []
        table = fit.off_law(law, rows.n_params, rows.values, level=level)
    except ValueError:  # too few sizes to leave one out, or a fit that failed
        return []
    size_of = dict(zip(rows.n_params, rows.sizes))
    findings = []
    for row in table.to_pylist():
        if not row["flagged"]:
            continue
        size = size_of.get(float(row["n_params"]), f"N={row['n_params']:,.0f}")
        causes = [f for f in others if f.size == size]
        if row["direction"] == "above" and causes:
            hint = "likely cause: " + "; ".join(_cause(f) for f in causes)
        elif row["direction"] == "above":
            hint = ("likely under-trained or stopped too early (no cause found: the best config lies inside the "
                    "search space and no trial stopped by patience while improving; try a longer training budget)")
        else:
            hint = "better than the law of the other sizes"
        first = causes[0] if causes and row["direction"] == "above" else None
        message = (f"{size}{_of_task(task)} (N={row['n_params']:,.0f}) lies {row['direction']} the law fitted to the "
                   f"other sizes by {row['rel_deviation']:+.1%}, outside its {level:.0%} interval: {hint}")
        findings.append(Finding("off_law", size, message, first.field if first else None,
                                first.value if first else None))
    return findings


def _cause(finding: Finding) -> str:
    what = {"lr_edge": "best learning rate on an edge of the search box",
            "batch_edge": "best batch size on an edge of the choices",
            "still_improving": "stopped by patience while still improving",
            "seed_spread": "seeds spread far more than the neighbouring sizes'"}[finding.kind]
    change = f"{finding.field}={finding.value}" if finding.value is not None else finding.field
    return f"{what} (change {change})" if change else what


def size_deviations(trials: pa.Table, *, design: Optional[str] = None,
                    task: Optional[str] = None) -> dict[str, float]:
    """Per size: (observed - predicted) / predicted, with the power law fitted to the other sizes
    (observed: geometric mean over the size's seeds). Empty with fewer than 3 sizes."""
    from raylaws.fit import DegenerateFitWarning, PowerLaw

    rows = views.fit_rows(trials, task=task, design=design)
    n = np.asarray(rows.n_params, dtype=float)
    y = np.asarray(rows.values, dtype=float)
    sizes = list(dict.fromkeys(rows.sizes))
    if len(sizes) < 3:
        return {}
    names = np.asarray(rows.sizes, dtype=object)
    out = {}
    for size in sizes:
        this = names == size
        with warnings.catch_warnings():  # a degenerate leave-one-out fit still gives the deviation asked for
            warnings.simplefilter("ignore", DegenerateFitWarning)
            law = PowerLaw("power", n_bootstrap=0).fit(n[~this], y[~this])
        observed = float(np.exp(np.mean(np.log(y[this]))))
        predicted = float(law.predict(float(n[this][0])))
        out[size] = (observed - predicted) / predicted
    return out


def _sizes_by_n(rows: list[Mapping[str, Any]]) -> list[str]:
    n_of = {r["size"]: r["n_params"] for r in rows}
    return sorted(n_of, key=lambda s: (n_of[s], s))


__all__ = ["EDGE_FRACTION", "SPREAD_FACTOR", "STILL_IMPROVING", "Finding", "diagnose", "lr_edge",
           "size_deviations", "still_improving"]
