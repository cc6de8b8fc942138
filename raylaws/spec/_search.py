"""The per-size search: its learning-rate range, pruning and strategy."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, model_validator

from raylaws.spec._base import _Frozen


class LearningRateRange(_Frozen):
    """Log-uniform range of the peak learning rate."""

    low: float = Field(gt=0.0)
    high: float = Field(gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> "LearningRateRange":
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        return self


class PruningSpec(_Frozen):
    """Successive-halving pruning, within each size's own study only.

    ``grace_steps`` is the minimum number of steps before a trial can be pruned;
    ``reduction_factor`` the halving rate.
    """

    enabled: bool = True
    grace_steps: int = Field(100, ge=1)
    reduction_factor: int = Field(3, ge=2)


class SizeAwareSpec(_Frozen):
    """How ``strategy: size_aware`` narrows each size's search around the smaller sizes' optima.

    Sizes are searched smallest first. Each later size's study starts with the optimum that
    lr*(N) and bs*(N), fitted over the smaller sizes, predict for it, in a learning-rate box
    around that prediction: ``first_box_factor`` times either way of the one smaller size's
    best, or, from two smaller sizes on, the fit's 95% prediction interval, never narrower than
    ``min_box_factor`` times either way. Its trials after the first are a line search in ln lr
    inside the box (a bracket either side, then the parabola's vertex or a step past the best;
    the fifth tries the nearest other batch size). A size whose best ends on an edge of its
    box, or outermost of the learning rates it tried, gets its box widened past that edge (or
    its line search continued) and ``widen_trials`` more trials, up to ``max_extra_trials``;
    learning rates may then leave ``search.learning_rate`` by up to ``beyond_range`` times.
    """

    trials_after_first: Optional[int] = Field(None, ge=1, le=100_000)  # None: search.trials_per_size
    first_box_factor: float = Field(3.0, gt=1.0, le=1000.0)
    min_box_factor: float = Field(1.5, gt=1.0, le=1000.0)
    widen_trials: int = Field(2, ge=1, le=1000)
    max_extra_trials: int = Field(4, ge=0, le=100_000)
    beyond_range: float = Field(4.0, ge=1.0, le=1000.0)  # 1: never leave search.learning_rate

    @model_validator(mode="after")
    def _floor_below_first(self) -> "SizeAwareSpec":
        if self.min_box_factor > self.first_box_factor:
            raise ValueError(f"min_box_factor ({self.min_box_factor}) is above first_box_factor "
                             f"({self.first_box_factor}); the floor of the box must not exceed its first width")
        return self


class SearchSpec(_Frozen):
    """The per-size search: one Optuna study per size.

    ``strategy: independent`` searches every size over the whole range on its own (largest
    sizes first); ``size_aware`` searches sizes smallest first and narrows each later size's
    range around the smaller sizes' optima (see :class:`SizeAwareSpec`).
    """

    learning_rate: LearningRateRange
    batch_size: list[int] = Field(min_length=1)  # choices, in sequences per step
    trials_per_size: int = Field(8, ge=1, le=100_000)
    sampler: Literal["tpe", "random"] = "tpe"
    sampler_seed: int = Field(0, ge=0, le=2**31 - 1)  # size i's sampler is seeded sampler_seed + i
    pruning: PruningSpec = PruningSpec()
    # Trials of one size's search in flight at once: trial k waits for trials 0..k-parallel and
    # sees exactly those, so its config is the same on any machine and under any load. Raise it
    # on a cluster with more slots than sizes * parallel (a size-aware line search runs its
    # steps one at a time whatever this is).
    parallel: int = Field(4, ge=1, le=1024)
    strategy: Literal["independent", "size_aware"] = "independent"
    size_aware: SizeAwareSpec = SizeAwareSpec()

    @model_validator(mode="after")
    def _batch_sizes(self) -> "SearchSpec":
        if any(b < 1 for b in self.batch_size):
            raise ValueError("every batch_size choice must be >= 1")
        if len(set(self.batch_size)) != len(self.batch_size):
            raise ValueError("batch_size choices repeat a value")
        return self

    @model_validator(mode="after")
    def _size_aware_needs_strategy(self) -> "SearchSpec":
        # A stored spec.yaml holds every field, defaults included: only settings away from them count.
        if self.strategy != "size_aware" and self.size_aware != SizeAwareSpec():
            raise ValueError("'size_aware' settings are given but strategy is 'independent'; set "
                             "strategy: size_aware, or remove size_aware")
        return self

    def trials_of(self, rank: int) -> int:
        """Search trials planned for the size of rank ``rank`` by N (0: the smallest), before
        any trial added by widening its box."""
        if self.strategy == "size_aware" and rank > 0 and self.size_aware.trials_after_first is not None:
            return self.size_aware.trials_after_first
        return self.trials_per_size


__all__ = ["LearningRateRange", "PruningSpec", "SearchSpec", "SizeAwareSpec"]
