"""Training batches and evaluation windows.

Every worker draws the same *global* batch from the seeded generator (windows, then masks) and
keeps its own block of rows, so 1 and N workers train on the same sequences at every step. The
token stream stays on disk (each window is read as it is drawn) and batches are drawn on the CPU:
the generator is a CPU generator, so a seed means the same sequences on any device and any
number of workers. On a GPU a drawn batch is copied from pinned memory with a non-blocking copy
(a batch is at most a few hundred KiB, and drawing one costs well under a millisecond; see
``benchmarks/gpu.py`` and ``benchmarks/data.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from raylaws.data import TokenData
from raylaws.trial import Objective

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class MicroBatch:
    """One forward/backward pass of a worker.

    ``weight`` is this micro-batch's share of the global batch's predicted tokens, so the
    weighted losses of all micro-batches of all workers add up to the global batch's mean
    token loss (BERT masks a varying number of tokens per sequence).
    """

    inputs: "torch.Tensor"  # (b, T) token ids
    labels: "torch.Tensor"  # (b, T) targets, -100 where not predicted
    weight: float
    predicted: int  # tokens with a target in this micro-batch


class Batches:
    """Random windows of the training stream, in an order fixed by the seed's generator."""

    def __init__(self, data: TokenData, objective: Objective, seq_len: int, batch_size: int,
                 generator: "torch.Generator") -> None:
        import torch

        # The stream stays on disk (raylaws.data.TokenStream reads each drawn window, as int64):
        # a trial's memory does not grow with the corpus.
        self._tokens = data.train
        self._objective = objective
        self._seq_len = seq_len
        self._batch_size = batch_size
        self._generator = generator
        self._data = data

    def next(self) -> tuple["torch.Tensor", "torch.Tensor"]:
        """The next global batch ``(inputs, labels)``, each (batch_size, seq_len), on the CPU."""
        import torch

        starts = torch.randint(0, len(self._tokens) - self._seq_len, (self._batch_size,), generator=self._generator)
        inputs = torch.from_numpy(self._tokens.windows(starts.numpy(), self._seq_len))  # (B, T) int64
        if self._objective == "clm":
            return inputs, inputs  # the model shifts labels by one
        return mask_tokens(inputs, self._data, self._generator)


def split(inputs: "torch.Tensor", labels: "torch.Tensor", *, rank: int, world: int,
          micro_batch_size: Optional[int], device: "torch.device") -> list[MicroBatch]:
    """This worker's micro-batches of a global batch: its contiguous block of ``B / world`` rows,
    in chunks of ``micro_batch_size`` (None: one chunk), on ``device``."""
    if inputs.shape[0] % world:
        raise ValueError(f"batch size {inputs.shape[0]} does not divide among {world} workers")
    clm = labels is inputs
    total = predicted_tokens(inputs, labels)
    rows = inputs.shape[0] // world
    mine = slice(rank * rows, (rank + 1) * rows)
    chunk = micro_batch_size or rows
    pin = device.type == "cuda"
    out = []
    for part_inputs, part_labels in zip(inputs[mine].split(chunk), labels[mine].split(chunk)):
        predicted = predicted_tokens(part_inputs, part_labels) if labels is not inputs else part_inputs[:, 1:].numel()
        if labels is inputs:  # clm: the same tensor, one copy
            part_inputs = part_labels = _to(part_inputs, device, pin)
        else:
            part_inputs, part_labels = _to(part_inputs, device, pin), _to(part_labels, device, pin)
        out.append(MicroBatch(part_inputs, part_labels, predicted / max(total, 1), predicted))
    return out


def predicted_tokens(inputs: "torch.Tensor", labels: "torch.Tensor") -> int:
    """Tokens with a target: all but the first of each sequence (clm), the masked ones (mlm)."""
    if labels is inputs:
        return int((labels[:, 1:] != -100).sum())
    return int((labels != -100).sum())


def _to(tensor: "torch.Tensor", device: "torch.device", pin: bool) -> "torch.Tensor":
    if device.type == "cpu":
        return tensor
    return (tensor.pin_memory() if pin else tensor).to(device, non_blocking=True)


def mask_tokens(inputs: "torch.Tensor", data: TokenData, generator: "torch.Generator") -> tuple[Any, Any]:
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


class EvalWindows:
    """Fixed, non-overlapping windows of the held-out stream, on the device, as
    ``(inputs, labels, predicted tokens)``; with several workers each keeps every
    ``world``-th batch and the loop sums the losses over workers."""

    def __init__(self, data: TokenData, objective: Objective, seq_len: int, device: "torch.device",
                 *, rank: int = 0, world: int = 1, batch_size: int = 64) -> None:
        import torch

        count = len(data.eval) // seq_len
        windows = torch.from_numpy(data.eval[: count * seq_len].astype(np.int64)).view(count, seq_len)
        if objective == "clm":
            batches = [(w, w) for w in windows.split(batch_size)]
        else:  # fixed masks, so every trial is scored on the same positions
            generator = torch.Generator().manual_seed(12_345)
            batches = [mask_tokens(w, data, generator) for w in windows.split(batch_size)]
        self.batches = []
        for inputs, labels in batches[rank::world]:
            n = predicted_tokens(inputs, labels)
            if labels is inputs:
                inputs = labels = inputs.to(device)
            else:
                inputs, labels = inputs.to(device), labels.to(device)
            self.batches.append((inputs, labels, n))
