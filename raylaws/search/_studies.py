"""The per-size Optuna studies: one study per size in one journal. With :mod:`raylaws.search._samplers`
(their samplers), the only user of Optuna.

A size is only ever compared with trials of its own size: each study has its own sampler
(seeded ``sampler_seed + index`` of the size) and its own pruner.

Samplers continue across driver runs. Every ask stores the state of the sampler's random
streams (TPE's own ``RandomState`` and that of the ``RandomSampler`` it uses for its startup
trials) in the asked trial's system attributes, in the same journal; a resumed driver restores
the state stored with the size's latest trial, so its next ask draws what an uninterrupted
driver would have drawn, never a config of the restarted stream. Uninterrupted runs are
unchanged: the seed and the draws are the same, the states are only written down. If the
latest trials carry no state (a driver killed between an ask and its write, or a sweep started
before raylaws stored states), the streams are re-seeded from ``(sampler_seed, size index,
trials asked)``: different from every earlier stream, and the same on every machine.

A spec with ``finetune:`` adds one study per (size, task), keyed ``<size>/<task>``, in the same
journal, over the finetuning space (learning rate, epochs); its streams are seeded after the
sizes' (``sampler_seed + len(sizes) + index``), so adding finetuning changes no size's draws.

What a study knows is fixed by trial numbers, never by which trial finished first. A finished
trial's outcome is kept here at once (:meth:`SizeStudies.tell`) but told to Optuna only when a
later ask needs it (:meth:`SizeStudies.settle`), in number order: trial ``k`` is asked once
trials ``0..sees(k)-1`` have finished, and its sampler sees exactly those as finished and the
ones between as running (TPE's constant liar), whatever else has finished meanwhile. With
``search.parallel: P``, ``sees(k) = k - P + 1``: up to P trials of a study train at once.
Pruning compares a trial at each rung with those same trials only (:func:`halving_prunes`), so
a trial is pruned, or not, on every run of the sweep alike.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from raylaws.ladder import Size
from raylaws.search._box import SearchBox
from raylaws.search._samplers import (SAMPLER_STATE_ATTR, dump_rng_state, load_rng_state, make_sampler,
                                       sampler_rngs)
from raylaws.spec import ExperimentSpec, PruningSpec
from raylaws.trial import Hyperparameters, Status

logger = logging.getLogger(__name__)

_STATE = {Status.PRUNED: TrialState.PRUNED, Status.DIVERGED: TrialState.FAIL, Status.FAILED: TrialState.FAIL}


class SizeStudies:
    """One Optuna study per size, in the journal file ``journal``; trials are named by number.

    Sizes are keyed by :attr:`raylaws.ladder.Size.key` (a design's sizes by ``<design>.<rung>``,
    a re-run round's by ``<size>.r<round>``); each size searches the box of its own spec in
    ``size_specs`` (default: ``spec`` for every size).

    Every method takes a study key: a size name, or ``<size>/<task>`` for a finetuning study.
    Not thread-safe: the planner serialises calls.
    """

    def __init__(self, spec: ExperimentSpec, sizes: tuple[Size, ...], journal: Path, *,
                 size_specs: Optional[Mapping[str, ExperimentSpec]] = None) -> None:
        self._spec = spec
        self.sizes = sizes
        self._specs = {size.key: (size_specs or {}).get(size.key, spec) for size in sizes}
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._studies: dict[str, optuna.Study] = {}
        self._live: dict[tuple[str, int], optuna.Trial] = {}  # (size, number) -> trial being trained
        self._index: dict[str, int] = {}
        # Every finished trial's outcome by study and number, told to Optuna or not yet.
        self._results: dict[str, dict[int, tuple[Status, Optional[float]]]] = {}
        # Numbers of the finished trials in _results that Optuna may not have heard of yet (every
        # one it has not is here: tell adds it, settle takes it out once Optuna has it).
        self._untold: dict[str, set[int]] = {}
        # A study is named "<sweep>/<key>" when created; a moved or renamed sweep finds its
        # studies by key (one journal holds one sweep). Size studies come first, so a size's
        # sampler seed does not depend on the finetuning tasks.
        existing = {study_key(study.study_name): study.study_name for study in storage.get_all_studies()}
        keys = [size.key for size in sizes]
        for size in sizes:
            finetune = self._specs[size.key].finetune
            if finetune is not None:
                keys += [f"{size.key}/{task.name}" for task in finetune.tasks]
        for index, key in enumerate(keys):
            self._index[key] = index
            own = self._spec_for(key)
            finetune = own.finetune if "/" in key else None
            self._studies[key] = optuna.create_study(
                storage=storage,
                study_name=existing.get(key, f"{spec.name}/{key}"),
                direction="minimize",
                sampler=self._sampler(index, key, finetune.trials_per_task if finetune else None),
                pruner=optuna.pruners.NopPruner(),  # raylaws prunes itself: halving_prunes
                load_if_exists=True,
            )
            self._results[key] = {t.number: _told_outcome(t) for t in self._studies[key].get_trials(deepcopy=False)
                                  if t.state.is_finished()}
            self._untold[key] = set()
            self._continue_sampler(key)

    def _spec_for(self, key: str) -> ExperimentSpec:
        """The spec of a study key (``<size>`` or ``<size>/<task>``): its size's own spec."""
        return self._specs[key.partition("/")[0]]

    def _sampler(self, index: int, key: str, trials: Optional[int] = None) -> optuna.samplers.BaseSampler:
        own = self._spec_for(key)
        return make_sampler(own.search, own.finetune if "/" in key else None,
                            own.search.sampler_seed + index,  # one reproducible stream per study
                            own.search.trials_per_size if trials is None else trials)

    def _continue_sampler(self, size: str) -> None:
        """Restore the size's sampler streams from its latest asked trial (a resumed sweep)."""
        trials = self._asked_trials(size)  # an enqueued trial never asked drew nothing
        if not trials:
            return  # a new study: the seeded streams as they are
        latest = max(trials, key=lambda t: t.number)
        state = latest.system_attrs.get(SAMPLER_STATE_ATTR)
        rngs = sampler_rngs(self._studies[size].sampler)
        if state is not None and len(state) == len(rngs):
            for rng, saved in zip(rngs, state):
                rng.set_state(load_rng_state(saved))
            return
        digest = hashlib.sha256(f"{self._spec_for(size).search.sampler_seed}/{self._index[size]}/{len(trials)}".encode())
        for offset, rng in enumerate(rngs):
            rng.seed(int.from_bytes(digest.digest()[4 * offset:4 * offset + 4], "little"))
        logger.warning("size %s: trial %d of its study carries no sampler state; its sampler continues from a "
                       "stream seeded by (sampler_seed, size, %d trials asked)", size, latest.number, len(trials))

    # ---- reading ----------------------------------------------------------------------------

    def n_asked(self, size: str) -> int:
        """Trials of the size's study asked, in any state (the search budget counts these); not a
        WAITING one, enqueued by a driver that died before asking it: the next ask hands it out."""
        return len(self._asked_trials(size))

    def _asked_trials(self, size: str) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self._studies[size].get_trials(deepcopy=False) if t.state != TrialState.WAITING]

    def n_finished(self, size: str) -> int:
        """Trials of the study that have finished (told to Optuna or not yet)."""
        return len(self._results[size])

    def sees(self, key: str, number: int) -> int:
        """How many of the study's first trials trial ``number`` is asked after and judged
        against: ``number - search.parallel + 1`` (at least 0)."""
        return max(0, number - self._spec_for(key).search.parallel + 1)

    def running(self, size: str) -> list[int]:
        """Numbers of the size's trials left RUNNING (by a driver that died, on a fresh start)."""
        return [t.number for t in self._studies[size].get_trials(deepcopy=False, states=(TrialState.RUNNING,))]

    def finished_points(self, size: str, upto: Optional[int] = None) -> list[tuple[Hyperparameters, Optional[float]]]:
        """The size's finished trials in study order (of numbers below ``upto``, if given):
        ``(config, loss)``, the loss None where the trial was pruned, diverged or failed (a
        config that lost, without a final loss)."""
        results = self._results[size]
        return [(self._hparams(size, t.params), results[t.number][1])
                for t in self._studies[size].get_trials(deepcopy=False)
                if t.number in results and (upto is None or t.number < upto)]

    def finished_prefix(self, size: str) -> int:
        """How many of the study's first trials have all finished (trials 0..n-1)."""
        results = self._results[size]
        count = 0
        while count in results:
            count += 1
        return count

    def user_attr(self, size: str, key: str) -> Any:
        """A value stored with the size's study (in the journal), or None."""
        return self._studies[size].user_attrs.get(key)

    def best(self, size: str, upto: Optional[int] = None) -> Optional[Hyperparameters]:
        """The best completed config of the size (lowest loss, then lowest number), of every
        finished trial or of those numbered below ``upto``; None if none completed."""
        completed = [(loss, number) for number, (status, loss) in self._results[size].items()
                     if status is Status.COMPLETED and loss is not None and (upto is None or number < upto)]
        if not completed:
            return None
        _, number = min(completed)
        return self._hparams(size, self._studies[size].get_trials(deepcopy=False)[number].params)

    def _hparams(self, key: str, params: dict[str, Any]) -> Hyperparameters:
        finetune = self._spec_for(key).finetune
        if "/" in key:  # a finetuning study: the batch size is fixed, the epochs are searched
            assert finetune is not None
            return Hyperparameters(float(params["learning_rate"]), finetune.batch_size,
                                   int(params["epochs"]))
        return Hyperparameters(float(params["learning_rate"]), int(params["batch_size"]))

    def _space(self, key: str) -> dict[str, BaseDistribution]:
        finetune = self._spec_for(key).finetune
        if "/" in key and finetune is not None:
            return {"learning_rate": FloatDistribution(finetune.learning_rate.low, finetune.learning_rate.high,
                                                       log=True),
                    "epochs": CategoricalDistribution(list(finetune.epochs))}
        search = self._spec_for(key).search
        return {"learning_rate": FloatDistribution(search.learning_rate.low, search.learning_rate.high, log=True),
                "batch_size": CategoricalDistribution(list(search.batch_size))}

    # ---- writing ----------------------------------------------------------------------------

    def spec_of(self, size: str) -> ExperimentSpec:
        """The spec the size searches under (its design's, in a sweep with designs)."""
        return self._specs[size]

    def set_user_attr(self, size: str, key: str, value: Any) -> None:
        """Store a JSON value with the size's study, in the journal (it survives a resume)."""
        self._studies[size].set_user_attr(key, value)

    def enqueue(self, size: str, hparams: Hyperparameters) -> None:
        """Make ``hparams`` the config of the size's next ask (a predicted optimum, say)."""
        self._studies[size].enqueue_trial({"learning_rate": hparams.learning_rate, "batch_size": hparams.batch_size},
                                          skip_if_exists=True)

    def ask(self, size: str, box: Optional[SearchBox] = None) -> tuple[int, Hyperparameters]:
        """Sample the size's next config: ``(number, hyperparameters)``, from the spec's search
        range, or from ``box`` (a size-aware search's box for the size)."""
        if box is None:
            return self._ask(size, self._space(size))
        return self._ask(size, {"learning_rate": FloatDistribution(box.lr_low, box.lr_high, log=True),
                                "batch_size": CategoricalDistribution(list(box.batch_sizes))})

    def _ask(self, size: str, space: dict[str, BaseDistribution]) -> tuple[int, Hyperparameters]:
        trial = self._studies[size].ask(space)
        study = self._studies[size]
        state = [dump_rng_state(rng) for rng in sampler_rngs(study.sampler)]
        trial.storage.set_trial_system_attr(trial._trial_id, SAMPLER_STATE_ATTR, state)
        self._warn_if_repeated(size, trial)
        return self._hold(size, trial)

    def _warn_if_repeated(self, size: str, trial: optuna.Trial) -> None:
        # The learning rate is continuous, so the space is never exhausted: a repeat means the
        # sampler's streams restarted, which the stored states exist to prevent.
        for other in self._studies[size].get_trials(deepcopy=False):
            if other.number != trial.number and other.params == trial.params:
                logger.warning("size %s: trial %d repeats the config of trial %d (%s)", size, trial.number,
                               other.number, trial.params)

    def reopen(self, size: str, number: int) -> tuple[int, Hyperparameters]:
        """Hand out again a RUNNING trial of a dead driver, with its number and parameters."""
        study = self._studies[size]
        storage = study._storage  # Optuna has no public way to re-open a RUNNING trial
        trial = optuna.Trial(study, storage.get_trial_id_from_study_id_trial_number(study._study_id, number))
        return self._hold(size, trial)

    def _hold(self, size: str, trial: optuna.Trial) -> tuple[int, Hyperparameters]:
        self._live[(size, trial.number)] = trial
        space = self._space(size)
        if any(name not in trial.params for name in space):
            # The driver died between Optuna creating the trial and drawing its parameters:
            # draw them now, from the study's search range.
            for name, distribution in space.items():
                trial._suggest(name, distribution)
        return trial.number, self._hparams(size, trial.params)

    def report(self, size: str, number: int, step: int, eval_loss: float) -> None:
        """Store an intermediate eval loss of a live trial with its study trial (once a step)."""
        trial = self._live.get((size, number))
        if trial is None or not math.isfinite(eval_loss):
            return
        if step not in trial.storage.get_trial(trial._trial_id).intermediate_values:  # a re-run re-reports
            trial.report(eval_loss, step)

    def should_prune(self, size: str, number: int, pruning: PruningSpec, step: int) -> bool:
        """Whether successive halving stops trial ``number`` at ``step``, after its reports up to
        it: at each rung it has reached, it is compared with the first :meth:`sees` trials of
        its study only (all finished before it was asked), so the answer is the same on every
        run. Reports past ``step`` are an earlier attempt's (a trial re-run after its driver was
        killed keeps them in the journal) and are not the trial's yet."""
        trials = self._studies[size].get_trials(deepcopy=False)
        own = {at: value for at, value in trials[number].intermediate_values.items() if at <= step}
        others = [t.intermediate_values for t in trials[:self.sees(size, number)]]
        return halving_prunes(own, others, grace_steps=pruning.grace_steps, reduction_factor=pruning.reduction_factor)

    def tell(self, size: str, number: int, status: Status, eval_loss: Optional[float]) -> None:
        """A trial finished: a completed trial's loss, else pruned or failed. Kept here at once;
        Optuna hears of it when a later ask needs it (:meth:`settle`)."""
        self._live.pop((size, number), None)
        self._results[size][number] = (status, eval_loss if status is Status.COMPLETED else None)
        self._untold[size].add(number)

    def settle(self, size: str, upto: int) -> bool:
        """Tell Optuna, in number order, every finished trial numbered below ``upto`` it has not
        heard of; True when all of trials ``0..upto-1`` have finished (the next ask may go)."""
        study = self._studies[size]
        trials = study.get_trials(deepcopy=False)
        for trial in trials[:upto]:
            outcome = self._results[size].get(trial.number)
            if outcome is None:
                continue
            if not trial.state.is_finished():
                status, loss = outcome
                if status is Status.COMPLETED and loss is not None:
                    study.tell(trial.number, loss)
                else:  # pruned, diverged or failed: never a candidate for best
                    study.tell(trial.number, state=_STATE.get(status, TrialState.FAIL))
            self._untold[size].discard(trial.number)
        return self.finished_prefix(size) >= upto

    def settle_all(self, size: str) -> None:
        """Tell Optuna every finished trial (the study's search is over). Called on every
        ``done()`` of a finished phase: with no outcome left untold it walks no trial."""
        if self._untold[size]:
            self.settle(size, self.n_asked(size))

    def forget(self, size: str, number: int) -> None:
        """Drop a trial interrupted from outside: it stays RUNNING, to be re-opened on resume."""
        self._live.pop((size, number), None)

    def is_live(self, size: str, number: int) -> bool:
        return (size, number) in self._live


