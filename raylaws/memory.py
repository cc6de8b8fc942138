"""Memory one trial of a size needs, estimated before Ray starts, against what there is.

The estimate, per trial worker, in bytes (``b`` sequences per forward pass per worker, ``s``
tokens per sequence, ``H`` width, ``L`` layers, ``a`` heads, ``V`` vocabulary):

* parameters: ``P`` = the built model's non-embedding parameters (``Size.n_params_exact``)
  plus the embeddings ``V*H`` (tokens) + ``s*H`` (positions) + ``V*H`` if the output
  projection is untied;
* weights, gradients and AdamW's two moments: 4 + 4 + 8 = 16 bytes per parameter in fp32
  (mixed precision keeps fp32 master weights); DeepSpeed ZeRO shards the moments (stage 1),
  the gradients (2) and the weights (3) across the trial's workers;
* activations kept for the backward pass: ``L * b * s * (34*H + 5*a*s)`` bytes in 16-bit
  precision (Korthikanti et al. 2022, "Reducing Activation Recomputation", eq. 2), twice that
  in fp32, plus the logits and their gradient, ``b * s * V * 8``.

It is a floor, not a promise (no allocator overhead, no framework buffers): a size it refuses
cannot run; a size it accepts may still run out of memory.

What it is compared with: a local run's CPU sizes against this machine's memory
(``psutil.virtual_memory().total``), and its GPU sizes against the local GPU's memory times
the size's share of it (a whole GPU at most) when ``torch.cuda`` sees one. On a cluster
(``--address``) the nodes' memory is not known before Ray starts, so nothing is refused here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from raylaws.errors import SweepError
from raylaws.ladder import Size
from raylaws.spec import ExperimentSpec

GiB = 1024**3


@dataclass(frozen=True)
class TrialMemory:
    """The estimate for one worker of one trial of a size (see the module docstring)."""

    size: str
    parameters: int  # embeddings included
    state_bytes: int  # weights + gradients + AdamW moments
    activation_bytes: int  # at the largest batch_size choice
    micro_batch: int  # sequences per forward pass per worker
    seq_len: int

    @property
    def total_bytes(self) -> int:
        return self.state_bytes + self.activation_bytes

    def describe(self) -> str:
        return (f"{self.total_bytes / GiB:,.1f} GiB per trial worker ({self.parameters:.3g} parameters x 16 B of "
                f"weights, gradients and AdamW state = {self.state_bytes / GiB:,.1f} GiB; activations at "
                f"{self.micro_batch} x {self.seq_len} tokens = {self.activation_bytes / GiB:,.1f} GiB)")


def trial_memory(spec: ExperimentSpec, size: Size, vocab_size: int) -> TrialMemory:
    """Estimate the memory of one worker of a trial of ``size`` at the spec's largest batch."""
    resources = size.resources
    h, layers, heads, s, v = size.d_model, size.n_layers, size.n_heads, spec.data.seq_len, vocab_size
    parameters = size.n_params_exact + v * h + s * h + (0 if spec.ladder.tie_embeddings else v * h)
    if spec.objective == "mlm":
        parameters += v  # the MLM head's vocabulary bias
    workers = max(1, resources.workers)
    stage = resources.zero_stage if resources.backend == "deepspeed" else 0
    weights = 4 / (workers if stage >= 3 else 1)
    grads = 4 / (workers if stage >= 2 else 1)
    moments = 8 / (workers if stage >= 1 else 1)
    state = int(parameters * (weights + grads + moments))
    batch = max(spec.search.batch_size)
    micro = resources.micro_batch_size or math.ceil(batch / workers)
    per_element = 2 if spec.training.precision == "fp32" else 1
    activations = layers * micro * s * (34 * h + 5 * heads * s) * per_element + micro * s * v * 8
    return TrialMemory(size.name, parameters, state, int(activations), micro, s)


def check_memory(spec: ExperimentSpec, sizes: tuple[Size, ...], *, vocab_size: int,
                 total_bytes: Optional[int] = None, gpu_bytes: Optional[int] = None) -> None:
    """Refuse, in one line with the numbers, a size one trial of which cannot fit.

    Args:
        spec: the experiment.
        sizes: its ladder.
        vocab_size: the tokenizer's vocabulary.
        total_bytes: memory of the machine the CPU sizes run on (default: this machine's).
        gpu_bytes: memory of one GPU (default: the first local CUDA device's, if any; the GPU
            sizes are not checked without one).

    Raises:
        SweepError: naming the first size that does not fit.
    """
    if total_bytes is None:
        import psutil

        total_bytes = int(psutil.virtual_memory().total)
    if gpu_bytes is None and any(size.resources.gpus > 0 for size in sizes):
        gpu_bytes = _local_gpu_bytes()
    for size in sizes:
        need = trial_memory(spec, size, vocab_size)
        if size.resources.gpus > 0:
            if gpu_bytes is None:
                continue  # checked where the GPUs are
            have = int(gpu_bytes * min(1.0, size.resources.gpus))
            where = f"its share of the GPU ({size.resources.gpus:g} x {gpu_bytes / GiB:,.1f} GiB)"
        else:
            have, where = total_bytes, "this machine"
        if need.total_bytes > have:
            raise SweepError(f"size {size.name} needs at least {need.describe()}, but {where} has "
                             f"{have / GiB:,.1f} GiB; remove the size from the ladder or lower search.batch_size "
                             "or data.seq_len")


def _local_gpu_bytes() -> Optional[int]:
    try:
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory)
    except Exception:  # no usable torch.cuda: the cluster side checks
        return None
    return None


__all__ = ["TrialMemory", "check_memory", "trial_memory"]
