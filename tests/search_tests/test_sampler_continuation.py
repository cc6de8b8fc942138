"""Samplers continue across driver runs: a resumed sweep never repeats a config, numbers stay
contiguous, budgets stay exact, and an uninterrupted run draws what it always drew.

Ray-free: a driver is a :class:`SweepPlanner`; "training" is a smooth function of the config;
a kill drops the planner with a trial handed out and not finished (as SIGKILL leaves it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import optuna
import pytest

from raylaws.ladder import build_ladder
from raylaws.layout import SweepLayout
from raylaws.search import SweepPlanner
from raylaws.search._studies import SAMPLER_STATE_ATTR, SizeStudies
from raylaws.spec import spec_from_dict
from raylaws.trial import Hyperparameters, Phase, Status
from tests.conftest import tiny_spec_dict
from tests.search_tests.test_plan import final

TRIALS = 8  # TPE's startup trials: min(10, max(3, 8 // 3)) = 3, so trials 3..7 are TPE's own


def loss(hparams: Hyperparameters) -> float:
    return (math.log10(hparams.learning_rate) + 2.2) ** 2 + (0.1 if hparams.batch_size == 16 else 0.0)


def make(folder: Path, sampler: str = "tpe") -> SweepPlanner:
    search = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": TRIALS,
              "sampler": sampler, "sampler_seed": 0, "pruning": {"enabled": False}}
    spec = spec_from_dict(tiny_spec_dict(search=search, seeds=1))
    return SweepPlanner(spec, build_ladder(spec), SweepLayout.at(folder))


def run(planner: SweepPlanner, *, stop_after: Optional[int] = None) -> None:
    """Train trials one at a time; with ``stop_after``, die with the next trial handed out."""
    done = 0
    while (plan := planner.next_trial()) is not None:
        if stop_after is not None and done == stop_after:
            return  # killed: the trial stays RUNNING in its study, unrecorded
        planner.complete(plan.trial_id, final(loss(plan.hparams)))
        done += 1


def search_configs(planner: SweepPlanner) -> dict[str, tuple[float, int]]:
    return {r["trial_id"]: (r["learning_rate"], r["batch_size"]) for r in planner.records if r["phase"] == Phase.SEARCH}


def assert_no_repeats_contiguous_exact(planner: SweepPlanner) -> None:
    for size in planner.sizes:
        mine = [r for r in planner.records if r["size"] == size.name]
        search = sorted(r["trial_id"] for r in mine if r["phase"] == Phase.SEARCH)
        assert search == [f"{size.name}.s{n:03d}" for n in range(TRIALS)]  # contiguous, exact
        configs = [(r["learning_rate"], r["batch_size"]) for r in mine if r["phase"] == Phase.SEARCH]
        assert len(set(configs)) == len(configs), f"{size.name} repeats a config"
        assert sum(r["phase"] == Phase.SEED for r in mine) == 1


@pytest.mark.parametrize("sampler", ["tpe", "random"])
@pytest.mark.parametrize("kill_after", [1, 2, 5, 11])  # inside TPE's startup trials (1, 2) and after (5, 11)
def test_a_resumed_sweep_draws_exactly_what_an_uninterrupted_one_draws(tmp_path: Path, sampler: str,
                                                                       kill_after: int) -> None:
    uninterrupted = make(tmp_path / "whole", sampler)
    run(uninterrupted)
    run(make(tmp_path / "killed", sampler), stop_after=kill_after)
    resumed = make(tmp_path / "killed", sampler)
    assert len(resumed.resumed["reattached"]) == 1
    run(resumed)
    assert search_configs(resumed) == search_configs(uninterrupted)
    assert_no_repeats_contiguous_exact(resumed)


def test_a_kill_between_an_ask_and_its_stored_state_never_repeats_a_config(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    run(make(tmp_path, "random"), stop_after=1)
    # The next driver dies after asking but before writing the sampler's state: the trial is
    # in the journal, its state is not.
    original = optuna.storages.JournalStorage.set_trial_system_attr

    def lose_state(self: Any, trial_id: int, key: str, value: Any) -> None:
        if key != SAMPLER_STATE_ATTR:
            original(self, trial_id, key, value)

    monkeypatch.setattr(optuna.storages.JournalStorage, "set_trial_system_attr", lose_state)
    crashed = make(tmp_path, "random")
    crashed.next_trial()  # re-opens trial 1
    crashed.next_trial()  # asks trial 2, whose state is lost
    monkeypatch.undo()
    resumed = make(tmp_path, "random")
    run(resumed)
    assert_no_repeats_contiguous_exact(resumed)


def test_a_sweep_whose_journal_holds_no_sampler_state_never_repeats_a_config(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A sweep started before raylaws stored sampler states, interrupted in its startup trials.
    original = optuna.storages.JournalStorage.set_trial_system_attr
    monkeypatch.setattr(optuna.storages.JournalStorage, "set_trial_system_attr",
                        lambda self, trial_id, key, value: None if key == SAMPLER_STATE_ATTR
                        else original(self, trial_id, key, value))
    run(make(tmp_path), stop_after=2)
    monkeypatch.undo()
    resumed = make(tmp_path)
    run(resumed)
    assert_no_repeats_contiguous_exact(resumed)


def test_uninterrupted_draws_are_those_of_the_sampler_before_states_were_stored(tmp_path: Path) -> None:
    # The first demo's largest size (sampler seed 0 + index 3), one trial at a time, against
    # the configs raylaws drew before it stored sampler states (pinned from that code). The
    # demo has changed since; its search block then is kept here.
    spec = spec_from_dict({"name": "demo", "ladder": {"aspect_ratio": 12, "layers": [1, 2, 3, 4]},
                           "training": {"max_steps": 800, "eval_interval": 50},
                           "search": {"learning_rate": {"low": 1.0e-3, "high": 3.0e-2}, "batch_size": [16, 32],
                                      "trials_per_size": 8, "sampler": "tpe", "sampler_seed": 0}})
    sizes = build_ladder(spec)
    studies = SizeStudies(spec, sizes, tmp_path / "optuna.journal")
    drawn = []
    for _ in range(8):
        number, hparams = studies.ask(sizes[-1].name)
        drawn.append((number, hparams.learning_rate, hparams.batch_size))
        studies.tell(sizes[-1].name, number, Status.COMPLETED, loss(hparams))
        studies.settle(sizes[-1].name, number + 1)
    assert drawn == [
        (0, 0.006510214363775303, 16), (1, 0.005682694552437562, 32), (2, 0.001532867905908894, 16),
        (3, 0.02642043789728526, 32), (4, 0.00123419199944872, 32), (5, 0.005518595291896156, 32),
        (6, 0.004359024217093013, 32), (7, 0.028196206334859475, 16),
    ]


def test_a_record_that_cannot_be_written_stops_the_sweep_resumably(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import pyarrow.parquet as pq

    from raylaws.errors import SweepError

    planner = make(tmp_path)
    first, second = planner.next_trial(), planner.next_trial()

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    assert planner.complete(first.trial_id, final(3.0)) is None
    assert isinstance(planner.failure, SweepError) and "No space left" in str(planner.failure)
    assert planner.next_trial() is None  # nothing new starts
    assert not list((tmp_path / "trials").glob(".tmp-*"))  # no partial record
    monkeypatch.undo()
    resumed = make(tmp_path)
    assert sorted(resumed.resumed["reattached"]) == sorted([first.trial_id, second.trial_id])
    run(resumed)
    assert_no_repeats_contiguous_exact(resumed)


def test_a_trial_the_driver_died_before_drawing_is_drawn_on_reopen(tmp_path: Path) -> None:
    # A driver killed between Optuna creating a trial and drawing its parameters leaves a
    # RUNNING trial with no parameters; the resumed sweep draws them rather than crashing.
    spec = spec_from_dict(tiny_spec_dict(seeds=1))
    sizes = build_ladder(spec)
    studies = SizeStudies(spec, sizes, tmp_path / "optuna.journal")
    name = sizes[0].name
    study = studies._studies[name]
    trial_id = study._storage.create_new_trial(study._study_id)
    number = study._storage.get_trial_number_from_id(trial_id)
    again, hparams = studies.reopen(name, number)
    search = spec.search
    assert again == number
    assert search.learning_rate.low <= hparams.learning_rate <= search.learning_rate.high
    assert hparams.batch_size in search.batch_size
    assert study.trials[number].params["learning_rate"] == hparams.learning_rate


class _Killed(Exception):
    """The driver dies here (SIGKILL leaves the journal as it was)."""


@pytest.mark.parametrize("die_at", [0, 1])  # the larger size's probe (its predicted optimum), its first line step
def test_a_size_aware_sweep_killed_between_an_enqueue_and_its_ask_resumes_to_the_same_trials(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, die_at: int) -> None:
    # A size-aware search enqueues a trial's config, then asks it. A driver killed in between
    # leaves a WAITING trial in the journal; the resumed sweep must ask it rather than count it
    # as asked (which left the size one trial short forever: a sweep that never ended).
    def make_size_aware(folder: Path) -> SweepPlanner:
        search = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": 3,
                  "sampler_seed": 0, "pruning": {"enabled": False}, "strategy": "size_aware",
                  "size_aware": {"trials_after_first": 3}}
        spec = spec_from_dict(tiny_spec_dict(search=search, seeds=1))
        return SweepPlanner(spec, build_ladder(spec), SweepLayout.at(folder))

    uninterrupted = make_size_aware(tmp_path / "whole")
    run(uninterrupted)
    larger = uninterrupted.sizes[-1].name
    original = SizeStudies.ask

    def dying_ask(self: SizeStudies, size: str, box: Any = None) -> tuple[int, Hyperparameters]:
        trials = self._studies[size].get_trials(deepcopy=False)
        waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
        if size == larger and waiting and len(trials) - len(waiting) == die_at:
            raise _Killed
        return original(self, size, box)

    monkeypatch.setattr(SizeStudies, "ask", dying_ask)
    with pytest.raises(_Killed):
        run(make_size_aware(tmp_path / "killed"))
    monkeypatch.undo()
    journal = optuna.load_study(study_name=f"tiny/{larger}",
                                storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(
                                    str(tmp_path / "killed" / "optuna.journal"))))
    assert [t.state for t in journal.trials][-1] == optuna.trial.TrialState.WAITING  # the kill left one
    resumed = make_size_aware(tmp_path / "killed")
    run(resumed)
    assert search_configs(resumed) == search_configs(uninterrupted)
    done = {size.name: sum(r["size"] == size.name and r["phase"] == Phase.SEARCH for r in resumed.records)
            for size in resumed.sizes}
    assert done == {size.name: sum(r["size"] == size.name and r["phase"] == Phase.SEARCH
                                   for r in uninterrupted.records) for size in uninterrupted.sizes}
    assert done[larger] >= 3  # the probe and its line steps (trials_after_first counts the probe)