def halving_prunes(own: Mapping[int, float], others: list[Mapping[int, float]], *, grace_steps: int,
                   reduction_factor: int) -> bool:
    """Successive halving (Optuna's ``SuccessiveHalvingPruner`` rule) against fixed competitors.

    ``own`` and each of ``others`` map a step to an eval loss. Rung ``r`` is at step
    ``grace_steps * reduction_factor ** r``; a trial's value at a rung is its loss at its first
    report at or after that step. The trial is pruned at the first rung it has reached where its
    value is not among the best ``1 / reduction_factor`` of its own and the competitors' values
    there (the best one always goes on), or is not a number.
    """
    rung = 0
    while True:
        at = grace_steps * reduction_factor ** rung
        value = _rung_value(own, at)
        if value is None:
            return False
        if math.isnan(value):
            return True
        competing = sorted([v for v in (_rung_value(other, at) for other in others) if v is not None] + [value])
        promotable = max(len(competing) // reduction_factor - 1, 0)
        if value > competing[promotable]:
            return True
        rung += 1


def _rung_value(values: Mapping[int, float], at: int) -> Optional[float]:
    """The value at the first step >= ``at``, or None if no report has reached it."""
    reached = [step for step in values if step >= at]
    return values[min(reached)] if reached else None


def _told_outcome(trial: optuna.trial.FrozenTrial) -> tuple[Status, Optional[float]]:
    """The outcome of a study trial finished in the journal."""
    if trial.state == TrialState.COMPLETE:
        return Status.COMPLETED, trial.value
    return (Status.PRUNED if trial.state == TrialState.PRUNED else Status.FAILED), None


def journal_trials(journal: Path) -> dict[str, list[optuna.trial.FrozenTrial]]:
    """Every study trial of a sweep's journal, by size name; read-only (no study is created)."""
    if not journal.exists():
        return {}
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return {study_key(study.study_name): storage.get_all_trials(study._study_id, deepcopy=False)
            for study in storage.get_all_studies()}


def study_key(study_name: str) -> str:
    """The key of a study named ``<sweep>/<key>``: a size, or ``<size>/<task>``."""
    return study_name.partition("/")[2] or study_name


__all__ = ["SAMPLER_STATE_ATTR", "SizeStudies", "halving_prunes", "journal_trials", "study_key"]
