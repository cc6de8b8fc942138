"""What a trial asks of the cluster: CPUs, GPUs, workers and backend, by default and per size."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from raylaws.spec._base import _Frozen


class DeepSpeedSpec(_Frozen):
    """DeepSpeed engine settings of the sizes whose ``backend`` is ``deepspeed``."""

    zero_stage: int = Field(0, ge=0, le=3)  # ZeRO: 1 shards optimizer state, 2 + gradients, 3 + parameters
    # Sequences per forward pass per worker; gradients accumulate up to batch_size per step.
    # None: the whole per-worker batch in one pass.
    micro_batch_size: Optional[int] = Field(None, ge=1)


class SizeResourcesSpec(_Frozen):
    """Resources of some sizes, overriding the defaults of ``resources``.

    Select sizes by name (``sizes``) or by the paper's N (``min_params``/``max_params``,
    inclusive); the last matching entry wins. Unset fields keep the defaults.
    """

    sizes: Optional[list[str]] = None
    min_params: Optional[int] = Field(None, ge=0)
    max_params: Optional[int] = Field(None, ge=0)
    cpus_per_trial: Optional[int] = Field(None, ge=1)
    gpus_per_trial: Optional[float] = Field(None, ge=0.0)
    workers: Optional[int] = Field(None, ge=1)
    backend: Optional[Literal["torch", "deepspeed"]] = None
    deepspeed: Optional[DeepSpeedSpec] = None

    @model_validator(mode="after")
    def _selects(self) -> "SizeResourcesSpec":
        if self.gpus_per_trial is not None:
            _check_gpus(self.gpus_per_trial)
        if self.sizes is None and self.min_params is None and self.max_params is None:
            raise ValueError("select sizes with 'sizes' (names) or 'min_params'/'max_params' (the paper's N)")
        if self.sizes is not None and (self.min_params is not None or self.max_params is not None):
            raise ValueError("select by 'sizes' or by 'min_params'/'max_params', not both")
        if self.min_params is not None and self.max_params is not None and self.min_params > self.max_params:
            raise ValueError(f"min_params ({self.min_params}) is above max_params ({self.max_params})")
        return self

    def selects(self, name: str, n_params: int) -> bool:
        """Whether this entry applies to the size ``name`` with the paper's N ``n_params``."""
        if self.sizes is not None:
            return name in self.sizes
        return ((self.min_params is None or n_params >= self.min_params)
                and (self.max_params is None or n_params <= self.max_params))


def _check_gpus(gpus: float) -> None:
    """Ray shares a GPU in fractions, but more than one GPU must be a whole number."""
    if gpus > 1 and gpus != int(gpus):
        raise ValueError(f"gpus_per_trial {gpus} is above 1 but not whole; use a fraction of one GPU "
                         "(e.g. 0.125) or a whole number of GPUs")


class ResourcesSpec(_Frozen):
    """What one trial asks of the cluster, by default and per size (``by_size``).

    A trial of ``workers`` > 1 trains data-parallel: each worker gets ``cpus_per_trial`` CPUs
    and ``gpus_per_trial`` GPUs (fractions share a GPU between trials: 0.125 packs 8 on one).
    Threads per worker = ``cpus_per_trial``.
    """

    cpus_per_trial: int = Field(1, ge=1)
    gpus_per_trial: float = Field(0.0, ge=0.0)
    workers: int = Field(1, ge=1)  # data-parallel workers per trial (DDP or DeepSpeed)
    backend: Literal["torch", "deepspeed"] = "torch"
    deepspeed: DeepSpeedSpec = DeepSpeedSpec()
    by_size: list[SizeResourcesSpec] = Field(default_factory=list)
    max_concurrent_trials: Optional[int] = Field(None, ge=1)  # None: as many as the cluster fits
    max_retries: int = Field(1, ge=0)  # re-runs of a trial that raised, before it is recorded 'failed'
    # The cluster's autoscaler can add nodes: a size that no node fits yet waits (up to
    # node_wait_seconds) for one instead of being refused before any trial is queued.
    autoscaling: bool = False
    node_wait_seconds: float = Field(900.0, gt=0.0)

    @model_validator(mode="after")
    def _whole_gpus_above_one(self) -> "ResourcesSpec":
        _check_gpus(self.gpus_per_trial)
        return self


__all__ = ["DeepSpeedSpec", "ResourcesSpec", "SizeResourcesSpec"]
