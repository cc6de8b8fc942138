"""Size-aware search on a real Optuna journal: order, predicted first trials, boxes, widening, resume.

Ray-free: a driver is a :class:`SweepPlanner` with two slots; "training" is a smooth function
of the config whose optimal learning rate falls as N^-0.5 (lr*(N) of the paper's shape).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Optional

import pytest

from raylaws.ladder import build_ladder
from raylaws.layout import SweepLayout
from raylaws.search import SweepPlanner
from raylaws.search._size_aware import (Optimum, SearchBox, boxes_of, first_box, loglog_prediction, size_budgets,
                                        widened)
from raylaws.spec import SpecError, spec_from_dict
from raylaws.trial import Hyperparameters, Phase, TrialPlan
from tests.conftest import tiny_spec_dict
from tests.search_tests.test_plan import final

LADDER = {"aspect_ratio": 8, "layers": [1, 2, 3, 4]}  # N = 768; 6,144; 20,736; 49,152


def optimal_lr(n_params: int, scale: float = 0.02) -> float:
    return scale * (n_params / 500) ** -0.5


def loss(n_params: int, hparams: Hyperparameters, scale: float = 0.02) -> float:
    return math.log(hparams.learning_rate / optimal_lr(n_params, scale)) ** 2 + (0.05 if hparams.batch_size == 16 else 0)


def spec_of(**size_aware: Any) -> Any:
    search = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": 6,
              "sampler_seed": 0, "pruning": {"enabled": False}, "strategy": "size_aware",
              "size_aware": {"trials_after_first": 3, **size_aware}}
    return spec_from_dict(tiny_spec_dict(search=search, seeds=1, ladder=LADDER))


def drive(planner: SweepPlanner, *, scale: float = 0.02, stop_after: Optional[int] = None) -> list[TrialPlan]:
    """Run the planner with two slots until finished (or ``stop_after`` trials finished: a
    driver killed then, its running trials left unfinished)."""
    n_params = {size.name: size.n_params for size in planner.sizes}
    running: list[TrialPlan] = []
    finished: list[TrialPlan] = []
    while not planner.is_finished():
        while len(running) < 2 and (plan := planner.next_trial()) is not None:
            running.append(plan)
        if stop_after is not None and len(finished) == stop_after:
            return finished
        plan = running.pop(0)
        planner.complete(plan.trial_id, final(loss(n_params[plan.size], plan.hparams, scale)))
        finished.append(plan)
    return finished


def test_sizes_are_searched_smallest_first_and_later_sizes_get_fewer_trials(tmp_path: Path) -> None:
    planner = SweepPlanner(spec_of(), build_ladder(spec_of()), SweepLayout.at(tmp_path))
    plans = drive(planner)
    search = [p for p in plans if p.phase is Phase.SEARCH]
    first_seen = list(dict.fromkeys(p.size for p in search))
    assert first_seen == ["L1-H8", "L2-H16", "L3-H24", "L4-H32"]
    counts = {name: sum(p.size == name for p in search) for name in first_seen}
    boxes = {name: boxes_of(planner._studies, name) for name in first_seen}
    assert counts == {name: boxes[name][-1].trials for name in first_seen}
    assert all(boxes[name][0].trials == 3 for name in first_seen[1:]) and boxes["L1-H8"][0].trials == 6
    assert planner.total_trials == len(plans)
    assert size_budgets(spec_of(), planner.sizes, boxes) == {name: counts[name] + 1 for name in first_seen}
    assert size_budgets(spec_of(), planner.sizes, {}) == {"L1-H8": 7, "L2-H16": 4, "L3-H24": 4, "L4-H32": 4}


def test_a_later_size_starts_at_its_predicted_optimum_inside_a_narrower_box(tmp_path: Path) -> None:
    planner = SweepPlanner(spec_of(), build_ladder(spec_of()), SweepLayout.at(tmp_path))
    plans = drive(planner)
    for name in ("L2-H16", "L3-H24", "L4-H32"):
        box = boxes_of(planner._studies, name)[0]
        first = next(p for p in plans if p.size == name)
        assert box.predicted is not None and first.hparams == box.predicted
        assert box.lr_low <= box.predicted.learning_rate <= box.lr_high
        assert 1e-3 <= box.lr_low < box.lr_high <= 3e-2  # a new box stays in the spec's range
        assert box.lr_high / box.lr_low < 3e-2 / 1e-3
        assert all(box.lr_low <= p.hparams.learning_rate <= box.lr_high for p in plans
                   if p.size == name and p.phase is Phase.SEARCH and (p.study_number or 0) < box.trials)
    largest = boxes_of(planner._studies, "L4-H32")[0]
    assert largest.reason == "fit" and largest.lr_low <= optimal_lr(49_152) <= largest.lr_high


def test_a_best_on_the_edge_of_the_range_widens_the_box_past_it_within_bounds(tmp_path: Path) -> None:
    spec = spec_of(max_extra_trials=4, widen_trials=2, beyond_range=4.0)
    planner = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    drive(planner, scale=0.2)  # the smallest size's optimum, 0.16, lies far above the range's 0.03
    boxes = boxes_of(planner._studies, "L1-H8")
    assert [b.reason for b in boxes][:2] == ["spec", "widened"]
    assert boxes[-1].lr_high > 3e-2 and boxes[-1].lr_high <= 3e-2 * 4.0 * (1 + 1e-9)
    assert boxes[-1].trials - boxes[0].trials <= 4
    best = planner._studies.best("L1-H8")
    assert best is not None and best.learning_rate > 3e-2


def test_a_best_inside_its_box_is_not_widened() -> None:
    spec = spec_of()
    box = SearchBox(1e-3, 3e-2, (8, 16), first_trial=0, trials=6, reason="spec")
    assert widened(spec, box, Hyperparameters(5e-3, 8), first_trial=6, extra_so_far=0) is None
    wider = widened(spec, box, Hyperparameters(2.9e-2, 8), first_trial=6, extra_so_far=0)
    assert wider is not None and wider.lr_low == 1e-3 and wider.lr_high > 3e-2 and wider.trials == 8
    assert wider.predicted is not None and 3e-2 < wider.predicted.learning_rate < wider.lr_high
    assert widened(spec, box, Hyperparameters(2.9e-2, 8), first_trial=6, extra_so_far=4) is None


def test_a_new_box_is_a_few_times_around_one_size_and_never_narrower_than_the_floor() -> None:
    spec = spec_of(first_box_factor=3.0, min_box_factor=1.5)
    one = first_box(spec, 6144, [("a", Optimum(768, 1e-2, 16, True))], trials=3)
    assert one.reason == "one size" and one.predicted == Hyperparameters(1e-2, 16)
    assert math.isclose(one.lr_low, 1e-2 / 3) and math.isclose(one.lr_high, 3e-2)
    exact = [(f"s{n}", Optimum(n, optimal_lr(n), 8, True)) for n in (768, 6144, 20736)]
    fitted = first_box(spec, 49152, exact, trials=3)
    assert fitted.reason == "fit" and math.isclose(fitted.lr_high / fitted.lr_low, 1.5 ** 2)
    assert math.isclose(fitted.predicted.learning_rate, optimal_lr(49152), rel_tol=1e-6)


def test_a_box_near_the_range_edge_moves_inside_it_without_shrinking() -> None:
    box = first_box(spec_of(first_box_factor=2.0), 6144, [("a", Optimum(768, 2.9e-2, 8, True))], trials=3)
    assert math.isclose(box.lr_high, 3e-2) and math.isclose(box.lr_high / box.lr_low, 4.0)


def test_the_prediction_error_grows_with_the_scatter_of_the_optima() -> None:
    n = [1e3, 1e4, 1e5]
    _, tight = loglog_prediction(n, [1e-2, 1e-2 / 3.16, 1e-3], 1e6)
    _, loose = loglog_prediction(n, [1e-2, 1e-2, 1e-3], 1e6)
    assert tight < loose and math.isinf(loglog_prediction(n[:2], [1e-2, 1e-3], 1e6)[1])


def test_a_killed_size_aware_sweep_resumes_with_the_same_boxes_and_no_repeats(tmp_path: Path) -> None:
    spec = spec_of()
    first = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    done = drive(first, stop_after=9)  # the smallest size finished, the next one searching
    before = {size.name: boxes_of(first._studies, size.name) for size in first.sizes}
    del first
    second = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    assert {size.name: boxes_of(second._studies, size.name)[:len(before[size.name])]
            for size in second.sizes} == before
    rest = drive(second)
    ids = [p.trial_id for p in done + rest]
    assert len(ids) == len(set(ids)) == second.total_trials == second.n_recorded()
    configs = [(p.size, p.hparams) for p in done + rest if p.phase is Phase.SEARCH]
    assert len(configs) == len(set(configs))


def test_size_aware_settings_without_the_strategy_are_refused() -> None:
    search = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8], "size_aware": {"max_extra_trials": 2}}
    with pytest.raises(SpecError, match="strategy"):
        spec_from_dict(tiny_spec_dict(search=search))
