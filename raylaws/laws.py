"""A sweep's laws: one per (design, target), with the paper's verdict, and designs compared.

A *target* is what a law is fitted to: the pretraining loss (``task`` None) or a finetuning
task, whose records hold y = 1 - metric in ``eval_loss`` (Ivgi et al. 2022 plot it so). The
paper's rule for whether a law can be used: R^2 >= 0.95 ("predictions hold"); below that the
law is "too weak to predict" (their tasks under 10K training examples all fell below 0.85),
a comparison of two designs on it is not to be trusted, and :mod:`raylaws.causes` names the
likely causes (``TargetLaw.causes``).

N is the paper's non-embedding parameter count 12*L*H^2 throughout. Pure pyarrow/numpy/scipy:
no Ray, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Optional

import pyarrow as pa

from raylaws import views
from raylaws.causes import Cause, likely_causes
from raylaws.fit import Comparison, PowerLaw, backtest, compare

R2_THRESHOLD = 0.95  # the paper's bar for a law whose predictions hold
HOLDOUT = 2  # largest sizes the backtest holds out (the paper's)
HOLDS, TOO_WEAK = "predictions hold", "law too weak to predict"


@dataclass(frozen=True)
class TargetLaw:
    """The law of one target (pretraining loss or a task) of one design.

    Attributes:
        design: the design (None: a sweep without designs).
        task: the finetuning task (None: the pretraining loss).
        law: the fitted :class:`raylaws.fit.PowerLaw` (None when it could not be fitted).
        r2: R^2 of the fit in log-log space (None without a law).
        mre: backtest mean relative error: fit without the largest ``holdout`` sizes, predict
            them (None when there are too few sizes).
        holdout: sizes held out by the backtest.
        fallback: sizes without a completed seed, whose best search trial stands in.
        note: why there is no law or no backtest ("" otherwise).
        backtest: the :class:`raylaws.fit.BacktestResult` behind ``mre`` (None without one).
        causes: where R^2 < 0.95, the likely causes, strongest first (:mod:`raylaws.causes`;
            empty when the law holds, when there is no law, or when no rule holds).
    """

    design: Optional[str]
    task: Optional[str]
    law: Any
    r2: Optional[float]
    mre: Optional[float]
    holdout: int
    fallback: tuple[str, ...]
    note: str = ""
    backtest: Any = None
    causes: tuple[Cause, ...] = ()

    @property
    def target(self) -> str:
        """``pretraining loss`` or ``task <name>``."""
        return "pretraining loss" if self.task is None else f"task {self.task}"

    @property
    def verdict(self) -> str:
        """The paper's rule: R^2 >= 0.95 -> "predictions hold", else "law too weak to predict"."""
        return HOLDS if self.r2 is not None and self.r2 >= R2_THRESHOLD else TOO_WEAK


@dataclass(frozen=True)
class DesignComparison(Comparison):
    """Two designs' laws compared at N: the paper's model selection on one target. Its
    :class:`raylaws.fit.Comparison` fields (``at``, ``difference`` = a's prediction minus b's,
    ``ci``, ``level``, ``p_a_better``, ``paired``), and:

    Attributes:
        task: the target (None: pretraining loss).
        design_a, design_b: the designs.
        r2_a, r2_b: R^2 of each design's law.
        weak: whether either law has R^2 below 0.95, so the comparison is not to be trusted.
    """

    task: Optional[str]
    design_a: str
    design_b: str
    r2_a: float
    r2_b: float

    @property
    def weak(self) -> bool:
        return min(self.r2_a, self.r2_b) < R2_THRESHOLD


def fit_law(trials: pa.Table, *, task: Optional[str] = None, design: Optional[str] = None, form: str = "power",
            n_bootstrap: int = 1000, random_state: Optional[int] = 0, metric: str = "eval_loss") -> TargetLaw:
    """Fit the law of one target of one design, with its R^2, backtest MRE and verdict.

    Args:
        trials: the sweep's trials table.
        task: a finetuning task, or None for the pretraining loss.
        design: a design of the sweep, or None (a sweep without designs).
        form: the law's form (see :class:`raylaws.fit.PowerLaw`).
        n_bootstrap: hierarchical bootstrap replicates (0: none; :func:`compare_designs` needs them).
        random_state: seed of the bootstrap; equal seeds give matched draws across designs.
        metric: the trials column fitted (lower is better).
    """
    rows = views.fit_rows(trials, metric, task=task, design=design)
    return with_causes(law_of_rows(rows, task=task, design=design, form=form, n_bootstrap=n_bootstrap,
                                   random_state=random_state), trials, rows, metric=metric)


def with_causes(target: TargetLaw, trials: pa.Table, rows: views.FitRows, *, metric: str = "eval_loss") -> TargetLaw:
    """``target`` with its likely causes (:func:`raylaws.causes.likely_causes`) where its R^2 is
    below :data:`R2_THRESHOLD`; ``rows`` are those it was fitted to, from ``trials``."""
    if target.r2 is None or target.r2 >= R2_THRESHOLD:
        return target
    return replace(target, causes=likely_causes(trials, rows, r2=target.r2, bar=R2_THRESHOLD, task=target.task,
                                                design=target.design, metric=metric))


