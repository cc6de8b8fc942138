"""The DeepSpeed engine: ZeRO stages 0-3, bf16/fp16, gradient accumulation, on GPUs or (with
``DS_ACCELERATOR=cpu`` and gloo) on CPUs. Imported only for sizes whose backend is
``deepspeed``: DeepSpeed takes seconds to import.

Same optimizer (torch's AdamW, handed to DeepSpeed), same LR schedule (the LambdaLR), clipping
by DeepSpeed's ``gradient_clipping``. With ``bf16``/``fp16`` DeepSpeed keeps the weights in that
type with fp32 master weights in the optimizer (not autocast, as the torch engine does), so the
two backends agree closely in fp32 and only statistically in half precision.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Optional, Sequence

from raylaws.train._batches import MicroBatch
from raylaws.train._distributed import sum_over_workers
from raylaws.train._engine import Engine, adamw, loss_of, lr_schedule
from raylaws.trial import Hyperparameters, TrialSettings

if TYPE_CHECKING:
    import torch

_TAG = "deepspeed"  # the engine's files go to <checkpoint folder>/deepspeed/


class DeepSpeedEngine(Engine):
    """A ``deepspeed.DeepSpeedEngine`` around the model. Needs ``torch.distributed``
    initialised (the loop makes a 1-process group for a single-worker trial)."""

    shards_eval = False  # ZeRO-3 gathers parameters collectively: every worker runs every batch

    def __init__(self, model: "torch.nn.Module", hparams: Hyperparameters, settings: TrialSettings, steps: int,
                 device: "torch.device", world: int) -> None:
        import torch

        if device.type == "cpu":
            os.environ.setdefault("DS_ACCELERATOR", "cpu")  # read when deepspeed is first imported
        else:
            torch.cuda.set_device(device)
        import deepspeed

        per_worker = hparams.batch_size // world
        if per_worker * world != hparams.batch_size:
            raise ValueError(f"batch size {hparams.batch_size} does not divide among {world} workers")
        micro = min(settings.micro_batch_size or per_worker, per_worker)
        if per_worker % micro:
            raise ValueError(f"DeepSpeed needs the per-worker batch ({per_worker}) to be a multiple of "
                             f"micro_batch_size ({micro})")
        self._world, self._accumulation = world, per_worker // micro
        config = {
            "train_batch_size": hparams.batch_size,
            "train_micro_batch_size_per_gpu": micro,
            "gradient_accumulation_steps": self._accumulation,
            "gradient_clipping": settings.training.grad_clip or 0.0,
            "zero_optimization": {"stage": settings.zero_stage},
            "bf16": {"enabled": settings.precision == "bf16"},
            "fp16": {"enabled": settings.precision == "fp16", "loss_scale": 0, "initial_scale_power": 16},
            "zero_allow_untested_optimizer": True,
            "steps_per_print": 2**31 - 1,
            "wall_clock_breakdown": False,
        }
        schedule = lr_schedule(settings.training, steps)
        optimizer = adamw(model.parameters(), hparams, settings.training, device)
        self._engine, _, _, _ = deepspeed.initialize(
            model=model, optimizer=optimizer, config=config, dist_init_required=False,
            lr_scheduler=lambda wrapped: torch.optim.lr_scheduler.LambdaLR(wrapped, schedule))
        self.model = self._engine.module
        self.device = device
        self._engine.train()

    def train_step(self, micro_batches: Sequence[MicroBatch]) -> float:
        total: Any = None
        for index, micro in enumerate(micro_batches):
            loss = loss_of(self._forward(micro.inputs, micro.labels if micro.predicted else None), micro)
            # DeepSpeed divides by the accumulation steps and averages over workers.
            self._engine.backward(loss * (micro.weight * self._world * self._accumulation))
            part = loss.detach().float() * micro.weight
            total = part if total is None else total + part
            if index < len(micro_batches) - 1:
                self._engine.step()  # bookkeeping only, before the accumulation boundary
        mean = sum_over_workers([float(total)], self.device)[0]
        if mean == mean and abs(mean) != float("inf"):
            self._engine.step()  # clips, steps (unless fp16 overflowed), advances the schedule
        return mean

    def save_files(self, folder: str) -> None:
        self._engine.save_checkpoint(folder, tag=_TAG)

    def load_files(self, folder: str) -> None:
        path, _ = self._engine.load_checkpoint(folder, tag=_TAG)
        if path is None:
            raise FileNotFoundError(f"no DeepSpeed checkpoint in {folder}/{_TAG}")

    def close(self) -> None:
        if hasattr(self._engine, "destroy"):
            self._engine.destroy()

    def _forward(self, inputs: "torch.Tensor", labels: Optional["torch.Tensor"]) -> Any:
        return self._engine(input_ids=inputs, labels=labels)

    def _train_mode(self, training: bool) -> None:
        self._engine.train(training)
