"""The schedule of a size: its phases in order, each with its budget.

A phase is one entry (:class:`SearchPhase`, :class:`SeedPhase`); a later phase of a size is
ready once every earlier one has finished, and a new phase (finetuning, say) is one more
entry, not another branch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Protocol

from raylaws.ladder import Size
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec
from raylaws.trial import SEARCH_SEED, Hyperparameters, Phase, TrialPlan

logger = logging.getLogger(__name__)


@dataclass
class SizeState:
    """What the schedule knows of one size. Not thread-safe; the planner holds the lock."""

    size: Size
    reattach: list[int] = field(default_factory=list)  # study numbers of a dead driver's trials, to run again
    seeds_issued: set[int] = field(default_factory=set)
    best: Optional[Hyperparameters] = None  # the search's best config, once the search is done


class PhaseEntry(Protocol):
    """One phase of every size's schedule."""

    phase: Phase

    def budget(self) -> int:
        """Trials of this phase per size."""

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        """The size's next trial of this phase, or None (budget handed out, or waiting)."""

    def done(self, state: SizeState) -> bool:
        """Whether every trial of this phase has finished for the size."""


class SearchPhase:
    """The size's Optuna study: ``search.trials_per_size`` trials, re-opening a dead driver's."""

    phase = Phase.SEARCH

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        self._spec = spec
        self._studies = studies

    def budget(self) -> int:
        return self._spec.search.trials_per_size

    def budget_of(self, state: SizeState) -> int:
        """Search trials of this size (a size-aware search gives sizes different budgets)."""
        return self.budget()

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        name = state.size.key
        if state.reattach:
            number, hparams = self._studies.reopen(name, state.reattach.pop(0))
        elif self._studies.n_asked(name) >= self.budget():
            return None
        else:
            number, hparams = self._studies.ask(name)
        return TrialPlan(trial_id=search_trial_id(name, number), size=name, phase=Phase.SEARCH, seed=SEARCH_SEED,
                         hparams=hparams, study_number=number)

    def done(self, state: SizeState) -> bool:
        return self._studies.n_finished(state.size.key) >= self.budget()


class SeedPhase:
    """K re-runs (seeds 1..K) of the size's best completed search config."""

    phase = Phase.SEED

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        self._spec = spec
        self._studies = studies

    def budget(self) -> int:
        return self._spec.seeds

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        if len(state.seeds_issued) >= self.budget():
            return None
        if state.best is None:
            state.best = self._studies.best(state.size.key)
            if state.best is None:
                logger.warning("size %s: no search trial completed (all pruned, diverged or failed); no seed phase",
                               state.size.key)
                return None
        seed = min(set(range(1, self.budget() + 1)) - state.seeds_issued)
        state.seeds_issued.add(seed)
        return TrialPlan(trial_id=f"{state.size.key}.seed{seed}", size=state.size.key, phase=Phase.SEED, seed=seed,
                         hparams=state.best)

    def done(self, state: SizeState) -> bool:
        return len(state.seeds_issued) >= self.budget()


class Schedule:
    """Every size's phases, in order: search, then seeds."""

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        self.search = search_phase(spec, studies)
        self.phases: tuple[PhaseEntry, ...] = (self.search, SeedPhase(spec, studies))

    @property
    def budget(self) -> int:
        """Trials per size over all phases (equals ``spec.budget_per_size``)."""
        return sum(entry.budget() for entry in self.phases)

    def budget_of(self, state: SizeState) -> int:
        """Trials of this size over all phases: :attr:`budget`, but for a size-aware search,
        whose sizes have their own search budgets (which grow when a box widens)."""
        return self.budget - self.search.budget() + self.search.budget_of(state)

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        """The size's next trial: from the latest phase that is ready (every earlier phase done)."""
        ready = [self.phases[0]]
        for earlier, later in zip(self.phases, self.phases[1:]):
            if not earlier.done(state):
                break
            ready.append(later)
        for entry in reversed(ready):
            plan = entry.next(state)
            if plan is not None:
                return plan
        return None

    def search_done(self, state: SizeState) -> bool:
        return self.phases[0].done(state)


def search_phase(spec: ExperimentSpec, studies: SizeStudies) -> SearchPhase:
    """The search phase of ``spec.search.strategy``: independent per size, or size-aware."""
    if spec.search.strategy == "size_aware":
        from raylaws.search._size_aware import SizeAwareSearchPhase  # it builds on SearchPhase

        return SizeAwareSearchPhase(spec, studies)
    return SearchPhase(spec, studies)


def search_trial_id(size: str, number: int) -> str:
    """The stable id of search trial ``number`` of ``size``'s study."""
    return f"{size}.s{number:03d}"


__all__ = ["PhaseEntry", "Schedule", "SearchPhase", "SeedPhase", "SizeState", "search_trial_id"]
