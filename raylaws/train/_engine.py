"""Execution backends: how one optimizer step runs (device, precision, data parallelism).

An :class:`Engine` owns the model, optimizer, LR schedule and loss scaler of a trial; the loop
(:mod:`raylaws.train._loop`) owns everything else (data, evaluation schedule, early stopping,
reporting, checkpoints). Two engines: :class:`TorchEngine` (plain torch, optional DDP) and
:class:`raylaws.train._deepspeed.DeepSpeedEngine` (imports DeepSpeed only when chosen).
"""

from __future__ import annotations

import abc
import contextlib
import math
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from raylaws.spec import TrainingSpec
from raylaws.train._batches import MicroBatch
from raylaws.trial import Hyperparameters, TrialSettings

if TYPE_CHECKING:
    import torch

BETAS, EPS = (0.9, 0.98), 1e-8  # AdamW, as in the paper (RoBERTa's betas)


class Engine(abc.ABC):
    """One trial's model and optimizer on one worker.

    Contract:
        * :meth:`train_step` runs forward and backward over this worker's micro-batches of one
          global batch and returns the global batch's mean token loss, summed over workers
          (so every worker returns the same number). Only if it is finite does it then clip
          the gradients, apply one optimizer step and advance the LR schedule; a non-finite
          loss leaves the weights untouched. An fp16 step skipped by the loss scaler (an inf
          gradient) is not an error: the loss is finite, the weights and schedule stay put.
        * :meth:`evaluate` gives ``(sum of token losses, tokens)`` over this worker's
          evaluation batches, in eval mode, without gradients.
        * :meth:`state_dicts` / :meth:`load_state_dicts` hold what a checkpoint keeps in
          memory; :meth:`save_files` / :meth:`load_files` what the engine writes itself
          (DeepSpeed: every worker writes its shard, so every worker calls them).
        * ``model`` is the unwrapped ``transformers`` model.
    """

    model: "torch.nn.Module"
    device: "torch.device"
    shards_eval: bool = True  # False: every worker evaluates every batch (ZeRO-3 gathers are collective)

    @abc.abstractmethod
    def train_step(self, micro_batches: Sequence[MicroBatch]) -> float:
        ...

    def evaluate(self, batches: Sequence[tuple[Any, Any, int]]) -> tuple[float, int]:
        import torch

        total, weight = 0.0, 0
        self._train_mode(False)
        with torch.no_grad():
            for inputs, labels, n in batches:
                with self._autocast():
                    loss = self._eval_forward(inputs, labels).loss
                total += float(loss) * n
                weight += n
        self._train_mode(True)
        return total, weight

    def kept_weights(self) -> dict[str, Any]:
        """The weights a trial keeps of its best evaluation (its kept model): the model's state
        dict, at full precision where the engine holds one."""
        return self.model.state_dict()

    def kept_model(self, weights: dict[str, Any]) -> "torch.nn.Module":
        """The model with ``weights`` (from :meth:`kept_weights`) loaded, once training is over."""
        self.model.load_state_dict(weights)
        return self.model

    def state_dicts(self) -> dict[str, Any]:
        return {}

    def load_state_dicts(self, states: dict[str, Any]) -> None:
        pass

    def save_files(self, folder: str) -> None:
        pass

    def load_files(self, folder: str) -> None:
        pass

    def close(self) -> None:
        pass

    @abc.abstractmethod
    def _forward(self, inputs: "torch.Tensor", labels: Optional["torch.Tensor"]) -> Any:
        ...

    def _eval_forward(self, inputs: "torch.Tensor", labels: "torch.Tensor") -> Any:
        return self._forward(inputs, labels)

    @abc.abstractmethod
    def _train_mode(self, training: bool) -> None:
        ...

    def _autocast(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def adamw(parameters: Any, hparams: Hyperparameters, training: TrainingSpec, device: "torch.device") -> Any:
    """AdamW with the paper's betas; fused kernels on a GPU (the CPU keeps torch's default,
    which keeps fp32 CPU results identical across raylaws versions)."""
    import torch

    extra = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(parameters, lr=hparams.learning_rate, betas=BETAS, eps=EPS,
                             weight_decay=training.weight_decay, **extra)


def lr_schedule(training: TrainingSpec, steps: int) -> Callable[[int], float]:
    """The LR multiplier at each step: linear warmup, then constant, linear or cosine to zero."""
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


def autocast_dtype(settings: TrialSettings) -> Optional["torch.dtype"]:
    import torch

    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[settings.precision]


def loss_of(outputs: Any, micro: MicroBatch) -> "torch.Tensor":
    """The micro-batch's mean token loss; 0 (with a graph) when it predicts no token, where
    ``transformers`` would give 0/0."""
    return outputs.loss if micro.predicted else outputs.logits.float().sum() * 0.0


class TorchEngine(Engine):
    """Plain torch: the model on ``device``, autocast for bf16/fp16 (with a loss scaler for
    fp16), DDP when the trial has several workers.

    With ``training.master_weights`` (bf16) the model itself is bf16, so forward and backward
    run without casts, and the optimizer steps fp32 master copies of the weights (gradients
    copied up, weights copied back down after each step): the arithmetic DeepSpeed's bf16
    optimizer does.
    """

    def __init__(self, model: "torch.nn.Module", hparams: Hyperparameters, settings: TrialSettings, steps: int,
                 device: "torch.device", world: int) -> None:
        import torch

        self.device = device
        self._world = world
        self._grad_clip = settings.training.grad_clip
        self._dtype = autocast_dtype(settings)
        self._masters: Optional[list["torch.Tensor"]] = None
        if settings.training.master_weights:
            self.model = model.to(device=device, dtype=torch.bfloat16)
            self._masters = [p.detach().float().requires_grad_(True) for p in self._weights()]
            self._dtype = None  # the weights are bf16 already: no autocast
        else:
            self.model = model.to(device)
        self.optimizer = adamw(self._stepped(), hparams, settings.training, device)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_schedule(settings.training, steps))
        self.scaler = torch.amp.GradScaler(device.type) if settings.precision == "fp16" else None
        self._wrapped = self.model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self._wrapped = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        if settings.training.compile and device.type == "cuda":
            self._wrapped = torch.compile(self._wrapped)
        self.model.train()

    def _weights(self) -> list["torch.Tensor"]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def _stepped(self) -> Any:
        """The tensors the optimizer steps and the clip bounds: the fp32 masters, or the weights."""
        return self._masters if self._masters is not None else self.model.parameters()

    def train_step(self, micro_batches: Sequence[MicroBatch]) -> float:
        self.zero_grad()
        single = len(micro_batches) == 1 and self._world == 1
        total: Any = None
        for index, micro in enumerate(micro_batches):
            last = index == len(micro_batches) - 1
            sync = contextlib.nullcontext() if last or self._world == 1 else self._wrapped.no_sync()
            with sync:
                with self._autocast():
                    loss = loss_of(self._forward(micro.inputs, micro.labels if micro.predicted else None), micro)
                # DDP averages gradients over workers: weight * world makes them sum to the global mean.
                scaled = loss if single else loss * (micro.weight * self._world)
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            part = loss.detach() if single else loss.detach().float() * micro.weight
            total = part if total is None else total + part
        mean = float(total) if self._world == 1 else _sum_over_workers(float(total), self.device)
        return self.apply_step(mean)

    def zero_grad(self) -> None:
        """Clear the gradients before a step's backward passes."""
        self.optimizer.zero_grad(set_to_none=True)
        if self._masters is not None:
            self.model.zero_grad(set_to_none=True)

    def apply_step(self, mean: float) -> float:
        """After the backward passes of a step whose mean loss is ``mean``: if it is finite,
        clip the gradients, step the optimizer (or the loss scaler) and the LR schedule; return
        ``mean``. (:mod:`raylaws.train._stacked` runs the backward passes of several trials at
        once, then this for each.)"""
        import torch

        if not math.isfinite(mean):
            return mean
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self._masters is not None:
            for weight, master in zip(self._weights(), self._masters):
                master.grad = None if weight.grad is None else weight.grad.float()
        if self._grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self._stepped(), self._grad_clip)
        if self.scaler is None:
            self.optimizer.step()
            self.scheduler.step()
            self._copy_masters_down()
            return mean
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer)  # skipped when a gradient is inf/nan
        self.scaler.update()
        if self.scaler.get_scale() >= scale:  # not skipped (a skip halves the scale)
            self.scheduler.step()
        return mean

    def state_dicts(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                **({"masters": [m.detach().clone() for m in self._masters]} if self._masters is not None else {})}

    def load_state_dicts(self, states: dict[str, Any]) -> None:
        self.model.load_state_dict(states["model"])
        if self._masters is not None:
            import torch

            with torch.no_grad():
                for master, saved in zip(self._masters, states["masters"]):
                    master.copy_(saved)
        self.optimizer.load_state_dict(states["optimizer"])
        self.scheduler.load_state_dict(states["scheduler"])
        if self.scaler is not None and states.get("scaler") is not None:
            self.scaler.load_state_dict(states["scaler"])

    def kept_weights(self) -> dict[str, Any]:
        """With bf16 weights, their fp32 masters (a kept model is fp32, for finetuning)."""
        state = self.model.state_dict()
        if self._masters is None:
            return state
        master_of = {weight.data_ptr(): master for weight, master in zip(self._weights(), self._masters)}
        return {name: master_of.get(value.data_ptr(), value).float() if value.is_floating_point() else value
                for name, value in state.items()}

    def kept_model(self, weights: dict[str, Any]) -> "torch.nn.Module":
        if self._masters is not None:
            self.model.float()  # training is over: fp32 weights to load the masters into
        return super().kept_model(weights)

    def _copy_masters_down(self) -> None:
        """The bf16 weights from their just-stepped fp32 masters (round to nearest)."""
        if self._masters is None:
            return
        import torch

        with torch.no_grad():
            for weight, master in zip(self._weights(), self._masters):
                weight.copy_(master)

    def _forward(self, inputs: "torch.Tensor", labels: Optional["torch.Tensor"]) -> Any:
        return self._lm(self._wrapped, inputs, labels)

    def _eval_forward(self, inputs: "torch.Tensor", labels: "torch.Tensor") -> Any:
        return self._lm(self.model, inputs, labels)  # not DDP's forward: no collectives

    def _lm(self, module: Any, inputs: "torch.Tensor", labels: Optional["torch.Tensor"]) -> Any:
        """``module``'s outputs (the model, DDP's wrapper, or a stack's functional call) with
        its loss; for bf16 weights the loss is the model's own loss function (its ``loss_type``)
        on the logits in fp32 (``BertForMaskedLM`` would take it in bf16)."""
        if self._masters is None or labels is None:
            return module(input_ids=inputs, labels=labels)
        outputs = module(input_ids=inputs)
        outputs.loss = self.model.loss_function(logits=outputs.logits, labels=labels,
                                                vocab_size=self.model.config.vocab_size)
        return outputs

    def _train_mode(self, training: bool) -> None:
        self.model.train(training)

    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch

        if self._dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._dtype)


def _sum_over_workers(value: float, device: "torch.device") -> float:
    from raylaws.train._distributed import sum_over_workers

    return sum_over_workers([value], device)[0]

