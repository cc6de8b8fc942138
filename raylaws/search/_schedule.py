"""The schedule of a size: its phases in order, each with its budget.

A phase is one entry (:class:`SearchPhase`, :class:`SeedPhase`); a later phase of a size is
ready once every earlier one has finished, and a new phase is one more entry, not another
branch. Finetuning is two more entries per task (:class:`FinetuneSearchPhase`,
:class:`FinetuneSeedPhase`): each task's pair is ready once every seed of the size's
pretraining is recorded, independently of the other tasks and of the other sizes, so a small
size's tasks fill free slots while larger sizes still pretrain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

from raylaws.ladder import Size
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec
from raylaws.trial import SEARCH_SEED, Hyperparameters, Phase, Status, TrialPlan

logger = logging.getLogger(__name__)


@dataclass
class SizeState:
    """What the schedule knows of one size. Not thread-safe; the planner holds the lock."""

    size: Size
    reattach: list[int] = field(default_factory=list)  # study numbers of a dead driver's trials, to run again
    seeds_issued: set[int] = field(default_factory=set)
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

    def prunes(self, size: str) -> bool:
        """Whether the size's search trials may be pruned (when ``search.pruning`` is on)."""
        return True

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        name = state.size.key
        asked = _ask(self._studies, name, state.reattach, self.budget())
        if asked is None:
            return None
        number, hparams = asked
        return TrialPlan(trial_id=search_trial_id(name, number), size=name, phase=Phase.SEARCH, seed=SEARCH_SEED,
                         hparams=hparams, study_number=number)

    def done(self, state: SizeState) -> bool:
        return _finished(self._studies, state.size.key, self.budget())


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
        seed = _issue_seed(state.seeds_issued, self.budget())
        return TrialPlan(trial_id=f"{state.size.key}.seed{seed}", size=state.size.key, phase=Phase.SEED, seed=seed,
                         hparams=state.best)

    def done(self, state: SizeState) -> bool:
        return len(state.seeds_issued) >= self.budget()


def base_model(spec: ExperimentSpec, state: SizeState) -> Optional[str]:
    """The kept pretrained model a size's finetuning starts from (relative to the sweep), or
    None while a pretraining seed is unrecorded or if no seed kept a model.

    ``finetune.start_from: median``: the seed whose best eval loss is the median of the
    size's completed seeds (the lower middle of an even count; ties by seed number): a
    typical pretraining run of the size, not its luckiest. ``seed1``: seed 1's model.
    """
    assert spec.finetune is not None
    if len(state.seed_records) < spec.seeds:
        return None
    kept = sorted(((r["eval_loss"], seed, r["model_path"]) for seed, r in state.seed_records.items()
                   if r["status"] == Status.COMPLETED and r["eval_loss"] is not None and r.get("model_path")),
                  key=lambda item: (item[0], item[1]))
    if spec.finetune.start_from == "seed1":
        kept = [item for item in kept if item[1] == 1]
    if not kept:
        return None
    return kept[(len(kept) - 1) // 2][2]


class _TaskPhase:
    """A phase of one finetuning task's chain."""

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies, task: str) -> None:
        assert spec.finetune is not None
        self._spec, self._finetune = spec, spec.finetune
        self._studies = studies
        self.task = task


class FinetuneSearchPhase(_TaskPhase):
    """The (size, task) Optuna study: ``finetune.trials_per_task`` trials from the size's kept model."""

    phase = Phase.FINETUNE_SEARCH

    def budget(self) -> int:
        return self._finetune.trials_per_task

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        name, key = state.size.key, f"{state.size.key}/{self.task}"
        model = base_model(self._spec, state)
        if model is None:
            return None
        asked = _ask(self._studies, key, state.task_reattach.get(self.task, []), self.budget())
        if asked is None:
            return None
        number, hparams = asked
        return TrialPlan(trial_id=finetune_trial_id(name, self.task, number), size=name, phase=self.phase,
                         seed=SEARCH_SEED, hparams=hparams, study_number=number, task=self.task, base_model=model)

    def done(self, state: SizeState) -> bool:
        return _finished(self._studies, f"{state.size.key}/{self.task}", self.budget())


