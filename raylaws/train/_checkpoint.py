"""A trial's resumable state, written and read in one place.

A checkpoint folder holds ``trial.pt`` (a :class:`TrialState`: the loop's counters and data
order, plus the torch engine's model/optimizer/schedule/scaler) and, for DeepSpeed, the
engine's own files under ``deepspeed/`` (each worker's ZeRO shard). Continuing from it
reproduces the uninterrupted run's losses exactly.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

from raylaws.trial import Outcome, Progress, Status, StopReason

if TYPE_CHECKING:
    import torch

    from raylaws.train._engine import Engine

_FILE = "trial.pt"


@dataclass
class TrialState:
    """Everything a trial needs to continue where it stopped.

    ``model``/``optimizer``/``scheduler``/``scaler`` are state dicts of the torch engine (None
    where the engine writes its own files), ``masters`` its fp32 master weights where it has
    them; ``generator`` the data-order generator's state; ``best``/``best_step`` the best eval
    loss so far and its step (``best_model`` the weights there, where the trial keeps its best
    model); ``history`` the
    ``(step, eval_loss)`` of every evaluation; ``wall_seconds`` of training so far.
    """

    step: int
    best: float
    best_step: int
    history: list[tuple[int, float]]
    wall_seconds: float
    started_at: datetime
    generator: "torch.Tensor"
    model: Optional[dict[str, Any]] = None
    optimizer: Optional[dict[str, Any]] = None
    scheduler: Optional[dict[str, Any]] = None
    scaler: Optional[dict[str, Any]] = None
    best_model: Optional[dict[str, Any]] = None  # the model's state dict at ``best`` (kept for save_best only)
    masters: Optional[list[Any]] = None  # fp32 master weights of a bf16 model (training.master_weights)
    format: int = field(default=1)  # bump when the fields change meaning


def save(folder: str, state: TrialState, engine: "Engine", *, write_state: bool = True) -> None:
    """Write ``state`` and ``engine`` into ``folder``. Every worker calls it (a sharded engine
    writes its part); only one (``write_state``) writes ``trial.pt``."""
    import torch

    os.makedirs(folder, exist_ok=True)
    engine.save_files(folder)
    if write_state:
        values = asdict(state)
        values.update(engine.state_dicts())
        torch.save(values, os.path.join(folder, _FILE))


def load(folder: str, engine: "Engine") -> TrialState:
    """Read the state in ``folder`` and restore ``engine`` from it."""
    import torch

    values = torch.load(os.path.join(folder, _FILE), map_location="cpu", weights_only=False)
    state = TrialState(**values)
    state.history = [(int(s), float(v)) for s, v in state.history]
    engine.load_files(folder)
    engine.load_state_dicts({"model": state.model, "optimizer": state.optimizer, "scheduler": state.scheduler,
                             "scaler": state.scaler, "masters": state.masters})
    return state


class Ledger:
    """What a training loop counts between evaluations (step, best evaluation and its step, the
    history of evaluations, training wall time), restored from ``resume_from`` when given, and
    what it makes of them: the :class:`TrialState` it checkpoints, the
    :class:`~raylaws.trial.Progress` it reports and the :class:`~raylaws.trial.Outcome` it ends
    with. The pretraining and finetuning loops derive from it and say how many tokens a step
    is (``_tokens``); ``restored`` is the state read on resume, for what else they restore.
    """

    def __init__(self, engine: "Engine", resume_from: Optional[str]) -> None:
        self.started_at = datetime.now(timezone.utc)
        self.clock = time.perf_counter()
        self.elapsed_before = 0.0
        self.step, self.best, self.best_step = 0, math.inf, 0
        self.history: list[tuple[int, float]] = []
        self.resumed_from: Optional[int] = None
        self.restored: Optional[TrialState] = None
        if resume_from is not None:
            state = self.restored = load(resume_from, engine)
            self.step, self.best, self.best_step = state.step, state.best, state.best_step
            self.history = list(state.history)
            self.elapsed_before, self.started_at = state.wall_seconds, state.started_at
            self.resumed_from = state.step

    def _tokens(self) -> int:
        raise NotImplementedError

    def _wall_seconds(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.clock

    def _state(self, generator: "torch.Tensor", best_model: Optional[dict[str, Any]] = None) -> TrialState:
        return TrialState(step=self.step, best=self.best, best_step=self.best_step, history=list(self.history),
                          wall_seconds=self._wall_seconds(), started_at=self.started_at, generator=generator,
                          best_model=best_model)

    def _progress(self, eval_loss: float, train_loss: float) -> Progress:
        return Progress(step=self.step, tokens=self._tokens(), eval_loss=eval_loss, best_eval_loss=self.best,
                        train_loss=train_loss, wall_seconds=self._wall_seconds(), started_at=self.started_at,
                        resumed_from_step=self.resumed_from)

    def _finish(self, status: Status, reason: StopReason) -> Outcome:
        return Outcome(status=status, stop_reason=reason, eval_loss=None if math.isinf(self.best) else self.best,
                       steps=self.step, tokens=self._tokens(), wall_seconds=self._wall_seconds(),
                       started_at=self.started_at, finished_at=datetime.now(timezone.utc),
                       history=list(self.history), resumed_from_step=self.resumed_from)
