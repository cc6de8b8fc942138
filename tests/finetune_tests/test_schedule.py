"""The finetuning phase in the planner, on a real Optuna journal (no Ray, no training):
when a size's tasks start, which model they start from, budgets, records, resume."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import optuna

from raylaws import store, views
from raylaws.ladder import build_ladder
from raylaws.layout import SweepLayout
from raylaws.search import SweepPlanner
from raylaws.spec import spec_from_dict
from raylaws.tasks import TaskCounts
from raylaws.trial import Outcome, Phase, Status, StopReason, TrialPlan
from tests.conftest import tiny_spec_dict
from tests.search_tests.test_plan import drain, final

FINETUNE = {"tasks": [{"name": "stdlib-docstring"}, {"name": "stdlib-family", "metric": "mcc"}],
            "trials_per_task": 2, "seeds": 2, "epochs": [1, 2]}


def make_planner(tmp_path: Path, task_counts: Any = None, **finetune: Any) -> SweepPlanner:
    spec = spec_from_dict(tiny_spec_dict(seeds=3, search={"trials_per_size": 2}, finetune={**FINETUNE, **finetune}))
    return SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path), task_counts=task_counts)


def kept(plan: TrialPlan, loss: float) -> Outcome:
    """A seed trial's outcome that kept its model."""
    return dataclasses.replace(final(loss), model_path=SweepLayout.model_path(plan.trial_id))


def pretrain(planner: SweepPlanner, size: str, seed_losses: dict[int, float]) -> list[TrialPlan]:
    """Run the size's search and seeds to their end; return the other trials handed out
    meanwhile (still running)."""
    others: list[TrialPlan] = []
    while True:
        plans = drain(planner)
        mine = [p for p in plans if p.size == size and p.task is None]
        others += [p for p in plans if p not in mine]
        if not mine:
            return others
        for plan in mine:
            planner.complete(plan.trial_id, kept(plan, seed_losses[plan.seed]) if plan.phase is Phase.SEED
                             else final(4.0 + plan.study_number))


