"""The trial: :func:`trial_function`, the function trainable around
:func:`raylaws.train.train_trial` (pretraining) and :func:`raylaws.train.finetune_trial`
(finetuning), a data-parallel trial run by Ray Train inside it, and what a trial asks of Ray
(:class:`TrialResources`)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

import ray
from ray import tune

from raylaws.data import TokenData
from raylaws.faults import Faults
from raylaws.ladder import Size
from raylaws.layout import SweepLayout
from raylaws.spec import ExperimentSpec, FinetuneSpec
from raylaws.tasks import TaskData
from raylaws.trial import Outcome, Phase, Progress, SaveCheckpoint, TrialHooks, TrialPlan, TrialSettings
from raylaws.tune._nodes import worker_bundle


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
                                     resources_per_worker=worker_bundle(context.sizes[plan.size])),
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


@dataclass(frozen=True)
class TrialResources:
    """What one trial asks of Ray, by its size (Tune calls this with the trial's config)."""

    sizes: dict[str, Size]

    def __call__(self, config: dict[str, Any]) -> dict[str, float]:
        resources = self.sizes[config["size"]].resources
        if resources.workers > 1:  # Ray Train places the workers; the trial itself only waits for them
            return {"cpu": 0.01, "gpu": 0}
        return {"cpu": resources.cpus, "gpu": resources.gpus}
