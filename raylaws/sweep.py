"""A sweep: one directory holding what ran and what came out, and the public ``run``/``open``.

Layout of ``<storage>/<name>/``:

* ``spec.yaml``: the resolved spec, exactly what ran; ``sweep.json``: versions and data
  fingerprint;
* ``optuna.journal``: the per-size Optuna studies (append-only journal; one writer, the driver);
* ``tune/``: Ray Tune's experiment directory;
* ``trials/``: the Arrow store, one Parquet record per finished trial.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import statistics
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, Union

import pyarrow as pa
import yaml

from raylaws import store
from raylaws.ladder import build_ladder
from raylaws.spec import ExperimentSpec, SpecError, SpecProblem, load_spec, spec_from_dict

logger = logging.getLogger(__name__)

SPEC_FILE = "spec.yaml"
META_FILE = "sweep.json"


class SweepError(RuntimeError):
    """A sweep that cannot start or be read: bad path, unwritable storage, unreachable cluster."""


class SweepInterrupted(SweepError):
    """The sweep stopped before its budget was met (Ctrl-C); ``raylaws resume`` continues it."""


LOCK_FILE = ".lock"


BEST_SCHEMA = pa.schema([
    pa.field("size", pa.string(), metadata={"description": "rung name"}),
    pa.field("n_layers", pa.int32()),
    pa.field("d_model", pa.int32()),
    pa.field("n_params", pa.int64(), metadata={"description": "paper's non-embedding count 12*L*H^2"}),
    pa.field("n_params_exact", pa.int64(), metadata={"description": "non-embedding parameters of the built model"}),
    pa.field("learning_rate", pa.float64(), metadata={"description": "best peak learning rate of the search"}),
    pa.field("batch_size", pa.int32(), metadata={"description": "best batch size, sequences per step"}),
    pa.field("n_seeds", pa.int32(), metadata={"description": "completed seed re-runs of the best config"}),
    pa.field("loss_mean", pa.float64(), metadata={"description": "mean best eval loss over the seeds (or the best "
                                                                "search trial's loss while n_seeds = 0)"}),
    pa.field("loss_std", pa.float64(), metadata={"description": "sample std (ddof=1) over seeds; null below 2"}),
    pa.field("search_loss", pa.float64(), metadata={"description": "best eval loss among completed search trials"}),
    pa.field("best_trial_id", pa.string()),
    pa.field("n_trials", pa.int32(), metadata={"description": "search trials recorded"}),
    pa.field("n_pruned", pa.int32()),
    pa.field("n_diverged", pa.int32()),
    pa.field("n_failed", pa.int32()),
])


class Sweep:
    """A sweep directory, readable without Ray, also while the sweep runs.

    Example:
        >>> sweep = raylaws.open("results/demo")  # doctest: +SKIP
        >>> sweep.best_per_size().to_pandas()  # doctest: +SKIP
    """

    def __init__(self, path: Union[str, Path]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Sweep({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def spec(self) -> ExperimentSpec:
        """The spec this sweep ran with (from ``spec.yaml``)."""
        return load_spec(self.path / SPEC_FILE)

    def trials(self) -> pa.Table:
        """Every finished trial, one row each (see :data:`raylaws.store.TRIALS_SCHEMA`)."""
        return store.read_trials(self.path)

    def best_per_size(self) -> pa.Table:
        """One row per size: the best config of its search and its loss over the seed re-runs.

        ``loss_mean``/``loss_std`` come from the seed phase; a size whose seeds are not done
        yet shows its best search trial's loss with ``n_seeds = 0``. Sorted by ``n_params``
        (the paper's non-embedding count).
        """
        return best_per_size(self.trials())

    def fit_data(self, metric: str = "eval_loss") -> tuple[list[float], list[float], list[str]]:
        """Rows for a scaling-law fit: one per seed of each size's best config.

        Uses the seed-phase records (completed) of each size; a size with none yet falls back to
        its best search trial, with a :class:`UserWarning` naming it.

        Args:
            metric: a numeric column of the trials table where lower is better (``eval_loss``).

        Returns:
            ``(n_params, y, sizes)``: the paper's non-embedding N, the metric, and the size of
            each row.
        """
        trials = self.trials()
        if metric not in trials.column_names or not pa.types.is_floating(trials.schema.field(metric).type):
            numeric = [f.name for f in trials.schema if pa.types.is_floating(f.type)]
            raise ValueError(f"metric: {metric!r} is not a numeric column of the trials table; "
                             f"choose one of {', '.join(numeric)}")
        rows = [r for r in trials.to_pylist() if r["status"] == "completed" and r[metric] is not None]
        n_params: list[float] = []
        values: list[float] = []
        sizes: list[str] = []
        fallback = []
        for size in sorted({r["size"] for r in rows}, key=lambda s: next(r["n_params"] for r in rows if r["size"] == s)):
            mine = [r for r in rows if r["size"] == size]
            chosen = [r for r in mine if r["phase"] == "seed"]
            if not chosen:
                chosen = [min((r for r in mine if r["phase"] == "search"), key=lambda r: (r[metric], r["trial_id"]))]
                fallback.append(size)
            for row in chosen:
                n_params.append(float(row["n_params"]))
                values.append(float(row[metric]))
                sizes.append(size)
        if fallback:
            warnings.warn(f"no completed seed re-runs for {', '.join(fallback)}; using the best search trial "
                          "instead", UserWarning, stacklevel=2)
        return n_params, values, sizes

    def fit(
        self,
        form: str = "power",
        *,
        metric: str = "eval_loss",
        loss: str = "auto",
        n_bootstrap: int = 1000,
        random_state: Optional[int] = 0,
    ) -> Any:
        """Fit a scaling law of ``metric`` against N (the paper's non-embedding count).

        Args:
            form: ``power`` (the paper's ln y = -alpha ln N + b) or ``saturating`` (E + A N^-alpha).
            metric: see :meth:`fit_data`.
            loss: ``auto``, ``squared`` or ``huber`` (see :class:`raylaws.fit.PowerLaw`).
            n_bootstrap: hierarchical bootstrap replicates (sizes, then seeds within sizes).
            random_state: seed of the bootstrap.

        Returns:
            The fitted :class:`raylaws.fit.PowerLaw`.
        """
        from raylaws.fit import PowerLaw

        n_params, values, _ = self.fit_data(metric)
        return PowerLaw(form, loss=loss, n_bootstrap=n_bootstrap, random_state=random_state).fit(n_params, values)  # type: ignore[arg-type]

    def summary(self) -> dict[str, Any]:
        """Counts for ``raylaws status``: per size trials recorded of budget, by status."""
        trials = self.trials().to_pylist()
        spec = self.spec
        budget = spec.search.trials_per_size + spec.seeds
        sizes = []
        for rung in build_ladder(spec):
            rows = [t for t in trials if t["size"] == rung.name]
            losses = [t["eval_loss"] for t in rows if t["status"] == "completed" and t["eval_loss"] is not None]
            sizes.append({
                "size": rung.name,
                "n_params": rung.n_params,
                "done": len(rows),
                "budget": budget,
                "search_done": sum(t["phase"] == "search" for t in rows),
                "seeds_done": sum(t["phase"] == "seed" for t in rows),
                "pruned": sum(t["status"] == "pruned" for t in rows),
                "diverged": sum(t["status"] == "diverged" for t in rows),
                "failed": sum(t["status"] == "failed" for t in rows),
                "best_loss": min(losses) if losses else None,
            })
        return {"sweep": self.name, "path": str(self.path), "sizes": sizes,
                "done": sum(s["done"] for s in sizes), "total": budget * len(sizes)}


def best_per_size(trials: pa.Table) -> pa.Table:
    """The best-per-size view of a trials table (see :meth:`Sweep.best_per_size`)."""
    rows = trials.to_pylist()
    out = []
    for size in sorted({r["size"] for r in rows}, key=lambda s: min(r["n_params"] for r in rows if r["size"] == s)):
        mine = [r for r in rows if r["size"] == size]
        search = [r for r in mine if r["phase"] == "search"]
        completed = [r for r in search if r["status"] == "completed" and r["eval_loss"] is not None]
        best = min(completed, key=lambda r: (r["eval_loss"], r["trial_id"])) if completed else None
        seeds = [r for r in mine if r["phase"] == "seed" and r["status"] == "completed" and r["eval_loss"] is not None]
        config_source = seeds[0] if seeds else best
        seed_losses = [r["eval_loss"] for r in seeds]
        if seed_losses:
            loss_mean = statistics.fmean(seed_losses)
            loss_std = statistics.stdev(seed_losses) if len(seed_losses) > 1 else None
        else:
            loss_mean, loss_std = (best["eval_loss"] if best else None), None
        first = mine[0]
        out.append({
            "size": size,
            "n_layers": first["n_layers"],
            "d_model": first["d_model"],
            "n_params": first["n_params"],
            "n_params_exact": first["n_params_exact"],
            "learning_rate": config_source["learning_rate"] if config_source else None,
            "batch_size": config_source["batch_size"] if config_source else None,
            "n_seeds": len(seed_losses),
            "loss_mean": loss_mean,
            "loss_std": loss_std,
            "search_loss": best["eval_loss"] if best else None,
            "best_trial_id": best["trial_id"] if best else None,
            "n_trials": len(search),
            "n_pruned": sum(r["status"] == "pruned" for r in mine),
            "n_diverged": sum(r["status"] == "diverged" for r in mine),
            "n_failed": sum(r["status"] == "failed" for r in mine),
        })
    return pa.Table.from_pylist(out, schema=BEST_SCHEMA)


def open(path: Union[str, Path]) -> Sweep:  # noqa: A001 - the public name is raylaws.open
    """Open a sweep directory (no Ray needed; works while the sweep is running).

    Raises:
        SweepError: if ``path`` is not a sweep directory.
    """
    folder = Path(path)
    if not (folder / SPEC_FILE).is_file():
        hint = "it does not exist" if not folder.exists() else f"it has no {SPEC_FILE}"
        raise SweepError(f"{str(folder)!r} is not a sweep directory ({hint}); give <storage>/<name> of a sweep "
                         "started with `raylaws run`")
    return Sweep(folder)


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
    rungs = build_ladder(spec)
    from raylaws.data import check_source, prepare

    check_source(spec.data)
    sweep_dir = Path(storage) / sweep_name
    _prepare_directory(sweep_dir, spec)
    if address is not None:
        check_address(address)
    data = prepare(spec.data)
    _write_meta(sweep_dir, data.fingerprint)

    from raylaws.search import SweepPlanner
    from raylaws.tune import faults_from_env, kill_stale_ray_processes, run_trials

    with _SweepLock(sweep_dir):
        kill_stale_ray_processes(sweep_dir)  # a hard-killed earlier driver's local Ray
        store.clean_stray(sweep_dir)
        planner = SweepPlanner(spec, rungs, sweep_dir, data_fingerprint=data.fingerprint, on_event=on_event,
                               faults=faults_from_env())
        if on_start is not None:
            on_start(planner)
        if not planner.is_finished():
            try:
                run_trials(planner, spec, data, sweep_dir, address=address)
            except KeyboardInterrupt:
                raise _interrupted(planner, sweep_dir) from None
            if not planner.is_finished():
                raise _interrupted(planner, sweep_dir)
    return Sweep(sweep_dir)


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


def _interrupted(planner: Any, sweep_dir: Path) -> SweepInterrupted:
    done = sum(p.done for p in planner.progress.values())
    return SweepInterrupted(f"interrupted with {done} of {planner.total_trials} trials recorded; continue with "
                            f"`raylaws resume {sweep_dir}`")


class _SweepLock:
    """An exclusive, non-blocking lock on a sweep directory; the OS frees it if we die."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = sweep_dir / LOCK_FILE
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


def _prepare_directory(sweep_dir: Path, spec: ExperimentSpec) -> None:
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        probe = sweep_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        raise SweepError(f"storage {str(sweep_dir.parent)!r} is not writable ({error.strerror or error}); "
                         "give --storage a directory you can write") from None
    spec_path = sweep_dir / SPEC_FILE
    resolved = spec.model_dump(mode="json")
    if spec_path.exists():
        stored = yaml.safe_load(spec_path.read_text())
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


def _write_meta(sweep_dir: Path, fingerprint: str) -> None:
    meta_path = sweep_dir / META_FILE
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


def loglog_line(n_params: list[float], losses: list[float]) -> Optional[tuple[float, float]]:
    """Slope and R² of ln(loss) against ln(n_params), or None with fewer than 2 sizes."""
    points = [(n, y) for n, y in zip(n_params, losses) if n and y and n > 0 and y > 0]
    if len({n for n, _ in points}) < 2:
        return None
    from raylaws.fit import PowerLaw

    law = PowerLaw(n_bootstrap=0).fit([n for n, _ in points], [y for _, y in points])
    return -law.exponent_, law.r2_
