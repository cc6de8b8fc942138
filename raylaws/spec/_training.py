"""The training budget and loop of every trial."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from raylaws.spec._base import _Frozen


class TrainingSpec(_Frozen):
    """The training budget and loop of every trial.

    Give the budget as ``max_steps`` (optimizer updates) or ``max_tokens`` (tokens seen; steps
    then depend on the batch size). Early stopping follows the paper: stop when eval loss has
    not improved by ``min_delta`` for ``patience`` steps, keep the best eval loss.
    """

    max_steps: Optional[int] = Field(None, ge=1)
    max_tokens: Optional[int] = Field(None, ge=1)
    warmup_steps: int = Field(0, ge=0)
    schedule: Literal["constant", "linear", "cosine"] = "cosine"
    eval_interval: int = Field(50, ge=1)  # steps between evaluations
    patience: Optional[int] = Field(None, ge=1)  # steps without improvement before stopping; None = never
    min_delta: float = Field(0.0, ge=0.0)
    weight_decay: float = Field(0.0, ge=0.0)
    grad_clip: Optional[float] = Field(1.0, gt=0.0)
    dropout: float = Field(0.0, ge=0.0, lt=1.0)  # 0 for tiny CPU models; the paper used 0.1
    divergence_factor: float = Field(1.5, gt=1.0)  # diverged if eval loss > factor * ln(vocab_size)
    # Steps between checkpoints of a running trial, so a trial whose worker is lost continues
    # from there on another node; null: no checkpoints (a lost trial restarts from step 0).
    checkpoint_every: Optional[int] = Field(300, ge=1)
    # Numerics of the forward/backward pass: autocast to bf16 or fp16 (with a loss scaler);
    # fp32 uses TF32 matmuls where the GPU supports them. bf16 also runs on CPUs.
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    # bf16 only: hold the model's weights and activations in bf16, with fp32 master weights and
    # AdamW state in the optimizer (no per-op casts; DeepSpeed's bf16 always works this way),
    # instead of fp32 weights under autocast. Faster on GPUs, where casts are memory traffic.
    master_weights: bool = False
    # torch.compile the model of GPU trials (torch backend): faster steps for a one-off compile
    # of tens of seconds per trial, worth it for long trials of large sizes.
    compile: bool = False

    @model_validator(mode="after")
    def _one_budget(self) -> "TrainingSpec":
        if (self.max_steps is None) == (self.max_tokens is None):
            raise ValueError("give exactly one budget: 'max_steps' or 'max_tokens'")
        if self.master_weights and self.precision != "bf16":
            raise ValueError(f"master_weights goes with precision bf16 (got {self.precision}): set precision: bf16, "
                             "or drop master_weights")
        return self

    def total_steps(self, batch_size: int, seq_len: int) -> int:
        """Optimizer steps of the budget: ``max_steps``, or ``max_tokens`` / tokens per step.

        ``batch_size`` counts sequences per optimizer step; ``seq_len`` tokens per sequence.
        """
        if self.max_steps is not None:
            return self.max_steps
        assert self.max_tokens is not None
        return max(1, self.max_tokens // (batch_size * seq_len))


__all__ = ["TrainingSpec"]
