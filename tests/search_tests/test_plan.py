"""The per-size planner on a real Optuna journal: budgets, pruning isolation, seed phase."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import optuna
import pytest

from raylaws import store, views
from raylaws.ladder import build_ladder
from raylaws.layout import SweepLayout
from raylaws.search import SweepPlanner
from raylaws.spec import spec_from_dict
from raylaws.trial import Hyperparameters, Outcome, Phase, Progress, Status, StopReason, TrialPlan
from tests.conftest import tiny_spec_dict

NOW = datetime.now(timezone.utc)


def final(loss: Optional[float], status: Status = Status.COMPLETED) -> Outcome:
    return Outcome(status=status, stop_reason=StopReason.BUDGET, eval_loss=loss, steps=40, tokens=40 * 8 * 32,
                   wall_seconds=1.0, started_at=NOW, finished_at=NOW, history=[(40, loss)] if loss else [])


def failed() -> Outcome:
    return Outcome.stopped(Status.FAILED, StopReason.ERROR, None, [])


def at(step: int, eval_loss: float) -> Progress:
    return Progress(step=step, tokens=step * 8 * 32, eval_loss=eval_loss, best_eval_loss=eval_loss, train_loss=eval_loss,
                    wall_seconds=0.1, started_at=NOW)


def make_planner(tmp_path: Path, **overrides: Any) -> SweepPlanner:
    spec = spec_from_dict(tiny_spec_dict(**overrides))
    return SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))


def drain(planner: SweepPlanner) -> list[TrialPlan]:
    plans = []
    while (plan := planner.next_trial()) is not None:
        plans.append(plan)
    return plans


def test_search_budget_is_exact_per_size_and_largest_size_first(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    plans = drain(planner)
    assert [p.size for p in plans] == ["L2-H16"] * 3 + ["L1-H8"] * 3
    assert [p.trial_id for p in plans[:3]] == ["L2-H16.s000", "L2-H16.s001", "L2-H16.s002"]
    assert all(p.phase is Phase.SEARCH and p.seed == 0 for p in plans)
    assert all(1e-3 <= p.hparams.learning_rate <= 3e-2 and p.hparams.batch_size in (8, 16) for p in plans)
    assert planner.next_trial() is None and not planner.is_finished()


def test_a_size_is_pruned_only_by_trials_of_its_own_size(tmp_path: Path) -> None:
    search = {**tiny_spec_dict()["search"], "parallel": 1}  # each trial is asked after the one before finished
    planner = make_planner(tmp_path, search=search)
    big, small = drain(planner)  # one trial of each size: the next of a size waits for it
    # The big size reports a far better loss at step 10 than the small size ever will.
    assert not planner.should_prune(big.trial_id, at(10, 1.0))
    # The small size's first trial is alone in its own study: not pruned, whatever the big size did.
    assert not planner.should_prune(small.trial_id, at(10, 5.0))
    planner.complete(big.trial_id, final(1.0))
    planner.complete(small.trial_id, final(5.0))
    big, small = drain(planner)
    # Its second trial is worse than the first at the same step: pruned within the size.
    assert planner.should_prune(small.trial_id, at(10, 6.0))
    # A big-size trial worse than its own size's first trial is pruned too.
    assert planner.should_prune(big.trial_id, at(10, 2.0))
    planner.complete(big.trial_id, final(None, Status.PRUNED))
    planner.complete(small.trial_id, final(None, Status.PRUNED))
    _, small = drain(planner)
    # A trial better than its size's earlier ones goes on.
    assert not planner.should_prune(small.trial_id, at(10, 4.0))


def test_a_trial_is_judged_only_against_trials_that_finished_before_it_was_asked(tmp_path: Path) -> None:
    search = {**tiny_spec_dict()["search"], "parallel": 2, "trials_per_size": 4}
    planner = make_planner(tmp_path, search=search, ladder={"aspect_ratio": 8, "layers": [1]})
    first, second = drain(planner)  # trial 2 waits for trial 0
    assert planner.next_trial() is None
    assert not planner.should_prune(first.trial_id, at(10, 1.0))
    planner.complete(first.trial_id, final(1.0))
    # Trial 1 was asked before trial 0 finished: however much better trial 0 did, trial 1 goes on.
    assert not planner.should_prune(second.trial_id, at(10, 9.0))
    (third,) = drain(planner)
    assert third.study_number == 2 and planner.should_prune(third.trial_id, at(10, 9.0))


def test_a_trial_re_run_after_a_kill_is_pruned_at_the_step_an_unbroken_run_prunes_it(tmp_path: Path) -> None:
    search = {**tiny_spec_dict()["search"], "parallel": 1, "trials_per_size": 2}  # rungs at steps 10, 20, 40
    options = dict(search=search, ladder={"aspect_ratio": 8, "layers": [1]})
    planner = make_planner(tmp_path, **options)
    (first,) = drain(planner)
    assert not planner.should_prune(first.trial_id, at(10, 5.0))
    assert not planner.should_prune(first.trial_id, at(20, 1.0))
    planner.complete(first.trial_id, final(1.0))
    (second,) = drain(planner)
    assert not planner.should_prune(second.trial_id, at(10, 4.0))  # better than trial 0 at step 10
    assert planner.should_prune(second.trial_id, at(20, 3.0))  # worse at step 20: an unbroken run stops it here
    # The driver dies before the trial stops: the journal keeps its reports up to step 20. Resumed,
    # the trial trains again from step 0 and is judged at each step on its reports up to that step.
    resumed = make_planner(tmp_path, **options)
    (again,) = drain(resumed)
    assert again.trial_id == second.trial_id
    assert not resumed.should_prune(again.trial_id, at(10, 4.0))
    assert resumed.should_prune(again.trial_id, at(20, 3.0))


def test_a_trial_is_asked_only_after_the_trials_it_sees_have_finished(tmp_path: Path) -> None:
    search = {**tiny_spec_dict()["search"], "parallel": 2, "trials_per_size": 5}
    planner = make_planner(tmp_path, search=search, ladder={"aspect_ratio": 8, "layers": [1]})
    plans = drain(planner)
    assert [p.study_number for p in plans] == [0, 1]
    planner.complete(plans[1].trial_id, final(2.0))  # trial 1 finishing first frees no ask
    assert planner.next_trial() is None
    planner.complete(plans[0].trial_id, final(3.0))
    assert [p.study_number for p in drain(planner)] == [2, 3]  # trial 3 sees trials 0 and 1


def test_seed_phase_runs_exactly_k_seeds_of_the_best_config(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    plans = drain(planner)
    losses = {0: 3.0, 1: 2.0, 2: 4.0}
    for plan in plans:
        planner.complete(plan.trial_id, final(losses[plan.study_number]))
    best = {p.size: p for p in plans if p.study_number == 1}
    seeds = drain(planner)
    assert len(seeds) == 2 * 2
    for plan in seeds:
        assert plan.phase is Phase.SEED
        assert plan.hparams == best[plan.size].hparams
    assert sorted((p.size, p.seed) for p in seeds) == [("L1-H8", 1), ("L1-H8", 2), ("L2-H16", 1), ("L2-H16", 2)]
    assert planner.next_trial() is None
    for plan in seeds:
        planner.complete(plan.trial_id, final(2.5))
    assert planner.is_finished()
    table = store.read_trials(tmp_path / SweepLayout.TRIALS)
    assert table.num_rows == 2 * (3 + 2)
    assert len(set(table.column("trial_id").to_pylist())) == table.num_rows


def test_pruned_diverged_and_failed_trials_are_never_best(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    plans = drain(planner)
    for plan in plans:
        if plan.study_number == 0:
            planner.complete(plan.trial_id, final(0.5, status=Status.DIVERGED))
        elif plan.study_number == 1:
            planner.complete(plan.trial_id, failed(), error="ValueError: boom")
        else:
            planner.complete(plan.trial_id, final(4.0))
    seeds = drain(planner)
    chosen = {p.size: p for p in plans if p.study_number == 2}
    assert all(s.hparams == chosen[s.size].hparams for s in seeds)
    trials = store.read_trials(tmp_path / SweepLayout.TRIALS)
    statuses = sorted(trials.column("status").to_pylist())
    assert statuses.count("failed") == 2 and statuses.count("diverged") == 2
    failures = [r for r in trials.to_pylist() if r["status"] == "failed"]
    assert all(r["error"] == "ValueError: boom" and r["eval_loss"] is None for r in failures)


def test_a_size_with_no_completed_trial_has_no_seed_phase(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    for plan in drain(planner):
        planner.complete(plan.trial_id, final(None, status=Status.DIVERGED))
    assert planner.next_trial() is None
    assert planner.is_finished()


def test_studies_live_in_the_sweeps_journal(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    for plan in drain(planner):
        planner.complete(plan.trial_id, final(3.0))
    drain(planner)  # the seeds' turn: Optuna has heard of every search trial
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(SweepLayout.at(tmp_path).journal)))
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    assert names == ["tiny/L1-H8", "tiny/L2-H16"]
    study = optuna.load_study(study_name="tiny/L1-H8", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3


def test_planner_pickles_without_locks(tmp_path: Path) -> None:
    import pickle

    planner = make_planner(tmp_path)
    clone = pickle.loads(pickle.dumps(planner))
    assert clone.spec == planner.spec and clone.layout == planner.layout


def test_pruning_disabled_never_prunes(tmp_path: Path) -> None:
    planner = make_planner(tmp_path, search={"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8],
                                             "trials_per_size": 3, "pruning": {"enabled": False}})
    plans = drain(planner)
    planner.should_prune(plans[0].trial_id, at(10, 1.0))
    assert not planner.should_prune(plans[1].trial_id, at(10, 9.0))


@pytest.mark.parametrize("sampler", ["tpe", "random"])
def test_sampler_seed_makes_the_search_reproducible(tmp_path: Path, sampler: str) -> None:
    search = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": 3,
              "sampler": sampler, "sampler_seed": 7}
    first = [p.hparams for p in drain(make_planner(tmp_path / "a", search=search))]
    again = [p.hparams for p in drain(make_planner(tmp_path / "b", search=search))]
    assert first == again


def test_remaining_seconds_weights_each_size_by_its_own_trial_time(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    assert views.remaining_seconds(planner.status(), 2) is None  # nothing measured yet
    plans = drain(planner)
    for plan in plans[:3]:  # the big size's three search trials, 1 s each
        planner.complete(plan.trial_id, final(3.0))
    # big: 2 seeds left at 1 s; small (N 768 vs 6144, no trial yet): 5 left, 3 of them running
    # (counted half done), at 1 s * 768/6144; two slots.
    expected = (2 * 1.0 + (5 - 3 / 2) * (768 / 6144)) / 2
    assert views.remaining_seconds(planner.status(), 2) == pytest.approx(expected)


def test_an_interrupted_trial_is_handed_out_again_by_the_next_driver(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    plans = drain(planner)
    planner.complete(plans[0].trial_id, final(3.0))
    planner.interrupt(plans[1].trial_id)
    again = make_planner(tmp_path)
    assert sorted(again.resumed["reattached"]) == sorted(p.trial_id for p in plans[1:])
    reattached = drain(again)
    assert sorted((p.trial_id, p.hparams) for p in reattached) == sorted((p.trial_id, p.hparams) for p in plans[1:])


def test_trial_plans_and_outcomes_survive_the_runners_dicts() -> None:
    plan = TrialPlan("L1-H8.s003", "L1-H8", Phase.SEARCH, 0, Hyperparameters(1e-3, 8), study_number=3)
    assert TrialPlan.from_config(plan.to_config()) == plan
    outcome = final(2.5)
    assert Outcome.from_report(outcome.to_report()) == outcome
    progress = at(20, 3.0)
    assert Progress.from_report(progress.to_report()) == progress
