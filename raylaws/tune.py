"""The Ray Tune runner: the ONLY module that imports ``ray.tune`` or ``ray.train``.

Ray's reporting and restore APIs change between releases; keeping every call here means the
next change touches one file. The sweep's logic lives in the Ray-free
:class:`raylaws.search.SweepPlanner`; this module adapts it to Tune:

* :class:`SizeSearcher`, a custom Tune ``Searcher`` that routes ``suggest`` and
  ``on_trial_complete`` to the planner (one Optuna study per size; Ray's ``OptunaSearch``
  holds one study and forces a no-op pruner);
* :class:`PerSizePruner`, a FIFO scheduler that stops a trial when its own size's pruner says
  so (Ray's ASHA has no grouping key);
* :class:`_TrialBook`, the bookkeeping that exists only because of Tune (each running trial's
  last progress, eval history, prune flag and error line), shared by the two;
* :func:`trial_function`, the function trainable around :func:`raylaws.train.train_trial`
  (pretraining) and :func:`raylaws.train.finetune_trial` (finetuning).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import ray
from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher

from raylaws.data import TokenData
from raylaws.errors import SweepError
from raylaws.faults import Faults
from raylaws.ladder import Size
from raylaws.layout import SweepLayout
from raylaws.search import SweepPlanner
from raylaws.spec import ExperimentSpec, FinetuneSpec
from raylaws.tasks import TaskData
from raylaws.trial import (Outcome, Phase, Progress, SaveCheckpoint, Status, StopReason, TrialHooks, TrialPlan,
                           TrialSettings)

logger = logging.getLogger(__name__)


@dataclass
class _TrialBook:
    """What Tune tells us of running trials, by raylaws trial id, until each one completes."""

    last: dict[str, Progress] = field(default_factory=dict)
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    pruned: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)

    def note(self, trial_id: str, progress: Progress) -> None:
        self.last[trial_id] = progress
        self.history.setdefault(trial_id, []).append((progress.step, progress.eval_loss))

    def outcome(self, trial_id: str, final: Optional[dict[str, Any]], raised: bool) -> tuple[Optional[Outcome], Optional[str]]:
        """How the trial ended: its own final report, or (pruned or failed) its last progress;
        ``(None, None)`` if it was stopped from outside (not finished). Forgets the trial."""
        last, history = self.last.pop(trial_id, None), self.history.pop(trial_id, [])
        pruned = trial_id in self.pruned
        self.pruned.discard(trial_id)
        error = self.errors.pop(trial_id, None)
        if final is not None:
            outcome = Outcome.from_report(final)
            if pruned and outcome.status is Status.COMPLETED:  # stopped by the pruner after its last report
                outcome = dataclasses.replace(outcome, status=Status.PRUNED, stop_reason=StopReason.PRUNED)
            return outcome, None
        if raised:
            return Outcome.stopped(Status.FAILED, StopReason.ERROR, last, history), error or "trial raised an error"
        if pruned:
            return Outcome.stopped(Status.PRUNED, StopReason.PRUNED, last, history), None
        return None, None


class SizeSearcher(Searcher):
    """Tune searcher that asks the planner for the next trial of any size.

    Never name an attribute ``searcher``: Tune would take this for a wrapper.
    """

    def __init__(self, planner: SweepPlanner, book: _TrialBook) -> None:
        super().__init__(metric=None, mode=None)
        self.planner = planner
        self.book = book
        self._plan_ids: dict[str, str] = {}  # Tune trial id -> raylaws trial id

    def suggest(self, trial_id: str) -> Optional[dict[str, Any]]:
        plan = self.planner.next_trial()
        if plan is None:
            return Searcher.FINISHED if self.planner.is_finished() or self.planner.failure else None
        self._plan_ids[trial_id] = plan.trial_id
        return plan.to_config()

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the studies persist in the sweep's journal, results in its store."""

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore (see :meth:`save`)."""

    def on_trial_complete(self, trial_id: str, result: Optional[dict[str, Any]] = None, error: bool = False) -> None:
        plan_id = self._plan_ids.pop(trial_id, None)
        if plan_id is None:
            return
        final = result if result and result.get("kind") == "final" else None
        outcome, error_text = self.book.outcome(plan_id, final, error)
        if outcome is None:
            self.planner.interrupt(plan_id)
        else:
            self.planner.complete(plan_id, outcome, error_text)


class PerSizePruner(FIFOScheduler):
    """FIFO scheduling; stops a search trial when its own size's pruner says so."""

    def __init__(self, planner: SweepPlanner, book: _TrialBook) -> None:
        super().__init__()
        self.planner = planner
        self.book = book

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        if result.get("kind") != "progress":
            return TrialScheduler.CONTINUE
        trial_id = trial.config["trial_id"]
        progress = Progress.from_report(result)
        self.book.note(trial_id, progress)
        if self.planner.should_prune(trial_id, progress):
            self.book.pruned.add(trial_id)
            return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
        self.book.errors[trial.config["trial_id"]] = _error_summary(trial)
        super().on_trial_error(tune_controller, trial)


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its config: its size and settings, and test faults;
    for kept models and finetuning, the sweep's folder, tokenizer, finetuning spec and tasks."""

    sizes: dict[str, Size]
    settings: dict[str, TrialSettings]
    faults: Faults = Faults()
    train_storage: str = ""  # Ray Train's storage_path, for the runs of data-parallel trials
    sweep_root: str = ""  # the (local) sweep folder: kept models are written under its models/
    tokenizer_path: str = ""  # kept with every model
    finetune: Optional[FinetuneSpec] = None
    tasks: dict[str, TaskData] = field(default_factory=dict)

    @classmethod
    def build(cls, size_specs: Mapping[str, ExperimentSpec], sizes: tuple[Size, ...], faults: Faults,
              train_storage: str, *, finetune: Optional[FinetuneSpec] = None, sweep_root: str = "",
              tokenizer_path: str = "", tasks: Optional[dict[str, TaskData]] = None) -> "TrialContext":
        """Keyed by :attr:`Size.key`; each size's settings come from its own spec (its design's,
        or its re-run's: ``size_specs``)."""
        return cls({s.key: s for s in sizes}, {s.key: TrialSettings.for_size(size_specs[s.key], s) for s in sizes},
                   faults, train_storage, sweep_root, tokenizer_path, finetune, dict(tasks or {}))

    def model_saver(self, plan: TrialPlan) -> Optional["_ModelSaver"]:
        """The ``save_best`` hook of a seed-phase pretraining trial (None for other trials, or
        without a sweep folder): it keeps the model at ``models/<trial_id>``."""
        if plan.phase is not Phase.SEED or not self.sweep_root or not self.tokenizer_path:
            return None
        return _ModelSaver(self.sweep_root, SweepLayout.model_path(plan.trial_id), self.tokenizer_path)


