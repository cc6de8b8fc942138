"""The schedule of a size: its phases in order, each with its budget.

A phase is one entry (:class:`SearchPhase`, :class:`SeedPhase`); a later phase of a size is
ready once every earlier one has finished, and a new phase is one more entry, not another
branch. Finetuning is two more entries per task (:class:`FinetuneSearchPhase`,
:class:`FinetuneSeedPhase`): each task's pair is ready once every seed of the size's
pretraining is recorded, independently of the other tasks and of the other sizes, so a small
size's tasks fill free slots while larger sizes still pretrain.
"""

from __future__ import annotations

from typing import Optional

from raylaws.search._ids import finetune_trial_id, search_trial_id, study_trial_id
from raylaws.search._phases import FinetuneSearchPhase, FinetuneSeedPhase, SearchPhase, SeedPhase, base_model
from raylaws.search._size_aware import SizeAwareSearchPhase
from raylaws.search._state import PhaseEntry, SizeState
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec
from raylaws.trial import TrialPlan


class Schedule:
    """Every size's phases: search, then seeds; then, per finetuning task, its search and seeds."""

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        self._spec = spec
        self._studies = studies
        self.search = search_phase(spec, studies)
        self.seeds = SeedPhase(spec, studies)
        self.phases: tuple[PhaseEntry, ...] = (self.search, self.seeds)
        tasks = spec.finetune.tasks if spec.finetune is not None else []
        self.tasks: tuple[tuple[PhaseEntry, ...], ...] = tuple(
            (FinetuneSearchPhase(spec, studies, task.name), FinetuneSeedPhase(spec, studies, task.name))
            for task in tasks)

    def budget_of(self, state: SizeState) -> int:
        """Trials of this size over all phases as decided so far: its search budget (a
        size-aware search's grows when a box widens), its seeds (a ``seeds`` rule's grow by
        rounds), and its finetuning tasks' budgets."""
        return self.pretraining_budget_of(state) + sum(e.budget() for chain in self.tasks for e in chain)

    def pretraining_budget_of(self, state: SizeState) -> int:
        """Pretraining trials of this size (search and seeds) as decided so far, finetuning left out."""
        return self.search.budget_of(state) + self.seeds.budget_of(state)

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        """The size's next trial: pretraining first; once its seeds are recorded, each task's."""
        plan = _next_in(self.phases, state)
        if plan is not None or not self.tasks or base_model(self._spec, state) is None:
            return plan
        for chain in self.tasks:
            plan = _next_in(chain, state)
            if plan is not None:
                return plan
        return None

    def search_done(self, state: SizeState) -> bool:
        return self.phases[0].done(state)

    def stuck(self, state: SizeState) -> bool:
        """Whether the size can hand out no further trial although its budget is not met: its
        search (or every finetuning search) ended with no completed trial, or no pretraining
        seed kept a model to finetune. Only meaningful while none of its trials runs."""
        name = state.size.key
        if self.search_done(state) and self._studies.best(name) is None:
            return True
        if not self.tasks or not state.seeds_settled or len(state.seed_records) < state.seeds_target:
            return False
        if base_model(self._spec, state) is None:
            return True
        return all(chain[0].done(state) and self._studies.best(f"{name}/{chain[0].task}") is None  # type: ignore[attr-defined]
                   or chain[1].done(state) for chain in self.tasks)


def _next_in(chain: tuple[PhaseEntry, ...], state: SizeState) -> Optional[TrialPlan]:
    """The next trial of a chain of phases: from the latest phase that is ready (every earlier
    phase of the chain done)."""
    ready = [chain[0]]
    for earlier, later in zip(chain, chain[1:]):
        if not earlier.done(state):
            break
        ready.append(later)
    for entry in reversed(ready):
        plan = entry.next(state)
        if plan is not None:
            return plan
    return None


def search_phase(spec: ExperimentSpec, studies: SizeStudies) -> SearchPhase:
    """The search phase of ``spec.search.strategy``: independent per size, or size-aware."""
    if spec.search.strategy == "size_aware":
        return SizeAwareSearchPhase(spec, studies)
    return SearchPhase(spec, studies)


# Re-exported: what this module held before the phases, the size's state and the trial ids
# moved out (raylaws.sweep imports study_trial_id from here).
__all__ = ["FinetuneSearchPhase", "FinetuneSeedPhase", "PhaseEntry", "Schedule", "SearchPhase", "SeedPhase",
           "SizeState", "base_model", "finetune_trial_id", "search_phase", "search_trial_id", "study_trial_id"]
