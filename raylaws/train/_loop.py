"""One trial: train a rung's model with given hyperparameters and report eval loss.

Knows nothing of Ray or Optuna: a function of (rung, hyperparameters, data, seed, a report
callback). :mod:`raylaws.tune` wraps it for Ray Tune; the benchmark calls it from a process
pool; a DeepSpeed backend can slot in beside it.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Literal, Optional

import numpy as np

from raylaws.data import TokenData
from raylaws.ladder import Size
from raylaws.trial import Objective
from raylaws.spec import TrainingSpec

TrialStatus = Literal["completed", "pruned", "diverged", "failed"]


@dataclass(frozen=True)
class Hyperparameters:
    """What the search tunes. ``batch_size`` counts sequences per optimizer step."""

    learning_rate: float
    batch_size: int


@dataclass(frozen=True)
class Progress:
    """One evaluation during training, passed to the report callback.

    ``tokens`` counts training tokens seen so far; ``wall_seconds`` since the trial started.
    """

    step: int
    tokens: int
    eval_loss: float
    best_eval_loss: float
    train_loss: float
    wall_seconds: float


@dataclass(frozen=True)
class Outcome:
    """How a trial ended.

    ``eval_loss`` is the best eval loss measured (None if none was); ``stop_reason`` is one of
    ``budget``, ``patience``, ``pruned``, ``diverged``.
    """

    status: TrialStatus
    stop_reason: str
    eval_loss: Optional[float]
    steps: int
    tokens: int
    wall_seconds: float
    started_at: datetime
    finished_at: datetime
    history: list[tuple[int, float]] = field(default_factory=list)  # (step, eval_loss)
    resumed_from_step: Optional[int] = None  # step of the checkpoint this run continued from

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Report = Callable[[Progress], Optional[bool]]
"""Called after every evaluation; returning True stops the trial as ``pruned``."""


def total_steps(training: TrainingSpec, batch_size: int, seq_len: int) -> int:
    """Optimizer steps of the budget: ``max_steps``, or ``max_tokens`` / tokens per step."""
    if training.max_steps is not None:
        return training.max_steps
    assert training.max_tokens is not None
    return max(1, training.max_tokens // (batch_size * seq_len))


def train_trial(
    size: Size,
    hparams: "Any",
    data: TokenData,
    settings: "Any",
    seed: int,
    hooks: "Any" = None,
) -> "Any":
    """Interim adapter to the typed interface of :mod:`raylaws.trial` (replaced by the backend rewrite)."""
    import os

    import torch

    from raylaws.trial import Outcome as TypedOutcome
    from raylaws.trial import Progress as TypedProgress
    from raylaws.trial import TrialHooks

    hooks = hooks or TrialHooks()
    resume = None
    if hooks.resume_from is not None:
        resume = torch.load(os.path.join(hooks.resume_from, "trial.pt"), weights_only=False)
    pending: dict[str, Any] = {}
    started = resume["started_at"] if resume else datetime.now(timezone.utc)

    def keep(state: dict[str, Any]) -> None:
        pending["state"] = state

    def report(progress: Progress) -> Optional[bool]:
        if hooks.report is None:
            return None
        state = pending.pop("state", None)
        save = None if state is None else (lambda folder: torch.save(state, os.path.join(folder, "trial.pt")))
        typed = TypedProgress(progress.step, progress.tokens, progress.eval_loss, progress.best_eval_loss,
                              progress.train_loss, progress.wall_seconds, started,
                              None if resume is None else int(resume["step"]))
        return hooks.report(typed, save)

    training = settings.training
    outcome = _train_trial(size, hparams, data, training, objective=settings.objective, seq_len=settings.seq_len,
                           seed=seed, report=report, threads=settings.threads,
                           checkpoint=keep if training.checkpoint_every else None,
                           checkpoint_every=training.checkpoint_every, resume=resume,
                           tie_embeddings=settings.tie_embeddings)
    return TypedOutcome.from_report(_as_report(outcome))


def _as_report(outcome: Outcome) -> dict[str, Any]:
    report = outcome.as_dict()
    report["started_at"] = outcome.started_at.isoformat()
    report["finished_at"] = outcome.finished_at.isoformat()
    return report


def _train_trial(
    rung: Size,
    hparams: Hyperparameters,
    data: TokenData,
    training: TrainingSpec,
    *,
    objective: Objective,
    seq_len: int,
    seed: int,
    report: Optional[Report] = None,
    threads: Optional[int] = None,
    checkpoint: Optional[Callable[[dict[str, Any]], None]] = None,
    checkpoint_every: Optional[int] = None,
    resume: Optional[dict[str, Any]] = None,
    tie_embeddings: bool = True,
) -> Outcome:
    """Train ``rung`` with ``hparams`` on ``data`` and return how it ended.

    Args:
        rung: the model size.
        hparams: peak learning rate and batch size (sequences).
        data: token streams from :func:`raylaws.data.prepare`.
        training: budget, schedule, eval interval, patience.
        objective: ``clm`` (GPT-2 style) or ``mlm`` (BERT style, 15% masking).
        seq_len: tokens per sequence.
        seed: fixes initialisation, data order and masking.
        report: called after each evaluation; returning True prunes the trial.
        threads: torch intra-op threads (one per CPU of the trial).
        checkpoint: called with a resumable state (a snapshot) after an evaluation, if given.
        checkpoint_every: steps between checkpoints (at the first evaluation past each
            multiple); None checkpoints at every evaluation.
        resume: a state from ``checkpoint`` to continue from.
        tie_embeddings: tie the output projection to the token embedding.

    Returns:
        The :class:`Outcome`. Non-finite or exploding loss ends it as ``diverged``.
    """
    import torch

    from raylaws.train._model import build_model

    if threads:
        torch.set_num_threads(threads)
    started_at = datetime.now(timezone.utc)
    clock = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(objective, rung, vocab_size=data.vocab_size, seq_len=seq_len, dropout=training.dropout,
                        special_id=data.eos_id if objective == "clm" else data.pad_id, tie_embeddings=tie_embeddings)
    optimizer = torch.optim.AdamW(model.parameters(), lr=hparams.learning_rate, betas=(0.9, 0.98), eps=1e-8,
                                  weight_decay=training.weight_decay)
    steps = total_steps(training, hparams.batch_size, seq_len)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(training, steps))
    generator = torch.Generator().manual_seed(seed)
    batches = _Batches(data, objective, seq_len, hparams.batch_size, generator)
    evaluator = _Evaluator(data, objective, seq_len)
    uniform_loss = math.log(data.vocab_size)  # an untrained model sits near this

    step, best, best_step, history = 0, math.inf, 0, []
    elapsed_before = 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        generator.set_state(resume["generator"])
        step, best, best_step = resume["step"], resume["best"], resume["best_step"]
        history = [tuple(h) for h in resume["history"]]
        elapsed_before = resume["wall_seconds"]
        started_at = resume["started_at"]
    last_checkpoint = step

    def finish(status: TrialStatus, reason: str) -> Outcome:
        return Outcome(
            status=status,
            stop_reason=reason,
            eval_loss=None if math.isinf(best) else best,
            steps=step,
            tokens=step * hparams.batch_size * seq_len,
            wall_seconds=elapsed_before + time.perf_counter() - clock,
            started_at=started_at,
            finished_at=datetime.now(timezone.utc),
            history=history,
            resumed_from_step=None if resume is None else int(resume["step"]),
        )

    model.train()
    running, running_count = 0.0, 0
    while step < steps:
        inputs, labels = batches.next()
        loss = model(input_ids=inputs, labels=labels).loss
        if not torch.isfinite(loss):
            return finish("diverged", "diverged")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if training.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), training.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        running += float(loss.detach())
        running_count += 1
        if step % training.eval_interval and step != steps:
            continue
        eval_loss = evaluator.loss(model)
        history.append((step, eval_loss))
        if not math.isfinite(eval_loss) or eval_loss > training.divergence_factor * uniform_loss:
            return finish("diverged", "diverged")
        if best - eval_loss > training.min_delta or math.isinf(best):
            best, best_step = eval_loss, step
        progress = Progress(step, step * hparams.batch_size * seq_len, eval_loss, best, running / running_count,
                            elapsed_before + time.perf_counter() - clock)
        running, running_count = 0.0, 0
        due = checkpoint_every is None or step - last_checkpoint >= checkpoint_every
        if checkpoint is not None and due:  # a snapshot: the live tensors keep training after this call
            last_checkpoint = step
            checkpoint(copy.deepcopy({
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
                "step": step, "best": best, "best_step": best_step, "history": history,
                "wall_seconds": progress.wall_seconds, "started_at": started_at,
            }))
        if report is not None and report(progress):
            return finish("pruned", "pruned")
        if training.patience is not None and step - best_step >= training.patience:
            return finish("completed", "patience")
    return finish("completed", "budget")


def _schedule(training: TrainingSpec, steps: int) -> Callable[[int], float]:
    warmup = min(training.warmup_steps, max(steps - 1, 0))
    kind = training.schedule

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, steps - warmup)
        if kind == "linear":
            return max(0.0, 1.0 - progress)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))  # cosine to zero

    return factor


class _Batches:
    """Random windows of the training stream, in an order fixed by the seed's generator."""

    def __init__(self, data: TokenData, objective: Objective, seq_len: int, batch_size: int, generator: "Any") -> None:
        import torch

        self._torch = torch
        self._tokens = torch.from_numpy(data.train.astype(np.int64))
        self._objective = objective
        self._seq_len = seq_len
        self._batch_size = batch_size
        self._generator = generator
        self._offsets = torch.arange(seq_len)
        self._data = data

    def next(self) -> tuple["Any", "Any"]:
        torch = self._torch
        starts = torch.randint(0, len(self._tokens) - self._seq_len, (self._batch_size,), generator=self._generator)
        inputs = self._tokens[starts[:, None] + self._offsets]  # (B, T)
        if self._objective == "clm":
            return inputs, inputs  # the model shifts labels by one
        return mask_tokens(inputs, self._data, self._generator)


