"""The phases of a size's schedule: its search, its seed re-runs, and per finetuning task the
task's search and seed re-runs (see :mod:`raylaws.search._schedule` for their order)."""

from __future__ import annotations

import logging
from typing import Optional

from raylaws.search._ids import finetune_trial_id, search_trial_id
from raylaws.search._state import SizeState
from raylaws.search._studies import SizeStudies
from raylaws.spec import ExperimentSpec
from raylaws.trial import SEARCH_SEED, Hyperparameters, Phase, Status, TrialPlan

logger = logging.getLogger(__name__)


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
    """Re-runs (seeds 1..K) of the size's best completed search config: K is ``seeds``, or what
    its rule decided so far (:attr:`SizeState.seeds_target`, see :mod:`raylaws.search._seeds`)."""

    phase = Phase.SEED

    def __init__(self, spec: ExperimentSpec, studies: SizeStudies) -> None:
        self._spec = spec
        self._studies = studies

    def budget(self) -> int:
        """Seed re-runs of a size at most (``seeds``, or ``seeds.max``)."""
        return self._spec.max_seeds

    def budget_of(self, state: SizeState) -> int:
        """Seed re-runs of this size as decided so far."""
        return state.seeds_target

    def next(self, state: SizeState) -> Optional[TrialPlan]:
        if len(state.seeds_issued) >= state.seeds_target:
            return None
        if state.best is None:
            state.best = self._studies.best(state.size.key)
            if state.best is None:
                logger.warning("size %s: no search trial completed (all pruned, diverged or failed); no seed phase",
                               state.size.key)
                return None
        seed = _issue_seed(state.seeds_issued, state.seeds_target)
        return TrialPlan(trial_id=f"{state.size.key}.seed{seed}", size=state.size.key, phase=Phase.SEED, seed=seed,
                         hparams=state.best)

    def done(self, state: SizeState) -> bool:
        return state.seeds_settled and len(state.seeds_issued) >= state.seeds_target


def base_model(spec: ExperimentSpec, state: SizeState) -> Optional[str]:
    """The kept pretrained model a size's finetuning starts from (relative to the sweep), or
    None while a pretraining seed is unrecorded (or a ``seeds`` rule may add one) or if no seed
    kept a model.

    ``finetune.start_from: median``: the seed whose best eval loss is the median of the
    size's completed seeds (the lower middle of an even count; ties by seed number): a
    typical pretraining run of the size, not its luckiest. ``seed1``: seed 1's model.
    """
    assert spec.finetune is not None
    if not state.seeds_settled or len(state.seed_records) < state.seeds_target:
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


__all__ = ["FinetuneSearchPhase", "FinetuneSeedPhase", "SearchPhase", "SeedPhase", "base_model"]