@dataclass
class _ModelSaver:
    """Keeps a trial's best model at ``<sweep_root>/<relative>`` (:func:`raylaws.train.save_model`)."""

    sweep_root: str
    relative: str
    tokenizer_path: str
    saved: bool = False

    def __call__(self, model: Any) -> None:
        from raylaws.train import save_model

        save_model(model, self.tokenizer_path, os.path.join(self.sweep_root, self.relative))
        self.saved = True

    def mark(self, outcome: Outcome) -> Outcome:
        """``outcome`` with the kept model's path, if this trial kept one."""
        return dataclasses.replace(outcome, model_path=self.relative) if self.saved else outcome


def trial_function(config: dict[str, Any], data: Mapping[str, TokenData], context: TrialContext) -> None:
    """Ray Tune function trainable: one raylaws trial (``data``: the token streams of each size
    key, the same object for sizes whose specs share their data).

    Reports each evaluation; every ``training.checkpoint_every`` steps the report carries a
    checkpoint, from which Tune restarts the trial (``tune.get_checkpoint``) when its worker
    is lost.
    """
    from raylaws.train import finetune_trial, train_trial

    plan = TrialPlan.from_config(config)
    data = data[plan.size]
    context.faults.maybe_raise(plan.trial_id)
    context.faults.maybe_hold(plan.trial_id)
    context.faults.maybe_delay(plan.trial_id)
    if context.settings[plan.size].workers > 1 and plan.task is None:
        _run_data_parallel(plan, data, context)
        return
    checkpoint = tune.get_checkpoint()
    with (checkpoint.as_directory() if checkpoint is not None else contextlib.nullcontext(None)) as resume_from:
        if plan.task is not None:  # finetuning: from the size's kept model, on one worker
            assert context.finetune is not None and plan.base_model is not None
            hooks = TrialHooks(report=_report, resume_from=resume_from)
            outcome = finetune_trial(os.path.join(context.sweep_root, plan.base_model), context.tasks[plan.task],
                                     plan.hparams, context.settings[plan.size], context.finetune, plan.seed, hooks)
        else:
            saver = context.model_saver(plan)
            hooks = TrialHooks(report=_report, resume_from=resume_from, save_best=saver)
            outcome = train_trial(context.sizes[plan.size], plan.hparams, data, context.settings[plan.size],
                                  plan.seed, hooks)
            if saver is not None:
                outcome = saver.mark(outcome)
    tune.report(outcome.to_report())


