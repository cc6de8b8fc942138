"""Where a trial's worker runs: its device, its rank among the data-parallel workers, and the
few collectives the loop needs (one owner for every ``torch.distributed`` call of the loop).

Workers of one trial are started by whoever runs it (Ray Train's ``TorchTrainer``: gloo on CPU,
nccl on GPU); this module only reads the process group it finds. The one group it creates
itself is the 1-process gloo group DeepSpeed needs for a single-worker trial.
"""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any

from raylaws.ladder import Size
from raylaws.trial import TrialSettings

if TYPE_CHECKING:
    import torch

CPU_SWITCH = "RAYLAWS_TRAIN_ON_CPU"
"""Test-only: ``RAYLAWS_TRAIN_ON_CPU=1`` trains on the CPU even where a size asks for GPUs, so
placement tests can run on a CPU-only Ray cluster that declares fake GPUs. Never set it in a
real sweep: it silently trades the GPU for the CPU."""


def rank_and_world() -> tuple[int, int]:
    """This worker's rank and the number of data-parallel workers (0, 1 without a group)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def device_for(size: Size, settings: TrialSettings) -> "torch.device":
    """The device of this worker: ``cuda:<LOCAL_RANK>`` (or ``cuda:0`` where Ray made only this
    worker's GPU visible) when the size asks for GPUs, else the CPU.

    Raises:
        RuntimeError: GPUs are asked for but torch sees none (never a silent CPU run).
    """
    import torch

    if settings.device != "cuda" or os.environ.get(CPU_SWITCH) == "1":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = "a CPU build of torch?" if torch.version.cuda is None else "no driver, or CUDA_VISIBLE_DEVICES empty?"
        gpus = f"{size.resources.gpus:g} GPU" if size.resources.gpus else "GPUs"
        raise RuntimeError(f"size {size.name} asks for {gpus} per worker but torch {torch.__version__} sees no "
                           f"CUDA device ({build}); install a CUDA build of torch or set gpus_per_trial: 0")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    return torch.device("cuda", local_rank if local_rank < torch.cuda.device_count() else 0)


def sum_over_workers(values: list[float], device: "torch.device") -> list[float]:
    """Element-wise sum of ``values`` over all workers, in float64 (identity for one worker)."""
    import torch
    import torch.distributed as dist

    if rank_and_world()[1] == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def from_rank_zero(value: Any) -> Any:
    """Rank 0's ``value`` on every worker (a picklable object; identity for one worker)."""
    import torch.distributed as dist

    if rank_and_world()[1] == 1:
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def ensure_process_group() -> None:
    """A 1-process gloo group on a free localhost port, if none exists (DeepSpeed cannot run
    without one). It lives as long as the process: DeepSpeed keeps the group it first sees in
    module globals (``deepspeed.utils.groups``), so a destroyed and re-created group breaks
    the next DeepSpeed trial of the same process ("Group ... is not registered")."""
    import torch.distributed as dist

    if dist.is_initialized():
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(port)), ("RANK", "0"),
                        ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0")):
        os.environ.setdefault(name, value)  # DeepSpeed reads LOCAL_RANK
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
