"""A sweep's trials do not depend on which trial finishes first.

Ray-free: a driver is a :class:`SweepPlanner` with a few slots; each running trial reports an
evaluation every 10 steps, and which running trial takes the next step is drawn at random, so
trials finish, report and get pruned in a different order on every draw. "Training" is a
deterministic function of the size and the config, as real training is. Whatever the order,
the number of slots, or a driver killed halfway and resumed, the records are the same: the
same trial ids, configs, outcomes and losses.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any, Optional

import pytest

from raylaws.ladder import build_ladder
from raylaws.layout import SweepLayout
from raylaws.search import SweepPlanner
from raylaws.spec import spec_from_dict
from raylaws.trial import Hyperparameters, Status, TrialPlan
from tests.conftest import tiny_spec_dict
from tests.search_tests.test_plan import at, final

LADDER = {"aspect_ratio": 8, "layers": [1, 2, 3, 4]}  # N = 768; 6,144; 20,736; 49,152
STEPS = (10, 20, 30, 40)


def curve(n_params: int, hparams: Hyperparameters, step: int, seed: int = 0) -> float:
    """Eval loss at ``step``: the best learning rate falls as N^-0.5; higher rates start faster;
    the loss falls with N, and a seed re-run (seed > 0) lands off by a deterministic amount,
    widest at the third size (N = 20,736)."""
    optimum = 0.02 * (n_params / 500) ** -0.5
    final_loss = 1.0 + math.log(hparams.learning_rate / optimum) ** 2 + (0.05 if hparams.batch_size == 16 else 0.0)
    head_start = math.log(hparams.learning_rate / 1e-3)
    level = 2.0 * (n_params / 768) ** -0.2
    spread = 0.12 if n_params == 20_736 else 0.01
    noise = spread * ((seed * 7 + n_params) % 5 - 2) / 2 if seed else 0.0
    return level + noise + final_loss + (STEPS[-1] - step) / STEPS[-1] * (3.0 - 0.4 * head_start)


def spec_of(strategy: str, parallel: int, seeds: Any = 2) -> Any:
    search: dict[str, Any] = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16],
                              "trials_per_size": 8, "sampler": "tpe", "sampler_seed": 0, "parallel": parallel,
                              "pruning": {"enabled": True, "grace_steps": 10, "reduction_factor": 2},
                              "strategy": strategy}
    if strategy == "size_aware":
        search["size_aware"] = {"trials_after_first": 4}
    return spec_from_dict(tiny_spec_dict(search=search, seeds=seeds, ladder=LADDER))


def drive(planner: SweepPlanner, *, slots: int, rng: random.Random, stop_after: Optional[int] = None) -> int:
    """Run the planner with ``slots`` slots, advancing a random running trial one evaluation at
    a time, until finished or ``stop_after`` trials finished (a driver killed then). Returns
    the number of trials finished."""
    n_params = {size.key: size.n_params for size in planner.sizes}
    running: dict[str, tuple[TrialPlan, int]] = {}  # trial id -> (plan, evaluations done)
    finished = 0
    while not planner.is_finished():
        while len(running) < slots and (plan := planner.next_trial()) is not None:
            running[plan.trial_id] = (plan, 0)
        assert running, "nothing runs and nothing can start: the planner waits for nothing"
        if stop_after is not None and finished >= stop_after:
            return finished
        trial_id = rng.choice(sorted(running))
        plan, done = running.pop(trial_id)
        step = STEPS[done]
        loss = curve(n_params[plan.size], plan.hparams, step, plan.seed)
        if planner.should_prune(trial_id, at(step, loss)):
            planner.complete(trial_id, final(loss, Status.PRUNED))
        elif step == STEPS[-1]:
            planner.complete(trial_id, final(loss))
        else:
            running[trial_id] = (plan, done + 1)
            continue
        finished += 1
    return finished


def records(planner: SweepPlanner) -> dict[str, tuple[Any, ...]]:
    return {r["trial_id"]: (r["learning_rate"], r["batch_size"], r["seed"], r["status"], r["eval_loss"])
            for r in planner.records}


def sweep(tmp_path: Path, spec: Any, *, slots: int, order: int, kill_after: Optional[int] = None) -> dict[str, Any]:
    rng = random.Random(order)
    planner = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    if kill_after is not None:
        drive(planner, slots=slots, rng=rng, stop_after=kill_after)
        del planner  # killed: its running trials stay RUNNING in the journal, unrecorded
        planner = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    drive(planner, slots=slots, rng=rng)
    return records(planner)


@pytest.mark.parametrize("strategy", ["size_aware", "independent"])
def test_the_same_spec_records_the_same_trials_whatever_the_finish_order(tmp_path: Path, strategy: str) -> None:
    spec = spec_of(strategy, parallel=2)
    reference = sweep(tmp_path / "one-slot", spec, slots=1, order=0)
    assert any(status == "pruned" for *_, status, _ in reference.values())  # pruning took part
    for slots, order in [(2, 1), (3, 2), (4, 3)]:
        again = sweep(tmp_path / f"{slots}-slots-{order}", spec, slots=slots, order=order)
        assert again == reference, f"{slots} slots, order {order}"


def test_a_sweep_killed_halfway_records_what_an_unbroken_one_does(tmp_path: Path) -> None:
    spec = spec_of("size_aware", parallel=2)
    reference = sweep(tmp_path / "unbroken", spec, slots=3, order=4)
    for kill_after in (5, 13, 22):
        resumed = sweep(tmp_path / f"killed-{kill_after}", spec, slots=3, order=kill_after, kill_after=kill_after)
        assert resumed == reference, f"killed after {kill_after} trials"


def test_parallel_is_part_of_what_the_sweep_is(tmp_path: Path) -> None:
    # Trials see fewer results with more in flight: another setting is another sweep.
    narrow = sweep(tmp_path / "p1", spec_of("independent", parallel=1), slots=2, order=0)
    wide = sweep(tmp_path / "p4", spec_of("independent", parallel=4), slots=2, order=0)
    assert set(narrow) == set(wide) and narrow != wide


SEED_RULE = {"min": 2, "max": 4, "until_se_below": 0.25}


def seeds_per_size(recorded: dict[str, tuple[Any, ...]]) -> dict[str, list[int]]:
    per_size: dict[str, list[int]] = {}
    for trial_id, (*_, seed, _status, _loss) in sorted(recorded.items()):
        if ".seed" in trial_id:
            per_size.setdefault(trial_id.split(".")[0], []).append(seed)
    return {size: sorted(seeds) for size, seeds in per_size.items()}


def test_a_seeds_rule_adds_the_same_seeds_whatever_the_finish_order_or_a_kill(tmp_path: Path) -> None:
    spec = spec_of("size_aware", parallel=2, seeds=SEED_RULE)
    reference = sweep(tmp_path / "one-slot", spec, slots=1, order=0)
    # The noisy third size runs to the cap, a quiet one stays at min: the rule decided something.
    assert seeds_per_size(reference) == {"L1-H8": [1, 2], "L2-H16": [1, 2], "L3-H24": [1, 2, 3, 4],
                                         "L4-H32": [1, 2]}
    # The rule only adds: the search and seeds 1..min are the trials of the same sweep with seeds: 2.
    counted = sweep(tmp_path / "count", spec_of("size_aware", parallel=2, seeds=2), slots=2, order=5)
    assert {trial_id: reference[trial_id] for trial_id in counted} == counted
    for slots, order in [(2, 1), (4, 3)]:
        assert sweep(tmp_path / f"{slots}-slots", spec, slots=slots, order=order) == reference, f"{slots} slots"
    # Killed while the noisy size's seed 3 (then seed 4) runs, decided by a round: none lost, none trained twice.
    for kill_after in (len(reference) - 2, len(reference) - 1):
        resumed = sweep(tmp_path / f"killed-{kill_after}", spec, slots=3, order=kill_after, kill_after=kill_after)
        assert resumed == reference, f"killed after {kill_after} trials"