def _run_data_parallel(plan: TrialPlan, data: TokenData, context: TrialContext) -> None:
    """A data-parallel trial: Ray Train's ``TorchTrainer`` run inside this Tune trial (Train V2).

    Ray Train starts the size's workers (one placement group, a bundle per worker) and their
    process group (gloo on CPU, nccl on GPU); each runs :func:`raylaws.train.train_trial`,
    which shards every global batch over them, so ``batch_size`` stays the global sequences
    per step. Rank 0 sends its evaluations (and checkpoints, as bytes) back through a queue, and
    this trial reports them to Tune as a single-worker trial would, so pruning, checkpoints and
    records work the same. Tune stopping the trial ends the trainer with it.
    """
    import queue as queue_lib
    import threading

    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Queue

    from raylaws.train import CPU_SWITCH

    resources = context.sizes[plan.size].resources
    on_gpu = context.settings[plan.size].device == "cuda" and os.environ.get(CPU_SWITCH) != "1"
    # The relay queue asks for no CPU, so it fits beside the trial in the trial's placement group.
    messages: Queue = Queue(actor_options={"num_cpus": 0})
    checkpoint = tune.get_checkpoint()
    resume = None
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            resume = _pack(folder)
    trainer = TorchTrainer(
        _data_parallel_worker,
        train_loop_config={"plan": plan.to_config(), "context": context, "data": ray.put(data),
                           "messages": messages, "resume": resume},
        scaling_config=ScalingConfig(num_workers=resources.workers, use_gpu=bool(resources.gpus),
                                     resources_per_worker=_worker_bundle(context.sizes[plan.size])),
        torch_config=TorchConfig(backend="nccl" if on_gpu else "gloo"),
        run_config=RunConfig(name=f"{plan.trial_id}-{os.getpid()}", storage_path=context.train_storage),
    )
    failure: list[BaseException] = []

    def fit() -> None:
        try:
            trainer.fit()
        except BaseException as error:  # re-raised in this thread below
            failure.append(error)

    runner = threading.Thread(target=fit, daemon=True)
    runner.start()
    final: Optional[dict[str, Any]] = None
    while final is None:
        try:
            kind, report, packed = messages.get(timeout=1.0)
        except queue_lib.Empty:
            if not runner.is_alive():
                break
            continue
        if kind == "final":
            final = report
        elif packed is None:
            tune.report(report)
        else:
            with tempfile.TemporaryDirectory() as folder:
                _unpack(packed, folder)
                tune.report(report, checkpoint=tune.Checkpoint.from_directory(folder))
    runner.join()
    if failure or final is None:
        cause = failure[0] if failure else RuntimeError("the data-parallel workers ended without a result")
        raise RuntimeError(f"data-parallel trial {plan.trial_id} failed: {cause}".splitlines()[0]) from None
    tune.report(final)


