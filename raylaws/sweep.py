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
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pyarrow as pa
import yaml

from raylaws import store, views
from raylaws.errors import SweepError, SweepInterrupted
from raylaws.ladder import build_ladder
from raylaws.layout import LayoutError, SweepLayout
from raylaws.spec import ExperimentSpec, SpecError, SpecProblem, load_spec, spec_from_dict

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
    def path(self) -> Path:
        return self.layout.root

    @property
    def name(self) -> str:
        return self.layout.name

    @property
    def spec(self) -> ExperimentSpec:
        """The spec this sweep ran with (from its stored ``spec.yaml``)."""
        return load_spec(self.layout.spec)

    def trials(self) -> pa.Table:
        """Every finished trial, one row each (see :data:`raylaws.store.TRIALS_SCHEMA`)."""
        return store.read_trials(self.layout.trials)

    def best_per_size(self) -> pa.Table:
        """One row per size: the best config of its search and its loss over the seed re-runs
        (see :func:`raylaws.views.best_per_size`)."""
        return views.best_per_size(self.trials())

    def status(self) -> pa.Table:
        """Per size, trials recorded of its budget, by phase and status (see
        :func:`raylaws.views.size_status`)."""
        spec = self.spec
        return views.size_status(self.trials(), build_ladder(spec), spec.budget_per_size)

    def fit_rows(self, metric: str = "eval_loss") -> views.FitRows:
        """Rows for a scaling-law fit: one per completed seed of each size's best config.

        A size with no completed seed re-run falls back to its best search trial, with a
        :class:`UserWarning` naming it.

        Args:
            metric: a numeric column of the trials table where lower is better (``eval_loss``).
        """
        rows = views.fit_rows(self.trials(), metric)
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
    ) -> Any:
        """Fit a scaling law of ``metric`` against N (the paper's non-embedding count).

        Args:
            form: ``power`` (the paper's ln y = -alpha ln N + b), ``saturating`` (E + A N^-alpha),
                ``sigmoid``, ``m4`` or ``auto`` (see :class:`raylaws.fit.PowerLaw`).
            metric: see :meth:`fit_rows`.
            loss: ``auto``, ``squared`` or ``huber`` (see :class:`raylaws.fit.PowerLaw`).
            n_bootstrap: hierarchical bootstrap replicates (sizes, then seeds within sizes).
            random_state: seed of the bootstrap.
            rows: rows from :meth:`fit_rows`, if already read.

        Returns:
            The fitted :class:`raylaws.fit.PowerLaw`.
        """
        from raylaws.fit import PowerLaw

        rows = rows if rows is not None else self.fit_rows(metric)
        return PowerLaw(form, loss=loss, n_bootstrap=n_bootstrap, random_state=random_state).fit(  # type: ignore[arg-type]
            rows.n_params, rows.values)