def law_of_rows(rows: views.FitRows, *, task: Optional[str] = None, design: Optional[str] = None,
                form: str = "power", n_bootstrap: int = 1000, random_state: Optional[int] = 0) -> TargetLaw:
    """:func:`fit_law` on rows already taken from the trials (:func:`raylaws.views.fit_rows`);
    ``task`` and ``design`` only label the result."""
    n_sizes = len(set(rows.n_params))
    fallback = tuple(rows.fallback)
    if n_sizes < 2:
        what = "no size has" if n_sizes == 0 else "only one size has"
        return TargetLaw(design, task, None, None, None, 0, fallback,
                         f"{what} a completed trial yet; a law needs 2 or more")
    try:
        law = PowerLaw(form, n_bootstrap=n_bootstrap, random_state=random_state).fit(  # type: ignore[arg-type]
            rows.n_params, rows.values)
    except ValueError as error:
        return TargetLaw(design, task, None, None, None, 0, fallback, f"the fit failed: {error}")
    holdout = min(HOLDOUT, n_sizes - 2)
    result, note = None, ""
    if holdout < 1:
        note = f"no backtest: {n_sizes} sizes, it needs 3 or more (fit on 2, predict the rest)"
    else:
        try:
            result = backtest(PowerLaw(law.form, n_bootstrap=0), rows.n_params, rows.values, holdout=holdout)
        except ValueError as error:
            note = f"no backtest: {error}"
        if result is not None and holdout < HOLDOUT:
            note = f"only {n_sizes} sizes: the backtest held out the largest {holdout}, not {HOLDOUT}"
    return TargetLaw(design, task, law, float(law.r2_), result.mre if result is not None else None, holdout,
                     fallback, note, result)


def fit_laws(trials: pa.Table, *, task: Optional[str] = None, all_tasks: bool = False,
             design: Optional[str] = None, **options: Any) -> list[TargetLaw]:
    """The laws of a sweep: per design (every design, or ``design``), per target.

    Args:
        trials: the sweep's trials table.
        task: one finetuning task; None with ``all_tasks`` False: the pretraining loss.
        all_tasks: the pretraining loss and every task recorded.
        design: one design; None: every design of the sweep (or the sweep itself).
        options: passed to :func:`fit_law`.

    Raises:
        ValueError: ``task`` or ``design`` is not in the sweep, naming the ones that are.
    """
    designs, tasks = views.designs_of(trials), views.tasks_of(trials)
    if design is not None and design not in designs:
        raise ValueError(f"design: {design!r} is not a design of this sweep ({', '.join(designs) or 'it has none'})")
    if task is not None and task not in tasks:
        raise ValueError(f"task: no finetuning records of task {task!r} ({', '.join(tasks) or 'none recorded'})")
    targets: list[Optional[str]] = [None, *tasks] if all_tasks else [task]
    return [fit_law(trials, task=target, design=name, **options)
            for name in ([design] if design is not None else designs or [None]) for target in targets]


def compare_designs(trials: pa.Table, *, at: float, design_a: Optional[str] = None, design_b: Optional[str] = None,
                    level: float = 0.95, n_bootstrap: int = 1000, random_state: int = 0,
                    form: str = "power") -> list[DesignComparison]:
    """The predicted gap between two designs at N, for the pretraining loss and each task.

    Both laws are fitted with the same bootstrap seed, so on the same sizes their hierarchical
    bootstrap draws match replicate by replicate (``paired``), and the interval of the gap
    excludes the size-to-size noise they share (:func:`raylaws.fit.compare`).

    Args:
        trials: the sweep's trials table.
        at: N (non-embedding parameters) to compare at, typically beyond the largest size.
        design_a, design_b: the designs (default: the sweep's first two).
        level: coverage of the interval.
        n_bootstrap, random_state, form: of both fits.

    Returns:
        One comparison per target both designs have a law for: pretraining first, then tasks.

    Raises:
        ValueError: the sweep has fewer than two designs, or a named design is not in it.
    """
    designs = views.designs_of(trials)
    if len(designs) < 2:
        raise ValueError(f"designs: a comparison needs a sweep with two or more designs (spec 'designs:'); "
                         f"this one has {', '.join(designs) or 'none'}")
    a = design_a or designs[0]
    b = design_b or next(name for name in designs if name != a)
    for which, name in (("design_a", a), ("design_b", b)):
        if name not in designs:
            raise ValueError(f"{which}: {name!r} is not a design of this sweep ({', '.join(designs)})")
    if a == b:
        raise ValueError(f"design_b: compare {a!r} with another design ({', '.join(d for d in designs if d != a)})")
    out = []
    for task in [None, *views.tasks_of(trials)]:
        options = dict(task=task, form=form, n_bootstrap=n_bootstrap, random_state=random_state)
        law_a, law_b = fit_law(trials, design=a, **options), fit_law(trials, design=b, **options)  # type: ignore[arg-type]
        if law_a.law is None or law_b.law is None or not n_bootstrap:
            continue
        result = compare(law_a.law, law_b.law, at=at, level=level)
        out.append(DesignComparison(**{f.name: getattr(result, f.name) for f in fields(result)}, task=task,
                                    design_a=a, design_b=b, r2_a=float(law_a.r2 or 0.0), r2_b=float(law_b.r2 or 0.0)))
    return out


__all__ = ["HOLDS", "R2_THRESHOLD", "TOO_WEAK", "DesignComparison", "TargetLaw", "compare_designs", "fit_law",
           "fit_laws", "law_of_rows", "with_causes"]