def test_a_sizes_tasks_start_once_its_seeds_are_recorded_from_the_median_seed_model(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    tasks = [p for p in pretrain(planner, "L1-H8", {1: 4.3, 2: 4.1, 3: 4.2}) if p.task is not None]
    assert {p.size for p in tasks} == {"L1-H8"}, "only the pretrained size finetunes, while the other still pretrains"
    assert {p.task for p in tasks} == {"stdlib-docstring", "stdlib-family"}
    assert all(p.phase is Phase.FINETUNE_SEARCH and p.base_model == "models/L1-H8.seed3" for p in tasks), \
        "the median seed (4.2, seed 3) is the base model"
    assert sorted(p.trial_id for p in tasks) == ["L1-H8.stdlib-docstring.s000", "L1-H8.stdlib-docstring.s001",
                                                  "L1-H8.stdlib-family.s000", "L1-H8.stdlib-family.s001"]
    assert all(p.hparams.batch_size == 64 and p.hparams.epochs in (1, 2) for p in tasks)
    assert all(1e-4 <= p.hparams.learning_rate <= 3e-3 for p in tasks)


def test_seed1_start_takes_seed_one_whatever_its_loss(tmp_path: Path) -> None:
    planner = make_planner(tmp_path, start_from="seed1")
    tasks = [p for p in pretrain(planner, "L1-H8", {1: 4.9, 2: 4.1, 3: 4.2}) if p.task is not None]
    assert tasks and all(p.base_model == "models/L1-H8.seed1" for p in tasks)


def test_finetune_records_carry_task_metric_and_one_minus_score_and_views_keep_them_apart(tmp_path: Path) -> None:
    planner = make_planner(tmp_path, task_counts={"stdlib-family": TaskCounts(5600, 800),
                                                  "stdlib-docstring": TaskCounts(800, 200)})
    tasks = [p for p in pretrain(planner, "L1-H8", {1: 4.3, 2: 4.1, 3: 4.2}) if p.task is not None]
    while tasks:
        for plan in tasks:
            planner.complete(plan.trial_id, final(0.25 if plan.phase is Phase.FINETUNE_SEED else 0.3))
        tasks = [p for p in drain(planner) if p.task is not None]
    rows = store.read_trials(SweepLayout.at(tmp_path).trials).to_pylist()
    family = [r for r in rows if r["task"] == "stdlib-family"]
    assert sorted(r["phase"] for r in family) == ["finetune_search"] * 2 + ["finetune_seed"] * 2
    assert all(r["task_metric"] == "mcc" and abs(r["task_score"] - (1 - r["eval_loss"])) < 1e-12 for r in family)
    assert all(r["model_path"] is None for r in family)
    assert all((r["task_train_examples"], r["task_eval_examples"]) == (5600, 800) for r in family)
    assert all(r["task_train_examples"] is None for r in rows if r["task"] is None), "pretraining has no task"
    assert sorted(r["model_path"] for r in rows if r["phase"] == "seed") == [f"models/L1-H8.seed{k}" for k in (1, 2, 3)]
    table = store.read_trials(SweepLayout.at(tmp_path).trials)
    pretraining = views.best_per_size(table).to_pylist()
    assert pretraining[0]["n_seeds"] == 3 and abs(pretraining[0]["loss_mean"] - 4.2) < 1e-9, "no finetune row mixed in"
    per_task = views.best_per_size(table, task="stdlib-family").to_pylist()
    assert per_task[0]["n_seeds"] == 2 and per_task[0]["loss_mean"] == 0.25 and per_task[0]["n_trials"] == 2
    assert views.fit_rows(table).values == [4.3, 4.1, 4.2]
    assert views.fit_rows(table, task="stdlib-docstring").values == [0.25, 0.25]
    status = views.size_status(table, build_ladder(planner.spec), planner.spec.budget_per_size).to_pylist()
    assert status[0]["done"] == 5 == status[0]["budget"]
    assert planner.n_recorded() == 5 + 8
    assert planner.total_trials == 2 * (5 + 8)


def test_a_resumed_planner_reattaches_a_running_finetune_trial_and_issues_no_recorded_seed_again(tmp_path: Path) -> None:
    planner = make_planner(tmp_path)
    first, second = [p for p in pretrain(planner, "L1-H8", {1: 4.3, 2: 4.1, 3: 4.2}) if p.task == "stdlib-docstring"]
    planner.complete(first.trial_id, final(0.3))
    # the driver dies: `second` stays RUNNING in the journal, without a record
    resumed = make_planner(tmp_path)
    assert second.trial_id in resumed.resumed["reattached"] and first.trial_id not in resumed.resumed["reattached"]
    again = [p for p in drain(resumed) if p.task == "stdlib-docstring"]
    assert [p.trial_id for p in again] == [second.trial_id]
    assert again[0].hparams == second.hparams and again[0].base_model == second.base_model
    resumed.complete(second.trial_id, final(0.2))
    seeds = [p for p in drain(resumed) if p.task == "stdlib-docstring"]
    assert [p.trial_id for p in seeds] == ["L1-H8.stdlib-docstring.seed1", "L1-H8.stdlib-docstring.seed2"]
    assert all(p.hparams == second.hparams for p in seeds), "seeds re-run the study's best config"
    resumed.complete(seeds[0].trial_id, final(0.2))
    third = make_planner(tmp_path)
    assert [p.trial_id for p in drain(third) if p.task == "stdlib-docstring"] == ["L1-H8.stdlib-docstring.seed2"]
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(SweepLayout.at(tmp_path).journal)))
    names = sorted(s.study_name for s in journal.get_all_studies())
    assert "tiny/L1-H8/stdlib-docstring" in names and "tiny/L2-H16/stdlib-family" in names


def test_a_task_whose_search_all_failed_ends_the_size_instead_of_waiting_forever(tmp_path: Path) -> None:
    planner = make_planner(tmp_path, tasks=[{"name": "stdlib-docstring"}])
    failed = []
    while plans := drain(planner):
        for plan in plans:
            if plan.task is not None:
                failed.append(plan.trial_id)
                planner.complete(plan.trial_id, Outcome.stopped(Status.FAILED, StopReason.ERROR, None, []))
            else:
                planner.complete(plan.trial_id, kept(plan, 4.0 + plan.seed) if plan.phase is Phase.SEED else final(4.0))
    assert sorted(failed) == [f"{size}.stdlib-docstring.s00{n}" for size in ("L1-H8", "L2-H16") for n in (0, 1)]
    assert planner.next_trial() is None
    assert planner.is_finished()