class FinetuneSeedPhase(_TaskPhase):
    """K re-runs (seeds 1..K, ``finetune.seeds``) of the (size, task) study's best config."""

    phase = Phase.FINETUNE_SEED

    def budget(self) -> int:
        return self._finetune.seeds

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        issued = state.task_seeds_issued.setdefault(self.task, set())
        model = base_model(self._spec, state)
        if len(issued) >= self.budget() or model is None:
            return None
        best = state.task_best.get(self.task) or self._studies.best(f"{state.size.key}/{self.task}")
        if best is None:
            return None  # every search trial of the task failed: nothing to re-run
        state.task_best[self.task] = best
        seed = _issue_seed(issued, self.budget())
        return TrialPlan(trial_id=f"{state.size.key}.{self.task}.seed{seed}", size=state.size.key,
                         phase=self.phase, seed=seed, hparams=best, task=self.task, base_model=model)

    def done(self, state: SizeState) -> bool:
        return len(state.task_seeds_issued.get(self.task, set())) >= self.budget()


class Schedule:
    """Every size's phases: search, then seeds; then, per finetuning task, its search and seeds."""

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        self._spec = spec
        self._studies = studies
        self.search = search_phase(spec, studies)
        self.phases: tuple[PhaseEntry, ...] = (self.search, SeedPhase(spec, studies))
        tasks = spec.finetune.tasks if spec.finetune is not None else []
        self.tasks: tuple[tuple[PhaseEntry, ...], ...] = tuple(
            (FinetuneSearchPhase(spec, studies, task.name), FinetuneSeedPhase(spec, studies, task.name))
            for task in tasks)

    @property
    def budget(self) -> int:
        """Trials per size over all phases (``spec.budget_per_size + spec.finetune_budget_per_size``)."""
        return sum(entry.budget() for entry in self.phases) + sum(e.budget() for chain in self.tasks for e in chain)

    def budget_of(self, state: SizeState) -> int:
        """Trials of this size over all phases: :attr:`budget`, but for a size-aware search,
        whose sizes have their own search budgets (which grow when a box widens)."""
        return self.budget - self.search.budget() + self.search.budget_of(state)

    def pretraining_budget_of(self, state: SizeState) -> int:
        """Pretraining trials of this size (search and seeds), finetuning left out."""
        return sum(entry.budget() for entry in self.phases[1:]) + self.search.budget_of(state)

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
        if not self.tasks or len(state.seed_records) < self._spec.seeds:
            return False
        if base_model(self._spec, state) is None:
            return True
        return all(chain[0].done(state) and self._studies.best(f"{name}/{chain[0].task}") is None  # type: ignore[attr-defined]
                   or chain[1].done(state) for chain in self.tasks)


def _ask(studies: SizeStudies, key: str, reattach: list[int], budget: int) -> Optional[tuple[int, Hyperparameters]]:
    """The study's next trial (number, config): a dead driver's trial first (taken off
    ``reattach``), else a new one while fewer than ``budget`` were asked and the trials it is
    asked after (:meth:`SizeStudies.sees`) have finished; None when none is."""
    if reattach:
        return studies.reopen(key, reattach.pop(0))
    asked = studies.n_asked(key)
    if asked >= budget or not studies.settle(key, studies.sees(key, asked)):
        return None
    return studies.ask(key)


def _finished(studies: SizeStudies, key: str, budget: int) -> bool:
    """Whether ``budget`` trials of the study have finished; then Optuna hears of every one."""
    if studies.n_finished(key) < budget:
        return False
    studies.settle_all(key)
    return True


def _issue_seed(issued: set[int], budget: int) -> int:
    """The lowest of seeds 1..``budget`` not yet in ``issued``, now added to it."""
    seed = min(set(range(1, budget + 1)) - issued)
    issued.add(seed)
    return seed


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
        from raylaws.search._size_aware import SizeAwareSearchPhase  # it builds on SearchPhase

        return SizeAwareSearchPhase(spec, studies)
    return SearchPhase(spec, studies)


def search_trial_id(size: str, number: int) -> str:
    """The stable id of search trial ``number`` of ``size``'s study."""
    return f"{size}.s{number:03d}"


def finetune_trial_id(size: str, task: str, number: int) -> str:
    """The stable id of finetuning search trial ``number`` of the (``size``, ``task``) study."""
    return f"{size}.{task}.s{number:03d}"


def study_trial_id(key: str, number: int) -> str:
    """The trial id of trial ``number`` of the study keyed ``key`` (``<size>`` or ``<size>/<task>``)."""
    size, _, task = key.partition("/")
    return finetune_trial_id(size, task, number) if task else search_trial_id(size, number)


__all__ = ["FinetuneSearchPhase", "FinetuneSeedPhase", "PhaseEntry", "Schedule", "SearchPhase", "SeedPhase",
           "SizeState", "base_model", "finetune_trial_id", "search_trial_id", "study_trial_id"]
