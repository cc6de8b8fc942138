"""Running a sweep's trials on Ray Tune (:func:`run_trials`), and attaching to Ray."""

from __future__ import annotations

import logging
import os
from typing import Mapping, Optional, Union

import ray
from ray import tune

from raylaws.data import TokenData
from raylaws.faults import Faults
from raylaws.ladder import Size
from raylaws.layout import SweepLayout
from raylaws.search import SweepPlanner
from raylaws.spec import ExperimentSpec
from raylaws.tasks import TaskData
from raylaws.tune._adapter import PerSizePruner, SizeSearcher, TrialBook
from raylaws.tune._nodes import concurrency, wait_for_nodes
from raylaws.tune._processes import RayProcessLog, record_ray_processes
from raylaws.tune._trainable import TrialContext, TrialResources, trial_function

logger = logging.getLogger(__name__)


def _tokenizer_path(data: Union[TokenData, Mapping[str, TokenData]]) -> str:
    """The tokenizer kept with every model: the sweep's (designs that change ``data`` cannot
    finetune; :func:`raylaws.sweep.run` refuses them)."""
    if isinstance(data, Mapping):
        return next(iter(data.values())).tokenizer_path if data else ""
    return data.tokenizer_path


def connect(address: str) -> None:
    """Attach this driver to the Ray at ``address`` (``local``: start one in this process)."""
    ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False,
             configure_logging=False)


def connect_cluster(address: Optional[str]) -> None:
    """Attach to a Ray cluster before the data is prepared, so its preparation runs as Ray tasks
    on the cluster's cores: ``address``, or ``RAY_ADDRESS`` (a driver submitted as a Ray job).
    A local run starts its Ray later, in :func:`run_trials`."""
    target = address or os.environ.get("RAY_ADDRESS")
    if target and not ray.is_initialized():
        connect(target)


def run_trials(
    planner: SweepPlanner,
    spec: ExperimentSpec,
    data: Union[TokenData, Mapping[str, TokenData]],
    layout: SweepLayout,
    *,
    address: Optional[str] = None,
    faults: Faults = Faults(),
    tune_at: Optional[SweepLayout] = None,
    tasks: Optional[dict[str, TaskData]] = None,
) -> None:
    """Run the planner's trials on Ray Tune until the sweep is finished.

    Args:
        planner: the sweep's planner (holds studies and writes records).
        spec: the experiment.
        data: prepared token streams (shipped once through Ray's object store), or those of
            each size key where designs differ in their data.
        layout: the sweep directory; Tune's own state goes to its ``tune`` folder.
        address: a Ray cluster to attach to; None attaches to ``RAY_ADDRESS`` where it is set
            (a driver submitted as a Ray job), else starts a fresh local Ray in this process
            (never a Ray cluster already running on the machine) and shuts it down at the end.
            An already initialised Ray is used as it is.
        faults: test-only fault injection.
        tune_at: the sweep whose ``tune`` folder holds Tune's experiment, if not ``layout``'s:
            the remote sweep that ``layout`` mirrors (Tune writes there through its
            ``pyarrow.fs`` filesystem, so every node reads the trial checkpoints).
        tasks: the tokenized finetuning tasks (:func:`raylaws.tasks.prepare_tasks`).

    Seed-phase trials keep their models under ``layout``'s ``models/`` folder, and finetuning
    trials read them there: on a multi-node cluster that folder must be on storage every
    node shares (as Ray Train's runs of data-parallel trials already need).
    """
    _hide_tune_restore_hint()
    started_here = False
    if not ray.is_initialized():
        target = address or os.environ.get("RAY_ADDRESS") or "local"
        connect(target)
        started_here = target == "local"
    callbacks = [RayProcessLog(layout)] if started_here else []
    # Keeping one checkpoint per trial makes Tune snapshot its (small) experiment state at each
    # checkpoint, and warn that this may be a bottleneck; here it is not.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    # Library code does not print: no Tune status tables (the CLI renders its own progress).
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if started_here:
        record_ray_processes(layout)
    book = TrialBook()
    try:
        wait_for_nodes(planner.sizes, autoscaling=spec.resources.autoscaling,
                       timeout_seconds=spec.resources.node_wait_seconds)
    except BaseException:
        if started_here:
            ray.shutdown()
            layout.ray_processes.unlink(missing_ok=True)
        raise
    try:
        tuner = tune.Tuner(
            tune.with_resources(
                tune.with_parameters(trial_function, data=_data_by_size(data, planner.sizes),
                                     context=TrialContext.build(planner.size_specs, planner.sizes, faults,
                                                                str(layout.tune.resolve() / "train"),
                                                                finetune=spec.finetune,
                                                                sweep_root=str(layout.root.resolve()),
                                                                tokenizer_path=_tokenizer_path(data), tasks=tasks)),
                TrialResources({s.key: s for s in planner.sizes}),
            ),
            tune_config=tune.TuneConfig(
                search_alg=SizeSearcher(planner, book),
                scheduler=PerSizePruner(planner, book),
                num_samples=-1,
                max_concurrent_trials=concurrency(spec, planner.sizes),
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(
                name=SweepLayout.TUNE,
                storage_path=str(tune_at.root) if tune_at is not None and tune_at.is_remote else str(layout.tune_storage),
                storage_filesystem=tune_at.filesystem if tune_at is not None else None,
                verbose=0,
                failure_config=tune.FailureConfig(max_failures=spec.resources.max_retries),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=callbacks,
                log_to_file=False,
            ),
        )
        tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
            layout.ray_processes.unlink(missing_ok=True)


def _data_by_size(data: Union[TokenData, Mapping[str, TokenData]], sizes: tuple[Size, ...]) -> dict[str, TokenData]:
    if isinstance(data, Mapping):
        return {size.key: data[size.key] for size in sizes}
    return {size.key: data for size in sizes}


class _NoTuneRestoreHint(logging.Filter):
    """Drops Tune's "Resume experiment with: Tuner.restore(...)" after Ctrl-C: a raylaws sweep
    resumes with ``raylaws resume`` (the CLI says so)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tuner.restore" not in record.getMessage()


def _hide_tune_restore_hint() -> None:
    tune_logger = logging.getLogger("ray.tune.tune")  # where Tune logs the hint (ray/tune/tune.py)
    if not any(isinstance(f, _NoTuneRestoreHint) for f in tune_logger.filters):
        tune_logger.addFilter(_NoTuneRestoreHint())
