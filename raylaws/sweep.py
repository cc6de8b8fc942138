"""A sweep: one directory holding what ran and what came out, and the public ``run``/``open``.

The directory's layout is :class:`raylaws.layout.SweepLayout`'s; the views of its results
(best per size, status, fit rows) are :mod:`raylaws.views`'.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

import pyarrow as pa
import yaml

from raylaws import store, views
from raylaws.errors import SweepError, SweepInterrupted
from raylaws.ladder import build_ladder
from raylaws.layout import LayoutError, SweepLayout
from raylaws.spec import ExperimentSpec, SpecError, SpecProblem, design_spec, load_spec, spec_from_dict, spec_hash

logger = logging.getLogger(__name__)


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
        """Whatever is inconsistent in the sweep directory (see :func:`check`)."""
        return check(self.path)

    def trials(self) -> pa.Table:
        """Every finished trial, one row each (see :data:`raylaws.store.TRIALS_SCHEMA`)."""
        return store.read_trials(self.layout.trials, self.layout.filesystem)

    def search_boxes(self) -> dict[str, Any]:
        """The learning-rate and batch-size boxes each size searched, oldest first, by size
        name (a ``strategy: size_aware`` sweep; empty otherwise, and for a sweep in object
        storage): :class:`raylaws.search._size_aware.SearchBox` values."""
        if self.layout.is_remote:
            return {}
        from raylaws.search._size_aware import journal_boxes

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
        size-aware search, whose later sizes may search less and whose widened boxes more."""
        from raylaws.search._size_aware import size_budgets

        spec = self.spec
        return size_budgets(spec, build_ladder(spec), self.search_boxes())

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
    layout = _layout_at(path)
    if layout.is_remote:
        if not _remote_call(layout.exists, layout):
            raise SweepError(f"{layout.location!r} is not a sweep (it has no {layout.SPEC}); give <storage>/<name> of "
                             "a sweep started with `raylaws run`")
        return Sweep(layout.uri)  # type: ignore[arg-type]
    if not layout.exists():
        hint = ("it does not exist" if not layout.root.exists()
                else f"it holds trials but no {layout.spec.name}" if _holds_trials(layout)
                else f"it has no {layout.spec.name}")
        raise SweepError(f"{str(layout.root)!r} is not a sweep directory ({hint}); give <storage>/<name> of a sweep "
                         "started with `raylaws run`")
    return Sweep(layout.root)