def _data_parallel_worker(config: dict[str, Any]) -> None:
    """One worker of a data-parallel trial (in a Ray Train worker; see :func:`_run_data_parallel`)."""
    from ray import train

    from raylaws.train import train_trial

    plan = TrialPlan.from_config(config["plan"])
    context: TrialContext = config["context"]
    messages = config["messages"]
    rank = train.get_context().get_world_rank()

    def report(progress: Progress, save: Optional[SaveCheckpoint]) -> None:
        if save is None:
            messages.put(("progress", progress.to_report(), None))
            return
        with tempfile.TemporaryDirectory() as folder:
            save(folder)
            messages.put(("progress", progress.to_report(), _pack(folder)))

    with tempfile.TemporaryDirectory() as scratch:
        resume_from = None
        if config["resume"] is not None:
            resume_from = os.path.join(scratch, "resume")
            _unpack(config["resume"], resume_from)
        saver = context.model_saver(plan) if rank == 0 else None
        hooks = TrialHooks(report=report if rank == 0 else None, resume_from=resume_from, save_best=saver)
        data = ray.get(config["data"])
        outcome = train_trial(context.sizes[plan.size], plan.hparams, data, context.settings[plan.size], plan.seed,
                              hooks)
        if saver is not None:
            outcome = saver.mark(outcome)
    if rank == 0:
        messages.put(("final", outcome.to_report(), None))


def _pack(folder: str) -> bytes:
    """A checkpoint folder as bytes (a tar), to cross processes and nodes."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()


def _unpack(packed: bytes, folder: str) -> None:
    import io
    import tarfile

    os.makedirs(folder, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r") as archive:
        archive.extractall(folder, filter="data")


def _report(progress: Progress, save: Optional[SaveCheckpoint]) -> None:
    """Report one evaluation to Tune, with a checkpoint when one is due."""
    metrics = progress.to_report()
    if save is None:
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        save(folder)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def _error_summary(trial: Any) -> str:
    """The last 'SomeError: message' line of a trial's error file, or a generic line."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if re.match(r"^\s*[\w.]+(Error|Exception|Interrupt)\b", line)]
    return (lines[-1] if lines else "trial raised an error")[:500]


@dataclass(frozen=True)
class TrialResources:
    """What one trial asks of Ray, by its size (Tune calls this with the trial's config)."""

    sizes: dict[str, Size]

    def __call__(self, config: dict[str, Any]) -> dict[str, float]:
        resources = self.sizes[config["size"]].resources
        if resources.workers > 1:  # Ray Train places the workers; the trial itself only waits for them
            return {"cpu": 0.01, "gpu": 0}
        return {"cpu": resources.cpus, "gpu": resources.gpus}


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
    book = _TrialBook()
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


class RayProcessLog(Callback):
    """Keeps ``ray-processes.json`` up to date as trial workers start (local Ray only)."""

    def __init__(self, layout: SweepLayout) -> None:
        self.layout = layout

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record_ray_processes(self.layout)


def record_ray_processes(layout: SweepLayout) -> None:
    """Write the pids (with start times) of every process this driver's local Ray started."""
    import psutil

    processes = []
    for child in psutil.Process().children(recursive=True):
        try:
            processes.append({"pid": child.pid, "create_time": child.create_time(), "name": child.name()})
        except psutil.Error:
            continue
    path = layout.ray_processes
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps({"driver": os.getpid(), "processes": processes}))
    os.replace(temp, path)


def kill_stale_ray_processes(layout: SweepLayout) -> list[int]:
    """Kill the Ray processes a hard-killed driver of this sweep left behind; return their pids.

    Only processes whose pid *and* start time match the record are touched, so a reused pid
    is never killed. Call it while holding the sweep's lock (the old driver is then gone).
    """
    import psutil

    path = layout.ray_processes
    if not path.exists():
        return []
    try:
        recorded = json.loads(path.read_text())["processes"]
    except (OSError, ValueError, KeyError):
        recorded = []
    killed = []
    for entry in recorded:
        try:
            process = psutil.Process(entry["pid"])
            if abs(process.create_time() - entry["create_time"]) > 0.01:
                continue
            process.kill()
            killed.append(entry["pid"])
        except psutil.Error:
            continue
    psutil.wait_procs([psutil.Process(pid) for pid in killed if psutil.pid_exists(pid)], timeout=10)
    path.unlink(missing_ok=True)
    if killed:
        logger.warning("killed %d Ray process(es) left by a previous driver of %s", len(killed), layout.root)
    return killed


