"""A trial's resumable state, written and read in one place.

A checkpoint folder holds ``trial.pt`` (a :class:`TrialState`: the loop's counters and data
order, plus the torch engine's model/optimizer/schedule/scaler) and, for DeepSpeed, the
engine's own files under ``deepspeed/`` (each worker's ZeRO shard). Continuing from it
reproduces the uninterrupted run's losses exactly.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import torch

    from raylaws.train._engine import Engine

_FILE = "trial.pt"


@dataclass
class TrialState:
    """Everything a trial needs to continue where it stopped.

    ``model``/``optimizer``/``scheduler``/``scaler`` are state dicts of the torch engine (None
    where the engine writes its own files); ``generator`` the data-order generator's state;
    ``best``/``best_step`` the best eval loss so far and its step (``best_model`` the weights
    there, where the trial keeps its best model); ``history`` the
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
                             "scaler": state.scaler})
    return state