def run(
    spec: Union[ExperimentSpec, str, Path],
    *,
    storage: Union[str, Path] = "results",
    name: Optional[str] = None,
    address: Optional[str] = None,
    on_event: Optional[Callable[[Any], None]] = None,
    on_start: Optional[Callable[[Any], None]] = None,
    on_data: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """Run a tuned, multi-seed scaling sweep and return it, or resume it.

    Every input is checked before Ray starts (the spec, the data source, each size's memory
    per trial on a local run, the cluster address) and the spec is stored only once they all
    passed. The sweep lives in ``storage/name`` and its name is that folder's name; if the
    folder holds a sweep of the same spec (the name aside), it is resumed (a different spec,
    an edited ``spec.yaml`` or trials without one are refused, naming what differs). Only one
    driver runs a sweep at a time (a lock).

    Args:
        spec: an :class:`ExperimentSpec` or the path of a spec YAML file.
        storage: the root directory of sweeps.
        name: the sweep's name; defaults to the spec's ``name``.
        address: a Ray cluster address (``auto``, ``host:port``, ``ray://host:port``); None
            starts a local Ray in this process and shuts it down at the end.
        on_event: called in this process for each trial started or finished (progress displays).
        on_start: called once with the :class:`raylaws.search.SweepPlanner` before trials start.
        on_data: called every few seconds with a :class:`raylaws.data.PrepareProgress` while
            the corpus is prepared (not at all when it was prepared before).

    Returns:
        The finished :class:`Sweep`.

    Raises:
        SpecError: the spec is invalid, or differs from the one stored in the sweep.
        SweepError: storage or address unusable, a size too big for this machine, an edited
            or missing stored spec, a record that cannot be written, or the sweep is being
            run by another driver.
        SweepInterrupted: stopped (Ctrl-C) before the budget was met; resumable.
    """
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    if name is not None and name != spec.name:  # the same naming rules as the spec's own name
        spec = spec_from_dict({**spec.model_dump(mode="json"), "name": name})
    sizes = build_ladder(spec)
    try:
        layout = SweepLayout.of(storage, spec.name)
    except LayoutError as error:
        raise SweepError(str(error)) from None
    if layout.is_remote:
        return _remote_call(lambda: _run_remote(layout, spec, sizes, address=address, on_event=on_event,
                                                on_start=on_start, on_data=on_data), layout)
    return _run_local(layout, spec, sizes, address=address, on_event=on_event, on_start=on_start, on_data=on_data)


def _run_local(
    layout: SweepLayout,
    spec: ExperimentSpec,
    sizes: Any,
    *,
    address: Optional[str],
    on_event: Optional[Callable[[Any], None]],
    on_start: Optional[Callable[[Any], None]],
    mirror: Any = None,
    size_specs: Optional[dict[str, ExperimentSpec]] = None,
    on_data: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """:func:`run` in a local directory; with ``mirror``, that directory mirrors a remote sweep
    and each new record, journal append and event is published to it (:mod:`raylaws.remote`).
    ``size_specs``: the spec of each size by key (default: its design's; a re-run round's own)."""
    location = mirror.remote.location if mirror is not None else str(layout.root)
    _check_stored(layout, spec)  # read-only: nothing is written until every check has passed
    from raylaws.data import check_source, prepare
    from raylaws.memory import check_memory

    size_specs = size_specs or {size.key: design_spec(spec, size.design) for size in sizes}
    variants = list({id(v): v for v in size_specs.values()}.values())
    for variant in variants:
        check_source(variant.data)
    check_source(spec.data)
    from raylaws.tasks import check_tasks, prepare_tasks

    check_tasks(spec)
    if spec.finetune is not None and spec.data.tokenizer.kind == "none":
        raise SpecError([SpecProblem("data.tokenizer.kind", "the sweep finetunes, and its tasks need the tokenizer "
                                                            "the ids were made with; give kind 'pretrained' or "
                                                            "'file' with its path, or drop finetune")])
    if spec.finetune is not None and any(variant.data != spec.data for variant in variants):
        raise SpecError([SpecProblem("designs", "a design changes 'data' while the sweep finetunes: the tasks are "
                                                "tokenized with the sweep's own tokenizer; keep data the same in "
                                                "every design, or drop finetune")])
    if address is None:
        for variant in variants:
            check_memory(variant, tuple(s for s in sizes if size_specs[s.key] is variant),
                         vocab_size=_vocab_size(variant))
    else:
        check_address(address)
    try:
        layout.create()
    except LayoutError as error:
        raise SweepError(str(error)) from None
    from raylaws.tune import connect_cluster

    connect_cluster(address)  # on a cluster, the data is prepared by Ray tasks across its nodes
    prepared: dict[Any, Any] = {}

    def prepare_once(data_spec: Any) -> Any:
        """Each distinct data spec's corpus, prepared once and published where every node of a
        cluster pulls it from: ``data.cache``, else ``<storage>/_data`` (object storage, or the
        shared disk a cluster's sweep must be on); a local run reads the cache as it is."""
        if data_spec not in prepared:
            corpus = prepare(data_spec, progress=on_data)
            uri = data_spec.cache or (_data_uri(mirror.remote) if mirror is not None else
                                      str(layout.root.resolve().parent / "_data") if address is not None else None)
            prepared[data_spec] = _published(corpus, uri) if uri else corpus
        return prepared[data_spec]

    data = prepare_once(spec.data)
    data_by_size = _data_by_size(spec, sizes, size_specs, data, prepare_once)
    tasks = prepare_tasks(spec, data.tokenizer_path, eos_id=data.eos_id, pad_id=data.pad_id)

    from raylaws.faults import Faults
    from raylaws.search import SweepPlanner
    from raylaws.tune import kill_stale_ray_processes, run_trials

    faults = Faults.from_env()
    with _SweepLock(layout):
        _check_stored(layout, spec)  # again, now that no other driver can change it
        _store_spec(layout, spec, data.fingerprint)
        if mirror is not None:
            mirror.push_spec()
        kill_stale_ray_processes(layout)  # a hard-killed earlier driver's local Ray
        store.clean_stray(layout.trials)
        from raylaws.train import clean_partial_models

        clean_partial_models(layout.models)  # a killed writer's half-written model
        planner: Optional[SweepPlanner] = None

        def after_record(trial_id: str) -> None:
            if mirror is not None:  # in the store before its study is told: a crash then costs a tell, no trial
                _publish(lambda: mirror.push_record(trial_id), planner)
            faults.maybe_pause_after_record(trial_id, lambda t: planner.log("paused", t) if planner else None)

        if mirror is not None:
            on_event = _publishing(mirror, on_event, lambda: planner)
        planner = SweepPlanner(spec, sizes, layout, data_fingerprint=data.fingerprint, on_event=on_event,
                               after_record=after_record, size_specs=size_specs)
        if on_start is not None:
            on_start(planner)
        if not planner.is_finished():
            _hide_tune_restore_hint()
            try:
                run_trials(planner, spec, data_by_size, layout, address=address, faults=faults,
                           tune_at=mirror.remote if mirror is not None else None, tasks=tasks)
            except KeyboardInterrupt:
                raise _interrupted(planner, location) from None
            except Exception as error:  # a SweepError raised inside Tune (a full disk) comes out wrapped
                cause = _sweep_error_in(error)
                if cause is None:
                    raise
                raise cause from None
            if planner.failure is not None:
                raise planner.failure
            if not planner.is_finished():
                raise _interrupted(planner, location)
    return Sweep(layout.root)


def _data_uri(remote: SweepLayout) -> str:
    """Where a remote sweep publishes its prepared data: ``<storage>/_data`` (shared by the
    sweeps of one storage, each corpus under its key)."""
    base, sep, query = str(remote.uri).partition("?")
    return f"{base.rstrip('/').rsplit('/', 1)[0]}/_data{sep}{query}"


def _published(data: Any, uri: str) -> Any:
    import dataclasses

    from raylaws.data import publish

    try:
        remote = publish(data, uri)
    except OSError as error:
        raise SweepError(f"cannot publish the prepared data to {uri.split('?')[0]!r} ({str(error).splitlines()[0]}); "
                         "check data.cache or the storage") from None
    return dataclasses.replace(data, train=data.train.published(remote))


def _data_by_size(spec: ExperimentSpec, sizes: Any, size_specs: dict[str, ExperimentSpec], data: Any,
                  prepare: Callable[[Any], Any]) -> dict[str, Any]:
    """The token streams of each size: the spec's own, or its own spec's where a design (or a
    re-run) changes ``data`` (prepared once per distinct data spec)."""
    prepared = {spec.data: data}
    out = {}
    for size in sizes:
        data_spec = size_specs[size.key].data
        if data_spec not in prepared:
            prepared[data_spec] = prepare(data_spec)
        out[size.key] = prepared[data_spec]
    return out


def _publishing(mirror: Any, on_event: Optional[Callable[[Any], None]], planner: Callable[[], Any]) -> Callable[[Any], None]:
    """``on_event`` that first publishes the journal and events (called in the planner's lock, right
    after each ask and each tell); a lost lease stops the sweep like a full disk does."""
    def publish(event: Any) -> None:
        _publish(mirror.push_state, planner())
        if on_event is not None:
            on_event(event)
    return publish


def _publish(action: Callable[[], Any], planner: Any) -> None:
    """Publish to the store; if that fails (a lost lease, the store down) no trial starts after
    it and the sweep stops with the error once the running ones end, as after a full disk."""
    try:
        action()
    except (SweepError, OSError) as error:
        if planner is not None and planner.failure is None:
            planner.failure = error if isinstance(error, SweepError) else SweepError(
                f"cannot publish to the sweep's storage ({str(error).splitlines()[0]}); `raylaws resume` it")


def _run_remote(layout: SweepLayout, spec: ExperimentSpec, sizes: Any, **options: Any) -> Sweep:
    """:func:`run` of a sweep in object storage: under its lease, in a mirror restored from it."""
    from raylaws.remote import Lease, LeaseLost, Mirror

    with Lease(layout) as lease:
        mirror = Mirror(layout, lease)
        mirror.restore()
        try:
            _run_local(mirror.local, spec, sizes, mirror=mirror, **options)
        finally:
            try:
                mirror.push_state()
            except LeaseLost:
                pass
            except OSError as error:
                logger.warning("could not publish the journal and events of %s (%s)", layout.location, error)
    return Sweep(layout.uri)  # type: ignore[arg-type]


def _layout_at(path: Union[str, Path]) -> SweepLayout:
    try:
        return SweepLayout.at(path)
    except LayoutError as error:
        raise SweepError(str(error)) from None


def _remote_call(action: Callable[[], Any], layout: SweepLayout) -> Any:
    """``action`` on a remote sweep, with the store's errors as one-line :class:`SweepError`."""
    try:
        return action()
    except OSError as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise SweepError(f"storage {layout.location!r}: {first}") from None


def rerun(
    path: Union[str, Path],
    changes: Optional[Mapping[str, Mapping[str, Any]]] = None,
    *,
    address: Optional[str] = None,
    on_event: Optional[Callable[[Any], None]] = None,
    on_start: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """Re-run sizes of a sweep as a new round, with spec fields set otherwise (debug re-runs).

    Each size's whole schedule (search, then seeds) trains again with its changes under its own
    studies and trial ids; its earlier rounds' records are kept (column ``round``), and views and
    fits use its latest round (see :mod:`raylaws.rounds`). The round is written down before any
    trial starts, so an interrupted re-run continues with ``changes`` None.

    Args:
        path: the sweep directory (local).
        changes: size name -> {dotted spec field: value}, e.g. ``{"L1-H12": {"training.patience":
            600}}`` (an empty mapping re-runs the size unchanged); None: continue the latest
            round, which must be unfinished.
        address, on_event, on_start: as for :func:`run`.

    Returns:
        The sweep, its new round recorded.

    Raises:
        SpecError: a change that does not validate (naming the field) or that changes the budget.
        SweepError: a remote sweep, an unknown size, nothing to continue, or an unfinished round
            when a new one is asked for.
    """
    from dataclasses import replace

    from raylaws.rounds import next_round, read_rounds, write_rounds
    from raylaws.spec import with_overrides

    sweep = open(path)
    if sweep.layout.is_remote:
        raise SweepError(f"{sweep.layout.location}: debug re-runs work on a local sweep directory")
    spec = sweep.spec
    ladder = {size.name: size for size in build_ladder(spec)}
    rounds = read_rounds(sweep.path)
    unfinished = rounds and not _round_finished(sweep, rounds[-1], spec)
    if changes is None:
        if not unfinished:
            raise SweepError(f"{sweep.path}: no unfinished re-run to continue; name sizes and changes to re-run")
        chosen = rounds[-1]
    elif unfinished:
        raise SweepError(f"{sweep.path}: re-run round {rounds[-1].number} of {', '.join(rounds[-1].sizes)} is "
                         "unfinished; continue it first (`raylaws debug SWEEP --rerun --continue`)")
    else:
        unknown = sorted(set(changes) - set(ladder))
        if unknown:
            raise SweepError(f"size {', '.join(unknown)}: not a size of this sweep ({', '.join(ladder)})")
        if not changes:
            raise SweepError(f"{sweep.path}: nothing to re-run (no size named)")
        chosen = next_round(rounds, changes)
    sizes = tuple(replace(ladder[name], round=chosen.number) for name in chosen.sizes)
    size_specs = {size.key: with_overrides(design_spec(spec, size.design), chosen.sizes[size.name],
                                           field=f"{size.name} --set") for size in sizes}
    if changes is not None:
        write_rounds(sweep.path, [*rounds, chosen])
    _run_local(sweep.layout, spec, sizes, address=address, on_event=on_event, on_start=on_start,
               size_specs=size_specs)
    return sweep


def _round_finished(sweep: Sweep, chosen: Any, spec: ExperimentSpec) -> bool:
    """Whether every size of a re-run round has its whole budget recorded (or can go no further:
    a search that ended with no completed trial)."""
    rows = [r for r in sweep.trials().to_pylist() if (r.get("round") or 0) == chosen.number]
    for size in chosen.sizes:
        mine = [r for r in rows if r["size"] == size and r.get("task") is None]
        searched = [r for r in mine if r["phase"] == "search"]
        if len(mine) >= spec.budget_per_size:
            continue
        if len(searched) >= spec.search.trials_per_size and not any(r["status"] == "completed" for r in searched):
            continue
        return False
    return True


def resume(
    path: Union[str, Path],
    *,
    address: Optional[str] = None,
    on_event: Optional[Callable[[Any], None]] = None,
    on_start: Optional[Callable[[Any], None]] = None,
    on_data: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """Resume an interrupted sweep from its directory alone (see :func:`run`).

    Finished trials keep their one record and are not trained again; trials that were running
    are run again under the same ``trial_id``; the per-size budgets end exactly met.
    """
    sweep = open(path)
    return run(sweep.spec, storage=sweep.layout.storage, name=sweep.name, address=address,
               on_event=on_event, on_start=on_start, on_data=on_data)


class _NoTuneRestoreHint(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)" after Ctrl-C: a raylaws sweep
    resumes with ``raylaws resume`` (the CLI says so)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore" not in record.getMessage()


def _hide_tune_restore_hint() -> None:
    tune_logger = logging.getLogger("ray.tune.tune")  # where Tune logs the hint (ray/tune/tune.py)
    if not any(isinstance(f, _NoTuneRestoreHint) for f in tune_logger.filters):
        tune_logger.addFilter(_NoTuneRestoreHint())


def _sweep_error_in(error: BaseException) -> Optional[SweepError]:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, SweepError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return None


@dataclass(frozen=True)
class Finding:
    """One inconsistency in a sweep directory: what kind, which file, what is wrong."""

    kind: str  # "bad record", "staged leftover", "journal", "spec"
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.message}"


def check(path: Union[str, Path]) -> list[Finding]:
    """Everything inconsistent in the sweep directory ``path``, changing nothing.

    Lists the record files that cannot be read, the staged files of a writer that died, a
    ``spec.yaml`` edited since the sweep started (or missing under trials), records made with
    another spec hash, and where the Optuna journal and the records disagree (a finished
    study trial without a record, a search record without a study trial, or different
    outcomes). A trial left running by a killed driver is not a finding: resume re-runs it.

    Raises:
        SweepError: ``path`` holds no sweep at all.
    """
    from raylaws.search._schedule import study_trial_id
    from raylaws.search._studies import journal_trials

    layout = _layout_at(path)
    if layout.is_remote:
        return _check_remote(layout)
    if not layout.spec.exists() and not _holds_trials(layout):
        open(path)  # raises the one-line "not a sweep directory"
    findings: list[Finding] = []
    expected: Optional[str] = None
    if not layout.spec.exists():
        findings.append(Finding("spec", str(layout.spec), "missing, but the sweep holds trials"))
    else:
        try:
            expected = spec_hash(_stored_spec(layout))
        except SpecError as error:
            findings += [Finding("spec", str(layout.spec), str(problem)) for problem in error.problems]
        except SweepError as error:
            findings.append(Finding("spec", str(layout.spec), str(error)))
    scan = store.scan_trials(layout.trials)
    findings += [Finding("bad record", str(bad.path), bad.reason) for bad in scan.bad]
    findings += [Finding("staged leftover", str(staged), "a record staged by a writer that died (removed by the "
                                                         "next `raylaws resume`)") for staged in scan.staged]
    rows = scan.table.to_pylist()
    if expected is not None:
        findings += [Finding("spec", str(store.record_path(layout.trials, r["trial_id"])),
                             f"made with spec hash {r['spec_hash']}, not the sweep's {expected}")
                     for r in rows if r["spec_hash"] is not None and r["spec_hash"] != expected]
    try:
        studies = journal_trials(layout.journal)
    except Exception as error:  # a damaged journal
        first = (str(error).splitlines() or [type(error).__name__])[0]
        return findings + [Finding("journal", str(layout.journal), f"cannot be read ({first})")]
    by_id = {r["trial_id"]: r for r in rows}
    in_journal = set()
    for size, trials in studies.items():
        for trial in trials:
            trial_id = study_trial_id(size, trial.number)
            in_journal.add(trial_id)
            record = by_id.get(trial_id)
            if record is None:
                if trial.state.is_finished():
                    findings.append(Finding("journal", str(layout.journal),
                                            f"{trial_id} finished ({trial.state.name.lower()}) but has no record"))
                continue
            if trial.state.is_finished() and (trial.state.name == "COMPLETE") != (record["status"] == "completed"):
                findings.append(Finding("journal", str(layout.journal), f"{trial_id} is {trial.state.name.lower()} "
                                                                        f"in the journal but {record['status']} in its record"))
    findings += [Finding("journal", str(store.record_path(layout.trials, trial_id)),
                         "a search record with no trial in the journal")
                 for trial_id, r in by_id.items()
                 if r["phase"] in ("search", "finetune_search") and trial_id not in in_journal]
    return findings


def _check_remote(layout: SweepLayout) -> list[Finding]:
    """:func:`check` of a sweep in object storage: a snapshot downloaded to a temp folder,
    checked there; the findings name the store's keys."""
    import tempfile

    from raylaws.remote import download

    open(layout.uri)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory(prefix="raylaws-check-") as folder:
        local = SweepLayout(Path(folder) / layout.name)
        _remote_call(lambda: download(layout, local), layout)
        findings = check(local.root)
    base = layout.location.partition("?")[0].rstrip("/")
    return [Finding(f.kind, f.path.replace(str(local.root), base), f.message.replace(str(local.root), base))
            for f in findings]


def _interrupted(planner: Any, location: str) -> SweepInterrupted:
    return SweepInterrupted(f"interrupted with {planner.n_recorded()} of {planner.total_trials} trials recorded; "
                            f"continue with `raylaws resume {location}`")


class _SweepLock:
    """An exclusive, non-blocking lock on a sweep directory; the OS frees it if we die."""

    def __init__(self, layout: SweepLayout) -> None:
        self.path = layout.lock
        self._handle: Any = None

    def __enter__(self) -> "_SweepLock":
        import fcntl

        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SweepError(f"sweep {str(self.path.parent)!r} is already being run ({holder}); wait for it to "
                             "finish or stop it first") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc: Any) -> None:
        import fcntl

        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()


def _vocab_size(spec: ExperimentSpec) -> int:
    """The vocabulary a trial will have, known before the data is prepared."""
    tokenizer = spec.data.tokenizer
    if tokenizer.kind == "bpe":
        return tokenizer.vocab_size
    given = spec.data.tokens.vocab_size if spec.data.tokens is not None else 0
    if tokenizer.kind == "none":
        return given
    try:
        from raylaws.data._tokenizer import load

        return max(given, load(spec.data)[0].get_vocab_size())
    except Exception:  # an unreadable tokenizer is reported by the data checks
        return given


def _holds_trials(layout: SweepLayout) -> bool:
    """Whether the directory holds any trial: a record file or an Optuna journal."""
    trials = layout.trials
    try:
        has_records = trials.is_dir() and any(p.suffix == ".parquet" for p in trials.iterdir())
    except OSError:
        has_records = True  # unreadable: assume the worst, never re-spec it
    if has_records or not layout.journal.exists():
        return has_records
    from raylaws.search._studies import journal_trials

    try:  # studies are created before the cluster check; only their trials count
        return any(journal_trials(layout.journal).values())
    except Exception:  # a damaged journal: assume the worst
        return True


def _read_meta(layout: SweepLayout) -> dict[str, Any]:
    try:
        meta = json.loads(layout.meta.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise SweepError(f"{str(layout.meta)!r} cannot be read ({error}); `raylaws check` the sweep") from None
    return meta if isinstance(meta, dict) else {}


def _without_name(spec: ExperimentSpec) -> dict[str, Any]:
    resolved = spec.model_dump(mode="json")
    resolved.pop("name", None)
    return resolved


def _stored_spec(layout: SweepLayout) -> ExperimentSpec:
    """The sweep's ``spec.yaml``, checked against the hash (and copy) stored in ``sweep.json``.

    Raises:
        SweepError: ``spec.yaml`` was edited after the sweep started (naming what changed).
    """
    stored = load_spec(layout.spec)
    meta = _read_meta(layout)
    expected = meta.get("spec_hash")
    if expected is None or spec_hash(stored) == expected:  # a sweep from before spec hashes: trusted
        return stored
    original = meta.get("spec")
    changes = ""
    if isinstance(original, dict):
        try:
            was = spec_from_dict(original)
            changes = "; ".join(f"{field}: {old!r} -> {new!r}"
                                for field, old, new in _differences(_without_name(was), _without_name(stored))[:5])
        except SpecError:
            changes = ""
    raise SweepError(f"{str(layout.spec)!r} was edited after the sweep started ({changes or 'hash ' + expected + ' -> ' + spec_hash(stored)}); "
                     "put it back as it was, or start a new sweep with --name")


def _check_stored(layout: SweepLayout, spec: ExperimentSpec) -> None:
    """Refuse a spec that does not match what the sweep directory already holds. Read-only.

    * records (or a journal) but no ``spec.yaml``: refused, never re-specced;
    * an edited ``spec.yaml``: refused (see :func:`_stored_spec`);
    * a different spec than the stored one: refused once the sweep holds any trial (a sweep
      that holds none yet, stopped by a check before its first trial, takes the new spec);
    * records made under another spec hash: refused.

    The spec's ``name`` is not compared: a sweep's name is its folder's name.
    """
    holds = _holds_trials(layout)
    if not layout.spec.exists():
        if holds:
            raise SweepError(f"{str(layout.root)!r} holds trials but no {layout.spec.name}; its spec is unknown, so it "
                             "cannot be resumed or given a new spec: restore its spec.yaml, or run under another --name")
        return
    stored = _stored_spec(layout)
    if not holds:
        return
    differences = _differences(_without_name(stored), _without_name(spec))
    if differences:
        raise SpecError([SpecProblem(field, f"differs from the sweep in {str(layout.root)!r} "
                                            f"(stored {old!r}, given {new!r}); use the stored spec or "
                                            "start a new sweep with --name")
                         for field, old, new in differences[:20]])
    expected = spec_hash(stored)
    hashes = store.scan_trials(layout.trials).table.column("spec_hash").to_pylist()
    foreign = [h for h in hashes if h is not None and h != expected]
    if foreign:
        raise SweepError(f"{len(foreign)} record(s) in {str(layout.trials)!r} were made with another spec "
                         f"(hash {foreign[0]}, not {expected}); `raylaws check` the sweep")


def _store_spec(layout: SweepLayout, spec: ExperimentSpec, fingerprint: str) -> None:
    """Write ``sweep.json`` (versions, data fingerprint, spec hash and copy), then ``spec.yaml``.

    Called once every check has passed. A sweep's stored spec is never rewritten once it
    holds trials (:func:`_check_stored` refuses another); one from before spec hashes gets
    its hash added.
    """
    meta = _read_meta(layout)
    resolved = spec.model_dump(mode="json")
    if layout.spec.exists() and not _differences(_without_name(load_spec(layout.spec)), _without_name(spec)):
        if meta.get("spec_hash") == spec_hash(spec):
            return
        resolved = load_spec(layout.spec).model_dump(mode="json")  # adopt the stored spec as it is
    elif layout.spec.exists():
        logger.warning("%s holds no trial yet; its spec is replaced by the one given", layout.root)
    if not meta:
        import importlib.metadata as metadata

        versions = {}
        for package in ("raylaws", "ray", "optuna", "torch", "transformers", "pyarrow", "tokenizers"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                versions[package] = None
        meta = {"created_at": datetime.now(timezone.utc).isoformat(), "versions": versions}
    if meta.get("data_fingerprint", fingerprint) != fingerprint:
        logger.warning("sweep %s was started on data %s; its corpus is now %s (its source, data block or "
                       "raylaws' preparation changed): new records carry the new fingerprint",
                       layout.location, meta["data_fingerprint"], fingerprint)
    meta.update(data_fingerprint=meta.get("data_fingerprint", fingerprint),
                spec_hash=spec_hash(spec_from_dict(resolved)), spec=resolved)
    _write_atomic(layout.meta, json.dumps(meta, indent=2))
    if not layout.spec.exists() or resolved != load_spec(layout.spec).model_dump(mode="json"):
        _write_atomic(layout.spec, yaml.safe_dump(resolved, sort_keys=False))


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text)
    os.replace(temp, path)


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += _differences(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return found
    return [] if old == new else [(prefix or "<root>", old, new)]


def check_address(address: str, timeout_seconds: float = 5.0) -> None:
    """Fail fast, in one line, when a Ray cluster address cannot be reached."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address {address!r} is not host:port (or ray://host:port, or auto)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_seconds).close()
    except OSError as error:
        raise SweepError(f"cannot reach a Ray cluster at {address!r} ({error.strerror or error}); start one with "
                         "`ray start --head` or check the address") from None
