"""What the schedule knows of one size (:class:`SizeState`), and what a phase of it is (:class:`PhaseEntry`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from raylaws.ladder import Size
from raylaws.trial import Hyperparameters, Phase, TrialPlan


@dataclass
class SizeState:
    """What the schedule knows of one size. Not thread-safe; the planner holds the lock."""

    size: Size
    reattach: list[int] = field(default_factory=list)  # study numbers of a dead driver's trials, to run again
    seeds_issued: set[int] = field(default_factory=set)
    # The seed re-runs the size runs as decided so far (``seeds``, or a rule's round), and
    # whether that is final (a rule may add more); set by :class:`raylaws.search._seeds.SeedCounts`.
    seeds_target: int = 0
    seeds_settled: bool = False
    best: Optional[Hyperparameters] = None  # the search's best config, once the search is done
    # Finetuning: the records of the pretraining seeds by seed, and per task what the
    # pretraining fields above hold for the size (keyed by task name).
    seed_records: dict[int, dict[str, Any]] = field(default_factory=dict)
    task_reattach: dict[str, list[int]] = field(default_factory=dict)
    task_seeds_issued: dict[str, set[int]] = field(default_factory=dict)
    task_best: dict[str, Hyperparameters] = field(default_factory=dict)


class PhaseEntry(Protocol):
    """One phase of every size's schedule."""

    phase: Phase

    def budget(self) -> int:
        """Trials of this phase per size."""

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        """The size's next trial of this phase, or None (budget handed out, or waiting)."""

    def done(self, state: SizeState) -> bool:
        """Whether every trial of this phase has finished for the size."""


__all__ = ["PhaseEntry", "SizeState"]
