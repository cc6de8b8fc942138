"""The backends, by name: the one place that knows every engine (so neither engine module
imports the other)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from raylaws.train._engine import Engine, TorchEngine
from raylaws.trial import Hyperparameters, TrialSettings

if TYPE_CHECKING:
    import torch


def make_engine(model: "torch.nn.Module", hparams: Hyperparameters, settings: TrialSettings, steps: int,
                device: "torch.device", world: int) -> Engine:
    """The engine ``settings.backend`` names, holding ``model`` (already seeded and built).

    ``torch`` is :class:`raylaws.train._engine.TorchEngine`; ``deepspeed`` is
    :class:`raylaws.train._deepspeed.DeepSpeedEngine`, which imports DeepSpeed only when chosen.
    """
    if settings.backend == "deepspeed":
        from raylaws.train._deepspeed import DeepSpeedEngine

        return DeepSpeedEngine(model, hparams, settings, steps, device, world)
    return TorchEngine(model, hparams, settings, steps, device, world)


__all__ = ["make_engine"]