def _worker_bundle(size: Size) -> dict[str, float]:
    """What one trial worker of ``size`` asks of a node (the cluster check and Ray Train's workers)."""
    resources = size.resources
    bundle = {"CPU": float(resources.cpus)}
    if resources.gpus:
        bundle["GPU"] = float(resources.gpus)
    return bundle


def unplaceable_sizes(sizes: tuple[Size, ...], nodes: list[dict[str, float]]) -> list[Size]:
    """The sizes one of whose trial workers fits on no node (``nodes``: each alive node's
    total resources). Tune would queue their trials and wait for them forever."""
    return [size for size in sizes
            if not any(all(node.get(k, 0.0) >= v for k, v in _worker_bundle(size).items()) for node in nodes)]


def _alive_nodes() -> list[dict[str, float]]:
    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def wait_for_nodes(sizes: tuple[Size, ...], *, autoscaling: bool, timeout_seconds: float,
                   poll_seconds: float = 5.0) -> None:
    """Before any trial is queued: every size's trial worker must fit on some node.

    Without an autoscaler, a size that fits nowhere is refused at once, in one line. With one
    (``resources.autoscaling``), the sweep says it waits for such a node and gives up after
    ``timeout_seconds``.

    Raises:
        SweepError: a size fits no node (and none appeared in time).
    """
    import time

    deadline = time.monotonic() + timeout_seconds
    warned = False
    while True:
        nodes = _alive_nodes()
        missing = unplaceable_sizes(sizes, nodes)
        if not missing:
            return
        size = missing[0]
        biggest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
        need = size.resources
        what = (f"size {size.name} asks for {need.cpus} CPU" + (f" and {need.gpus:g} GPU" if need.gpus else "")
                + f" per trial worker, but no node of the Ray cluster has that (largest node: "
                f"{biggest.get('CPU', 0):g} CPU, {biggest.get('GPU', 0):g} GPU)")
        if not autoscaling:
            raise SweepError(f"{what}; lower resources.gpus_per_trial / cpus_per_trial (or a resources.by_size "
                             "entry), or add such a node (with an autoscaler, set resources.autoscaling: true)")
        if time.monotonic() >= deadline:
            raise SweepError(f"{what}, and the autoscaler added none in {timeout_seconds:g} s "
                             "(resources.node_wait_seconds); check the cluster's node types")
        if not warned:
            from ray.autoscaler.sdk import request_resources

            # Tune's trials are not queued yet, so ask the autoscaler for the nodes directly.
            request_resources(bundles=[_worker_bundle(s) for s in missing])
            logger.warning("%s; waiting up to %g s for the autoscaler to add one", what, timeout_seconds)
            warned = True
        time.sleep(poll_seconds)


def concurrency(spec: ExperimentSpec, sizes: tuple[Size, ...]) -> int:
    """Trials Tune keeps in flight: the spec's cap, or as many trials of the size with the
    smallest footprint as the cluster's CPUs (and GPUs) fit. Ray's own scheduling then runs
    each pending trial when its size's resources free up, so large sizes take fewer slots."""
    if spec.resources.max_concurrent_trials is not None:
        return spec.resources.max_concurrent_trials
    cluster = ray.cluster_resources() if ray.is_initialized() else {"CPU": os.cpu_count() or 1}
    best = 1
    for size in sizes:
        resources = size.resources
        slots = int(cluster.get("CPU", 1) // (resources.cpus * resources.workers))
        if resources.gpus:
            slots = min(slots, int(cluster.get("GPU", 0) // (resources.gpus * resources.workers)))
        best = max(best, slots)
    return best
