"""One trial: train a size's model with given hyperparameters and report its eval loss.

Knows nothing of Ray or Optuna: a function of (size, hyperparameters, data, settings, seed,
hooks). :mod:`raylaws.tune` wraps it for Ray Tune (one call per worker of a trial); the
benchmarks call it from process pools. How a step runs (device, precision, DDP, DeepSpeed) is
the engine's business (:mod:`raylaws.train._engine`); this module owns the rest: data order,
evaluation schedule, divergence, early stopping, reporting and checkpoints.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from typing import Optional

from raylaws.data import TokenData
from raylaws.ladder import Size
from raylaws.train import _checkpoint, _distributed
from raylaws.train._batches import Batches, EvalWindows, MicroBatch, split
from raylaws.train._backends import make_engine
from raylaws.train._engine import Engine
from raylaws.trial import (Hyperparameters, Outcome, Progress, SaveCheckpoint, Status, StopReason, TrialHooks,
                           TrialSettings)


def train_trial(size: Size, hparams: Hyperparameters, data: TokenData, settings: TrialSettings, seed: int,
                hooks: TrialHooks = TrialHooks()) -> Outcome:
    """Train ``size`` with ``hparams`` on ``data`` and return how it ended.

    Args:
        size: the model size.
        hparams: peak learning rate and batch size (sequences per optimizer step, over all
            workers).
        data: token streams from :func:`raylaws.data.prepare`.
        settings: objective, sequence length, training budget and schedule, precision,
            device, backend, workers.
        seed: fixes initialisation, data order and masking (the same sequences for any
            number of workers).
        hooks: ``report`` after each evaluation (returning True prunes the trial; it is
            handed a checkpoint writer when one is due), ``resume_from`` a checkpoint folder.

    Returns:
        The :class:`~raylaws.trial.Outcome`. Non-finite or exploding loss ends it as
        ``diverged``. With several workers (``torch.distributed`` initialised by the caller)
        every worker returns the same outcome; only rank 0 calls ``hooks.report``.

    Raises:
        RuntimeError: the size asks for GPUs and torch sees none.
    """
    device = trial_device(size, settings)
    if settings.backend == "deepspeed":
        _distributed.ensure_process_group()
    engine: Optional[Engine] = None
    try:
        engine = _build(size, hparams, data, settings, seed, device)
        return _Trial(engine, hparams, data, settings, seed, hooks).run()
    finally:
        if engine is not None:
            engine.close()


def trial_device(size: Size, settings: TrialSettings) -> "torch.device":
    """The device a trial of ``size`` trains on, with this process's torch set for it: the
    trial's threads, and TF32 matmuls for fp32 on a GPU."""
    import torch

    if settings.threads:
        torch.set_num_threads(settings.threads)
    device = _distributed.device_for(size, settings)
    if device.type == "cuda" and settings.precision == "fp32":
        torch.set_float32_matmul_precision("high")  # TF32 matmuls
    return device


def _build(size: Size, hparams: Hyperparameters, data: TokenData, settings: TrialSettings, seed: int,
           device: "torch.device") -> Engine:
    import torch

    from raylaws.train._model import build_model

    torch.manual_seed(seed)  # initialisation (and dropout)
    model = build_model(settings.objective, size, vocab_size=data.vocab_size, seq_len=settings.seq_len,
                        dropout=settings.training.dropout,
                        special_id=data.eos_id if settings.objective == "clm" else data.pad_id,
                        tie_embeddings=settings.tie_embeddings)
    steps = settings.training.total_steps(hparams.batch_size, settings.seq_len)
    return make_engine(model, hparams, settings, steps, device, _distributed.rank_and_world()[1])