def test_with_a_seeds_rule_tasks_wait_for_the_last_seed_and_start_from_the_median_of_all(tmp_path: Path) -> None:
    spec = spec_from_dict(tiny_spec_dict(seeds={"min": 2, "max": 3, "until_se_below": 0.25},
                                         search={"trials_per_size": 2}, finetune=FINETUNE))
    planner = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    # L1's two seeds: mean 4.4, se 0.4 above 0.25 x its gap of 1.4 to L2's mean: a third seed.
    losses = {"L1-H8": {1: 4.0, 2: 4.8, 3: 4.1}, "L2-H16": {1: 3.0, 2: 3.0}}
    tasks: list[tuple[TrialPlan, set[str]]] = []  # each task trial with the trials recorded when it started
    while plans := drain(planner):
        for plan in plans:
            if plan.task is not None:
                tasks.append((plan, {r["trial_id"] for r in planner.records}))
                planner.complete(plan.trial_id, final(0.5))
            elif plan.phase is Phase.SEED:
                planner.complete(plan.trial_id, kept(plan, losses[plan.size][plan.seed]))
            else:
                planner.complete(plan.trial_id, final(4.0 + plan.study_number))
    assert planner.is_finished()
    seeds = sorted((r["size"], r["seed"]) for r in planner.records if r["phase"] == Phase.SEED)
    assert seeds == [("L1-H8", 1), ("L1-H8", 2), ("L1-H8", 3), ("L2-H16", 1), ("L2-H16", 2)]
    assert tasks and all("L1-H8.seed3" in recorded for _, recorded in tasks), "a task started before the last seed"
    assert {plan.base_model for plan, _ in tasks if plan.size == "L1-H8"} == {"models/L1-H8.seed3"}  # 4.1


def finish_task_search(planner: SweepPlanner, size: str, losses: dict[int, float], order: int = 1) -> list[TrialPlan]:
    """Pretrain ``size``, then finish its finetuning searches (in ``order`` of study number: 1
    ascending, -1 descending) with a loss by study number; the search plans, in study order."""
    searched: list[TrialPlan] = []
    plans = [p for p in pretrain(planner, size, {1: 4.3, 2: 4.1, 3: 4.2}) if p.task is not None]
    while plans := [p for p in plans if p.phase is Phase.FINETUNE_SEARCH]:
        for plan in sorted(plans, key=lambda p: order * p.study_number):
            planner.complete(plan.trial_id, final(losses[plan.study_number]))
        searched += plans
        plans = [p for p in drain(planner) if p.task is not None]
    return sorted(searched, key=lambda p: (p.task, p.study_number))


def test_a_grid_search_takes_each_rate_of_the_box_with_each_epochs_choice_whatever_finishes_first(
        tmp_path: Path) -> None:
    grid = {"tasks": [{"name": "stdlib-docstring"}], "grid": True, "trials_per_task": 6, "epochs": [1, 3],
            "learning_rate": {"low": 1e-4, "high": 1.6e-3}}
    losses = {0: 0.5, 1: 0.4, 2: 0.3, 3: 0.35, 4: 0.45, 5: 0.6}
    ascending = finish_task_search(make_planner(tmp_path / "a", **grid), "L1-H8", losses)
    descending = finish_task_search(make_planner(tmp_path / "d", **grid), "L1-H8", losses, order=-1)
    points = [(p.hparams.learning_rate, p.hparams.epochs) for p in ascending]
    assert points == [(p.hparams.learning_rate, p.hparams.epochs) for p in descending]
    assert [e for _, e in points] == [1, 3] * 3
    rates = [r for r, _ in points[::2]]
    assert rates[0] == 1e-4 and math.isclose(rates[1], 4e-4) and math.isclose(rates[2], 1.6e-3), \
        "three rates, evenly spaced in log, both ends of the box"


def test_a_grid_search_resumed_after_a_kill_asks_the_same_points(tmp_path: Path) -> None:
    grid = {"tasks": [{"name": "stdlib-docstring"}], "grid": True, "trials_per_task": 4, "epochs": [1]}
    whole = finish_task_search(make_planner(tmp_path / "whole", **grid), "L1-H8", {0: 0.3, 1: 0.2, 2: 0.4, 3: 0.5})
    killed = make_planner(tmp_path / "killed", **grid)
    first = [p for p in pretrain(killed, "L1-H8", {1: 4.3, 2: 4.1, 3: 4.2}) if p.task is not None]
    killed.complete(first[0].trial_id, final(0.3))  # the driver dies with the others running
    resumed = make_planner(tmp_path / "killed", **grid)
    again = [p for p in drain(resumed) if p.task is not None]
    while searching := [p for p in again if p.phase is Phase.FINETUNE_SEARCH]:
        for plan in searching:
            resumed.complete(plan.trial_id, final({0: 0.3, 1: 0.2, 2: 0.4, 3: 0.5}[plan.study_number]))
        again = [p for p in drain(resumed) if p.task is not None]
    rows = [r for r in store.read_trials(SweepLayout.at(tmp_path / "killed").trials).to_pylist()
            if r["phase"] == "finetune_search"]
    assert sorted((r["trial_id"], r["learning_rate"]) for r in rows) == \
        [(p.trial_id, p.hparams.learning_rate) for p in whole]
    seeds = {p.hparams.learning_rate for p in again if p.phase is Phase.FINETUNE_SEED}
    assert seeds == {whole[1].hparams.learning_rate}