def mask_tokens(inputs: "Any", data: TokenData, generator: "Any") -> tuple["Any", "Any"]:
    """BERT masking: 15% of positions predicted; of those 80% <mask>, 10% random, 10% kept."""
    import torch

    labels = inputs.clone()
    chosen = torch.rand(inputs.shape, generator=generator) < 0.15
    labels[~chosen] = -100
    masked = inputs.clone()
    draw = torch.rand(inputs.shape, generator=generator)
    masked[chosen & (draw < 0.8)] = data.mask_id
    randomised = chosen & (draw >= 0.8) & (draw < 0.9)
    masked[randomised] = torch.randint(0, data.vocab_size, inputs.shape, generator=generator)[randomised]
    return masked, labels


class _Evaluator:
    """Mean token loss over fixed, non-overlapping windows of the held-out stream."""

    def __init__(self, data: TokenData, objective: Objective, seq_len: int, batch_size: int = 64) -> None:
        import torch

        count = len(data.eval) // seq_len
        windows = torch.from_numpy(data.eval[: count * seq_len].astype(np.int64)).view(count, seq_len)
        if objective == "clm":
            self._batches = [(w, w) for w in windows.split(batch_size)]
        else:  # fixed masks, so every trial is scored on the same positions
            generator = torch.Generator().manual_seed(12_345)
            self._batches = [mask_tokens(w, data, generator) for w in windows.split(batch_size)]

    def loss(self, model: "Any") -> float:
        import torch

        model.eval()
        total, weight = 0.0, 0
        with torch.no_grad():
            for inputs, labels in self._batches:
                n = int((labels[:, 1:] != -100).sum()) if labels is inputs else int((labels != -100).sum())
                total += float(model(input_ids=inputs, labels=labels).loss) * n
                weight += n
        model.train()
        return total / max(weight, 1)
