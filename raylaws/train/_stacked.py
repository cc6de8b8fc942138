"""Several trials of one size trained in one process as one stacked model.

Tiny sizes leave a GPU idle between kernel launches; trained together, K trials of a size make
K times larger kernels. Each member is a whole trial of its own: its seed (initialisation and
data order), learning rate, schedule, AdamW state, gradient clipping, evaluations, early
stopping, pruning, checkpoints and outcome, exactly as :func:`raylaws.train.train_trial` keeps
them; only the forward and backward passes are shared. At each step the members' weights are
stacked along a new first dimension and the model runs once under ``torch.func.vmap``
(``functional_call`` on a weightless copy of the architecture, with the eager attention, which
vmap batches: it has no batching rule for the fused kernels); the summed loss's backward
pass leaves each member's own gradients on its own weights, and each member's engine then
steps as it would alone. A member that ends (budget, patience, pruning, divergence) leaves the
stack; the others go on. In fp32 on a CPU a member's evaluations equal the trial trained alone
to float rounding (``tests/train_tests/test_stacked.py``). With dropout the members draw
their own masks, so they are not the alone run's masks. A member's ``wall_seconds`` is the
stack's: the time it took with the others, not alone.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from raylaws.data import TokenData
from raylaws.ladder import Size
from raylaws.train._batches import MicroBatch
from raylaws.train._engine import TorchEngine, loss_of
from raylaws.train._loop import _build, _Trial, trial_device
from raylaws.trial import Hyperparameters, Outcome, Status, StopReason, TrialHooks, TrialSettings

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Member:
    """One trial of a stack: its hyperparameters, seed and hooks (as :func:`train_trial` takes them)."""

    hparams: Hyperparameters
    seed: int
    hooks: TrialHooks = TrialHooks()


def train_stacked(size: Size, members: Sequence[Member], data: TokenData, settings: TrialSettings) -> list[Outcome]:
    """Train every member's trial of ``size`` in this process, as one stacked model.

    Args:
        size: the model size (every member's).
        members: the trials; they must share a batch size (the stacked batch has one shape).
        data: token streams from :func:`raylaws.data.prepare`.
        settings: as for :func:`train_trial`; the torch backend with one worker and one
            micro-batch per step.

    Returns:
        Each member's :class:`~raylaws.trial.Outcome`, in the order given.

    Raises:
        ValueError: no members, members of several batch sizes, or settings that cannot stack
            (several workers, DeepSpeed, micro-batches).
    """
    _check(members, settings)
    device = trial_device(size, settings)
    engines: list[TorchEngine] = []
    try:
        trials = []
        for member in members:
            engine = _build(size, member.hparams, data, settings, member.seed, device)
            assert isinstance(engine, TorchEngine)
            engines.append(engine)
            trials.append(_Trial(engine, member.hparams, data, settings, member.seed, member.hooks))
        outcomes: list[Optional[Outcome]] = [trial._finish(Status.COMPLETED, StopReason.BUDGET)
                                             if trial.step >= trial.steps else None for trial in trials]
        stack = _Stack(engines[0].model)
        while active := [i for i, outcome in enumerate(outcomes) if outcome is None]:
            batches = [trials[i].begin_step() for i in active]
            losses = stack.backward([engines[i] for i in active], [b[0] for b in batches])
            for i, loss in zip(active, losses):
                outcomes[i] = trials[i].end_step(engines[i].apply_step(loss))
        return [outcome for outcome in outcomes if outcome is not None]
    finally:
        for engine in engines:
            engine.close()


def _check(members: Sequence[Member], settings: TrialSettings) -> None:
    if not members:
        raise ValueError("a stack needs at least one member")
    batch_sizes = sorted({m.hparams.batch_size for m in members})
    if len(batch_sizes) > 1:
        raise ValueError(f"stacked members must share a batch size (got {batch_sizes}): stack each batch size apart")
    if settings.workers != 1 or settings.backend != "torch":
        raise ValueError("only single-worker trials of the torch backend stack")
    if settings.micro_batch_size is not None and settings.micro_batch_size < batch_sizes[0]:
        raise ValueError("stacked trials take a step in one micro-batch: leave micro_batch_size unset")


class _Stack:
    """The members' forward and backward passes as one: a weightless copy of the architecture
    called with each member's weights under ``vmap``."""

    def __init__(self, model: "torch.nn.Module") -> None:
        self._shape = copy.deepcopy(model).to("meta")
        self._shape.train()
        # vmap has no batching rule for torch's fused attention kernels (it would loop over the
        # members); the eager attention is plain matmuls and a softmax, which it batches.
        self._shape.config._attn_implementation = "eager"

    def backward(self, engines: Sequence[TorchEngine], micro: Sequence[MicroBatch]) -> list[float]:
        """Run forward and backward for each engine on its micro-batch; return each mean loss.
        Gradients land on each engine's own weights, ready for its ``apply_step``."""
        import torch
        from torch.func import functional_call, vmap

        for engine in engines:
            engine.zero_grad()
        alone = [k for k, m in enumerate(micro) if not m.predicted]  # nothing to predict: loss_of's zero
        stacked = [k for k in range(len(engines)) if k not in alone]
        losses: dict[int, "torch.Tensor"] = {}
        if stacked:
            weights = _stacked([engines[k].model.named_parameters(remove_duplicate=False) for k in stacked])
            buffers = _stacked([engines[k].model.named_buffers(remove_duplicate=False) for k in stacked])

            first = engines[stacked[0]]

            def one(weights: Any, buffers: Any, inputs: "torch.Tensor", labels: "torch.Tensor") -> "torch.Tensor":
                def model(**batch: Any) -> Any:
                    return functional_call(self._shape, (weights, buffers), (), batch)

                return first._lm(model, inputs, labels).loss  # the loss as the engine takes it

            inputs = torch.stack([micro[k].inputs for k in stacked])  # (members, batch, seq_len)
            labels = torch.stack([micro[k].labels for k in stacked])
            with first._autocast():
                joint = vmap(one, randomness="different")(weights, buffers, inputs, labels)
            losses.update(zip(stacked, joint.unbind()))
        for k in alone:
            with engines[k]._autocast():
                losses[k] = loss_of(engines[k]._forward(micro[k].inputs, None), micro[k])
        scaled = [engines[k].scaler.scale(loss) if engines[k].scaler else loss for k, loss in losses.items()]
        torch.stack([s.float() for s in scaled]).sum().backward()
        return [float(losses[k].detach()) for k in range(len(engines))]


def _stacked(members: Sequence[Any]) -> dict[str, "torch.Tensor"]:
    """Each tensor name of the members' ``(name, tensor)`` lists to the members' tensors stacked
    (a tensor tied under two names, as GPT-2's output projection to its embedding, stacked once
    and given under both)."""
    import torch

    named = [list(m) for m in members]
    out: dict[str, "torch.Tensor"] = {}
    seen: dict[int, "torch.Tensor"] = {}
    for index, (name, tensor) in enumerate(named[0]):
        if id(tensor) not in seen:
            seen[id(tensor)] = torch.stack([m[index][1] for m in named])
        out[name] = seen[id(tensor)]
    return out


__all__ = ["Member", "train_stacked"]
