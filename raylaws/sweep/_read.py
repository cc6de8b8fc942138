"""Reading a sweep: :func:`open` and the :class:`Sweep` it returns.

The directory's layout is :class:`raylaws.layout.SweepLayout`'s; the views of its results
(best per size, status, fit rows) are :mod:`raylaws.views`'.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional, Union

import pyarrow as pa

from raylaws import store, views
from raylaws.errors import SweepError
from raylaws.ladder import build_ladder
from raylaws.layout import SweepLayout
from raylaws.spec import ExperimentSpec, SpecError, load_spec, spec_from_dict
from raylaws.sweep._check import Finding, check
from raylaws.sweep._stored import sweep_layout


class Sweep:
    """A sweep directory, readable without Ray, also while the sweep runs.

    Example:
        >>> sweep = raylaws.open("results/demo")  # doctest: +SKIP
        >>> sweep.best_per_size().to_pandas()  # doctest: +SKIP
    """

    def __init__(self, path: Union[str, Path]) -> None:
        self.layout = SweepLayout.at(path)

    def __repr__(self) -> str:
        return f"Sweep({str(self.path)!r})"

    @property
    def path(self) -> Union[Path, str]:
        """The sweep's directory, or its URI for a sweep in object storage."""
        return self.layout.root if self.layout.uri is None else self.layout.uri

    @property
    def name(self) -> str:
        return self.layout.name

    @property
    def spec(self) -> ExperimentSpec:
        """The spec this sweep ran with (its stored ``spec.yaml``), named after its folder."""
        if self.layout.is_remote:
            from raylaws.spec import spec_from_text

            source = f"{self.layout.location} ({self.layout.SPEC})"
            spec = spec_from_text(self.layout.read_bytes(self.layout.spec).decode("utf-8"), source=source)
        else:
            spec = load_spec(self.layout.spec)
        if spec.name == self.name:
            return spec
        try:
            return spec_from_dict({**spec.model_dump(mode="json"), "name": self.name}, source=str(self.layout.spec))
        except SpecError:  # a folder name that is not a valid sweep name: `resume` says so
            return spec

    def sizes_without_result(self) -> list[str]:
        """The sizes of the ladder with no completed trial (nothing to fit for them)."""
        completed = {r["size"] for r in self.trials().to_pylist() if r["status"] == "completed"
                     and r["eval_loss"] is not None}
        return [size.name for size in build_ladder(self.spec) if size.name not in completed]

    def findings(self, *, n_bootstrap: int = 200, level: float = 0.95,
                 random_state: Optional[int] = 0) -> list[Any]:
        """What holds each size back, with the spec field to change: best learning rate or batch
        size on an edge of the search space, stopped by patience while still improving, seeds
        spread far above the neighbours', off the law (with the likely cause). Per design and
        target (pretraining, each task); see :func:`raylaws.diagnose.diagnose`."""
        from raylaws.diagnose import diagnose

        return diagnose(self.trials(), self.spec, n_bootstrap=n_bootstrap, level=level, random_state=random_state)

    def check(self) -> list["Finding"]:
        """Whatever is inconsistent in the sweep directory (see :func:`raylaws.check`)."""
        return check(self.path)

    def trials(self) -> pa.Table:
        """Every finished trial, one row each (see :data:`raylaws.store.TRIALS_SCHEMA`)."""
        return store.read_trials(self.layout.trials, self.layout.filesystem)

    def search_boxes(self) -> dict[str, Any]:
        """The learning-rate and batch-size boxes each size searched, oldest first, by size
        name (a ``strategy: size_aware`` sweep; empty otherwise, and for a sweep in object
        storage): :class:`raylaws.search.SearchBox` values."""
        if self.layout.is_remote:
            return {}
        from raylaws.search import journal_boxes

        return journal_boxes(self.layout.journal)

    def best_per_size(self, task: Optional[str] = None) -> pa.Table:
        """One row per size: the best config of its search and its loss over the seed re-runs
        (see :func:`raylaws.views.best_per_size`); with ``task``, of that finetuning task
        (losses are ``1 - metric``)."""
        if task is not None:
            self._check_task(task)
        return views.best_per_size(self.trials(), task=task)

    def status(self) -> pa.Table:
        """Per size, pretraining trials recorded of its budget, by phase and status (see
        :func:`raylaws.views.size_status`); finetuning trials are in :meth:`task_status`."""
        spec = self.spec
        return views.size_status(views.latest_rounds(self.trials()), build_ladder(spec), self.budgets())

    def budgets(self) -> dict[str, int]:
        """Trials each size of the ladder records, by name: ``spec.budget_per_size``, but for a
        size-aware search, whose later sizes may search less and whose widened boxes more, and
        for a ``seeds`` rule, whose sizes run the seeds their records decide."""
        from raylaws.search import size_budgets

        spec = self.spec
        return size_budgets(spec, build_ladder(spec), self.search_boxes(), views.latest_rounds(self.trials()))

    def task_status(self) -> pa.Table:
        """Per size and finetuning task, trials recorded of the task's budget (see
        :func:`raylaws.views.task_status`); empty for a sweep without ``finetune``."""
        spec = self.spec
        return views.task_status(self.trials(), build_ladder(spec), spec)

    def tasks(self) -> list[str]:
        """The finetuning tasks of the sweep's spec, in spec order."""
        finetune = self.spec.finetune
        return [task.name for task in finetune.tasks] if finetune is not None else []

    def model_path(self, trial_id: str) -> Optional[Path]:
        """The folder of the model ``trial_id`` kept (``from_pretrained`` loads it), or None.
        A local sweep only."""
        rows = [r for r in self.trials().to_pylist() if r["trial_id"] == trial_id and r.get("model_path")]
        if not rows or self.layout.is_remote:
            return None
        return self.layout.root / rows[0]["model_path"]

    def _check_task(self, task: str) -> None:
        if task not in self.tasks():
            known = ", ".join(self.tasks()) or "none: the sweep has no finetune phase"
            raise SweepError(f"--task {task!r} is not a task of sweep {self.name!r} (its tasks: {known})")

    def fit_rows(self, metric: str = "eval_loss", *, task: Optional[str] = None,
                 design: Optional[str] = None) -> views.FitRows:
        """Rows for a scaling-law fit: one per completed seed of each size's best config.

        A size with no completed seed re-run falls back to its best search trial, with a
        :class:`UserWarning` naming it.

        Args:
            metric: a numeric column of the trials table where lower is better (``eval_loss``).
            task: a finetuning task (its y = 1 - metric); None: the pretraining loss.
            design: the design to fit; required for a sweep with designs.

        Raises:
            ValueError: a sweep with designs and no ``design``, or a design or task not in it.
        """
        trials = self.trials()
        designs = views.designs_of(trials)
        if design is None and designs:
            raise ValueError(f"design: this sweep compares designs ({', '.join(designs)}); fit one of them "
                             "(design=...), or compare them with Sweep.compare")
        if design is not None and design not in designs:
            raise ValueError(f"design: {design!r} is not a design of this sweep ({', '.join(designs) or 'it has none'})")
        if task is not None and task not in views.tasks_of(trials):
            raise ValueError(f"task: no finetuning records of task {task!r} "
                             f"({', '.join(views.tasks_of(trials)) or 'none recorded'})")
        rows = views.fit_rows(trials, metric, task=task, design=design)
        if rows.fallback:
            warnings.warn(f"no completed seed re-runs for {', '.join(rows.fallback)}; using the best search trial "
                          "instead", UserWarning, stacklevel=2)
        return rows

    def fit(
        self,
        form: str = "power",
        *,
        metric: str = "eval_loss",
        loss: str = "auto",
        n_bootstrap: int = 1000,
        random_state: Optional[int] = 0,
        rows: Optional[views.FitRows] = None,
        task: Optional[str] = None,
        design: Optional[str] = None,
    ) -> Any:
        """Fit a scaling law of ``metric`` against N (the paper's non-embedding count).

        For R^2, the backtest MRE and the paper's verdict per task and design, see :meth:`laws`.

        Args:
            form: ``power`` (the paper's ln y = -alpha ln N + b), ``saturating`` (E + A N^-alpha),
                ``sigmoid``, ``m4`` or ``auto`` (see :class:`raylaws.fit.PowerLaw`).
            metric: see :meth:`fit_rows`.
            loss: ``auto``, ``squared`` or ``huber`` (see :class:`raylaws.fit.PowerLaw`).
            n_bootstrap: hierarchical bootstrap replicates (sizes, then seeds within sizes).
            random_state: seed of the bootstrap.
            rows: rows from :meth:`fit_rows`, if already read.
            task: a finetuning task (y = 1 - its metric); None: the pretraining loss.
            design: the design to fit (required for a sweep with designs).

        Returns:
            The fitted :class:`raylaws.fit.PowerLaw`.
        """
        from raylaws.fit import PowerLaw

        rows = rows if rows is not None else self.fit_rows(metric, task=task, design=design)
        return PowerLaw(form, loss=loss, n_bootstrap=n_bootstrap, random_state=random_state).fit(  # type: ignore[arg-type]
            rows.n_params, rows.values)


    def laws(self, *, task: Optional[str] = None, all_tasks: bool = False, design: Optional[str] = None,
             form: str = "power", n_bootstrap: int = 1000, random_state: Optional[int] = 0,
             metric: str = "eval_loss") -> list[Any]:
        """The sweep's laws with the paper's verdict: per design, for the pretraining loss, one
        ``task``, or (``all_tasks``) the pretraining loss and every task recorded.

        Returns:
            :class:`raylaws.laws.TargetLaw` list: law, R^2, backtest MRE, verdict.

        Raises:
            ValueError: a task or design that is not in the sweep.
        """
        from raylaws.laws import fit_laws

        return fit_laws(self.trials(), task=task, all_tasks=all_tasks, design=design, form=form,
                        n_bootstrap=n_bootstrap, random_state=random_state, metric=metric)

    def compare(self, *, at: float, design_a: Optional[str] = None, design_b: Optional[str] = None,
                level: float = 0.95, n_bootstrap: int = 1000, random_state: int = 0,
                form: str = "power") -> list[Any]:
        """The predicted gap between two designs at N (non-embedding), for the pretraining loss
        and each task: :class:`raylaws.laws.DesignComparison` list, with its CI, P(a better) and
        whether a law is too weak (R^2 < 0.95) to trust it. See :func:`raylaws.laws.compare_designs`."""
        from raylaws.laws import compare_designs

        return compare_designs(self.trials(), at=at, design_a=design_a, design_b=design_b, level=level,
                               n_bootstrap=n_bootstrap, random_state=random_state, form=form)


def open(path: Union[str, Path]) -> Sweep:  # noqa: A001 - the public name is raylaws.open
    """Open a sweep directory (no Ray needed; works while the sweep is running).

    Raises:
        SweepError: if ``path`` is not a sweep directory.
    """
    layout = sweep_layout(path)
    return Sweep(layout.uri if layout.is_remote else layout.root)  # type: ignore[arg-type]