def open(path: Union[str, Path]) -> Sweep:  # noqa: A001 - the public name is raylaws.open
    """Open a sweep directory (no Ray needed; works while the sweep is running).

    Raises:
        SweepError: if ``path`` is not a sweep directory.
    """
    layout = SweepLayout.at(path)
    if not layout.exists():
        hint = "it does not exist" if not layout.root.exists() else f"it has no {layout.spec.name}"
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
) -> Sweep:
    """Run a tuned, multi-seed scaling sweep and return it, or resume it.

    Every input is checked before Ray starts. The sweep lives in ``storage/name``; if that
    directory holds a sweep of the same spec, it is resumed (a different spec is refused,
    naming the fields that differ). Only one driver runs a sweep at a time (a lock).

    Args:
        spec: an :class:`ExperimentSpec` or the path of a spec YAML file.
        storage: the root directory of sweeps.
        name: the sweep's name; defaults to the spec's ``name``.
        address: a Ray cluster address (``auto``, ``host:port``, ``ray://host:port``); None
            starts a local Ray in this process and shuts it down at the end.
        on_event: called in this process for each trial started or finished (progress displays).
        on_start: called once with the :class:`raylaws.search.SweepPlanner` before trials start.

    Returns:
        The finished :class:`Sweep`.

    Raises:
        SpecError: the spec is invalid, or differs from the one stored in the sweep.
        SweepError: storage or address unusable, or the sweep is being run by another driver.
        SweepInterrupted: stopped (Ctrl-C) before the budget was met; resumable.
    """
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    sweep_name = name or spec.name
    if name is not None:  # the same naming rules as the spec's own name
        spec = spec_from_dict({**spec.model_dump(mode="json"), "name": name})
    sizes = build_ladder(spec)
    from raylaws.data import check_source, prepare

    check_source(spec.data)
    layout = SweepLayout.of(storage, sweep_name)
    _prepare_directory(layout, spec)
    if address is not None:
        check_address(address)
    data = prepare(spec.data)
    _write_meta(layout, data.fingerprint)

    from raylaws.faults import Faults
    from raylaws.search import SweepPlanner
    from raylaws.tune import kill_stale_ray_processes, run_trials

    faults = Faults.from_env()
    with _SweepLock(layout):
        kill_stale_ray_processes(layout)  # a hard-killed earlier driver's local Ray
        store.clean_stray(layout.trials)
        planner: Optional[SweepPlanner] = None

        def after_record(trial_id: str) -> None:
            faults.maybe_pause_after_record(trial_id, lambda t: planner.log("paused", t) if planner else None)

        planner = SweepPlanner(spec, sizes, layout, data_fingerprint=data.fingerprint, on_event=on_event,
                               after_record=after_record)
        if on_start is not None:
            on_start(planner)
        if not planner.is_finished():
            try:
                run_trials(planner, spec, data, layout, address=address, faults=faults)
            except KeyboardInterrupt:
                raise _interrupted(planner, layout) from None
            if not planner.is_finished():
                raise _interrupted(planner, layout)
    return Sweep(layout.root)


def resume(
    path: Union[str, Path],
    *,
    address: Optional[str] = None,
    on_event: Optional[Callable[[Any], None]] = None,
    on_start: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """Resume an interrupted sweep from its directory alone (see :func:`run`).

    Finished trials keep their one record and are not trained again; trials that were running
    are run again under the same ``trial_id``; the per-size budgets end exactly met.
    """
    sweep = open(path)
    return run(sweep.spec, storage=sweep.path.parent, name=sweep.path.name, address=address,
               on_event=on_event, on_start=on_start)


def _interrupted(planner: Any, layout: SweepLayout) -> SweepInterrupted:
    return SweepInterrupted(f"interrupted with {planner.n_recorded()} of {planner.total_trials} trials recorded; "
                            f"continue with `raylaws resume {layout.root}`")


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


def _prepare_directory(layout: SweepLayout, spec: ExperimentSpec) -> None:
    try:
        layout.create()
    except LayoutError as error:
        raise SweepError(str(error)) from None
    spec_path = layout.spec
    resolved = spec.model_dump(mode="json")
    sweep_dir = layout.root
    if spec_path.exists():
        # Read the stored spec back through the model, so fields added since it was written
        # take their defaults instead of showing as differences.
        stored = load_spec(spec_path).model_dump(mode="json")
        differences = _differences(stored, resolved)
        if differences:
            raise SpecError([SpecProblem(field, f"differs from the sweep in {str(sweep_dir)!r} "
                                                f"(stored {old!r}, given {new!r}); use the stored spec or "
                                                "start a new sweep with --name")
                             for field, old, new in differences[:20]])
        return
    temp = spec_path.with_suffix(".tmp")
    temp.write_text(yaml.safe_dump(resolved, sort_keys=False))
    os.replace(temp, spec_path)


def _differences(old: Any, new: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new), key=str):
            found += _differences(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
        return found
    return [] if old == new else [(prefix or "<root>", old, new)]


def _write_meta(layout: SweepLayout, fingerprint: str) -> None:
    meta_path = layout.meta
    if meta_path.exists():
        return
    import importlib.metadata as metadata

    versions = {}
    for package in ("raylaws", "ray", "optuna", "torch", "transformers", "pyarrow", "tokenizers"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    meta = {"created_at": datetime.now(timezone.utc).isoformat(), "versions": versions, "data_fingerprint": fingerprint}
    meta_path.write_text(json.dumps(meta, indent=2))


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