class _Trial(_checkpoint.Ledger):
    """The loop's state between evaluations (one object so a checkpoint captures all of it)."""

    def __init__(self, engine: Engine, hparams: Hyperparameters, data: TokenData, settings: TrialSettings,
                 seed: int, hooks: TrialHooks) -> None:
        import torch

        self.engine, self.hparams, self.settings, self.hooks = engine, hparams, settings, hooks
        self.training = settings.training
        self.rank, self.world = _distributed.rank_and_world()
        self.steps = self.training.total_steps(hparams.batch_size, settings.seq_len)
        self.generator = torch.Generator().manual_seed(seed)  # data order and masks
        self.batches = Batches(data, settings.objective, settings.seq_len, hparams.batch_size, self.generator)
        sharded = engine.shards_eval and self.world > 1
        self.eval_windows = EvalWindows(data, settings.objective, settings.seq_len, engine.device,
                                        rank=self.rank if sharded else 0, world=self.world if sharded else 1)
        self.eval_summed = sharded
        self.uniform_loss = math.log(data.vocab_size)  # an untrained model sits near this
        # The weights of the best evaluation, on the CPU, where the trial keeps its best model.
        self.keeps_best = hooks.save_best is not None and self.rank == 0 and settings.zero_stage < 3
        self.best_weights: Optional[dict] = None
        super().__init__(engine, hooks.resume_from)
        if self.restored is not None:
            self.generator.set_state(self.restored.generator)
            self.best_weights = self.restored.best_model
        self.last_checkpoint = self.step
        self.running, self.running_count = 0.0, 0  # training loss summed since the last evaluation

    def run(self) -> Outcome:
        while self.step < self.steps:
            outcome = self.end_step(self.engine.train_step(self.begin_step()))
            if outcome is not None:
                return outcome
        return self._finish(Status.COMPLETED, StopReason.BUDGET)

    def begin_step(self) -> list[MicroBatch]:
        """This worker's micro-batches of the next global batch."""
        inputs, labels = self.batches.next()
        return split(inputs, labels, rank=self.rank, world=self.world,
                     micro_batch_size=self.settings.micro_batch_size, device=self.engine.device)

    def end_step(self, loss: float) -> Optional[Outcome]:
        """Count the optimizer step that gave ``loss``: evaluate when due, then report, keep the
        best weights, checkpoint; the trial's :class:`Outcome` once it ends (diverged, pruned,
        out of patience or of budget), else None."""
        training = self.training
        if not math.isfinite(loss):
            return self._finish(Status.DIVERGED, StopReason.DIVERGED)
        self.step += 1
        self.running += loss
        self.running_count += 1
        if self.step % training.eval_interval and self.step != self.steps:
            return None
        eval_loss = self._evaluate()
        self.history.append((self.step, eval_loss))
        if not math.isfinite(eval_loss) or eval_loss > training.divergence_factor * self.uniform_loss:
            return self._finish(Status.DIVERGED, StopReason.DIVERGED)
        if self.best - eval_loss > training.min_delta or math.isinf(self.best):
            self.best, self.best_step = eval_loss, self.step
            self._keep_best_weights()
        progress = self._progress(eval_loss, self.running / self.running_count)
        self.running, self.running_count = 0.0, 0
        if self._report(progress):
            return self._finish(Status.PRUNED, StopReason.PRUNED)
        if training.patience is not None and self.step - self.best_step >= training.patience:
            return self._finish(Status.COMPLETED, StopReason.PATIENCE)
        if self.step >= self.steps:
            return self._finish(Status.COMPLETED, StopReason.BUDGET)
        return None

    def _keep_best_weights(self) -> None:
        if self.keeps_best:
            self.best_weights = {name: value.detach().to("cpu", copy=True)
                                 for name, value in self.engine.kept_weights().items()}

    def _save_best_model(self) -> None:
        """Hand the model, at its best evaluation's weights, to ``hooks.save_best``."""
        if not self.keeps_best or self.best_weights is None or self.hooks.save_best is None:
            return
        self.hooks.save_best(self.engine.kept_model(self.best_weights))  # training is over: its weights may go

    def _evaluate(self) -> float:
        total, weight = self.engine.evaluate(self.eval_windows.batches)
        if self.eval_summed:
            total, weight = _distributed.sum_over_workers([total, weight], self.engine.device)
        return total / max(weight, 1)

    def _report(self, progress: Progress) -> bool:
        """Rank 0 reports (with a checkpoint writer when one is due); every worker learns
        whether the trial was pruned."""
        every = self.training.checkpoint_every
        due = every is not None and self.step // every > self.last_checkpoint // every
        if due:
            self.last_checkpoint = self.step
        staged: Optional[str] = None
        save: Optional[SaveCheckpoint] = None
        if due and self.world > 1:  # every worker writes its part now; rank 0 hands the copy on
            staged = _distributed.from_rank_zero(tempfile.mkdtemp(prefix="raylaws-ckpt-") if self.rank == 0 else None)
            self._save(staged)
            save = lambda folder: shutil.copytree(staged, folder, dirs_exist_ok=True)  # noqa: E731
        elif due:
            save = self._save
        try:
            pruned = False
            if self.rank == 0 and self.hooks.report is not None:
                pruned = bool(self.hooks.report(progress, save))
            return bool(_distributed.from_rank_zero(pruned))
        finally:
            if staged is not None and self.rank == 0:
                shutil.rmtree(staged, ignore_errors=True)

    def _save(self, folder: str) -> None:
        _checkpoint.save(folder, self._state(self.generator.get_state(), self.best_weights), self.engine,
                         write_state=self.rank == 0)

    def _tokens(self) -> int:
        return self.step * self.hparams.batch_size * self.settings.seq_len

    def _finish(self, status: Status, reason: StopReason) -> Outcome:
        if status is Status.COMPLETED:
            self._save_best_model()
        return super()._finish(status, reason)
