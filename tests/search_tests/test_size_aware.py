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
from raylaws.search._size_aware import (WAIT, Optimum, SearchBox, boxes_of, first_box, line_search_next,
                                        loglog_prediction, size_budgets, widened)
from raylaws.spec import SpecError, spec_from_dict
from raylaws.trial import Hyperparameters, Phase, TrialPlan
from tests.conftest import tiny_spec_dict
from tests.search_tests.test_plan import at, final

LADDER = {"aspect_ratio": 8, "layers": [1, 2, 3, 4]}  # N = 768; 6,144; 20,736; 49,152


def optimal_lr(n_params: int, scale: float = 0.02) -> float:
    return scale * (n_params / 500) ** -0.5


def loss(n_params: int, hparams: Hyperparameters, scale: float = 0.02) -> float:
    return math.log(hparams.learning_rate / optimal_lr(n_params, scale)) ** 2 + (0.05 if hparams.batch_size == 16 else 0)


def spec_of(**size_aware: Any) -> Any:
    search = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8, 16], "trials_per_size": 6,
              "sampler_seed": 0, "pruning": {"enabled": False}, "strategy": "size_aware", "parallel": 2,
              "size_aware": {"trials_after_first": 4, **size_aware}}
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
    assert all(boxes[name][0].trials == 4 for name in first_seen[1:]) and boxes["L1-H8"][0].trials == 6
    assert planner.total_trials == len(plans)
    assert size_budgets(spec_of(), planner.sizes, boxes) == {name: counts[name] + 1 for name in first_seen}
    assert size_budgets(spec_of(), planner.sizes, {}) == {"L1-H8": 7, "L2-H16": 5, "L3-H24": 5, "L4-H32": 5}


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


def test_after_its_first_trial_a_size_line_searches_around_the_prediction() -> None:
    c = 1e-2
    box = SearchBox(c / 2, c * 2, (8, 16), first_trial=0, trials=5, reason="fit", predicted=Hyperparameters(c, 16))
    quarter = math.log(4.0) / 4  # a quarter of the box's log-width
    assert line_search_next(box, box, 0, [], running=0) == box.predicted
    below, above = (line_search_next(box, box, k, [], running=1) for k in (1, 2))  # no result needed yet
    assert below.batch_size == above.batch_size == 16
    assert math.isclose(math.log(c / below.learning_rate), quarter) and math.isclose(math.log(above.learning_rate / c), quarter)
    trials = [(box.predicted, 1.00), (below, 1.20), (above, 1.10)]
    assert line_search_next(box, box, 3, trials[:2], running=1) is WAIT  # the third result is still out

    vertex = line_search_next(box, box, 3, trials, running=0)  # the parabola's vertex, on the better side
    xa, x0, xb = (math.log(h.learning_rate) for h in (below, box.predicted, above))
    expected = x0 - 0.5 * ((x0 - xa) ** 2 * (1.00 - 1.10) - (x0 - xb) ** 2 * (1.00 - 1.20)) / (
        (x0 - xa) * (1.00 - 1.10) - (x0 - xb) * (1.00 - 1.20))
    assert vertex.batch_size == 16 and x0 < math.log(vertex.learning_rate) < xb
    assert math.isclose(math.log(vertex.learning_rate), expected)

    falling = [(box.predicted, 1.10), (below, 1.20), (above, 1.00)]  # the best is the outermost: step past it
    step = line_search_next(box, box, 3, falling, running=0)
    assert math.isclose(math.log(step.learning_rate / above.learning_rate), quarter)
    pruned = [(box.predicted, 1.00), (below, None), (above, 1.10)]  # a pruned neighbour: halve the gap to the other
    assert math.isclose(math.log(line_search_next(box, box, 3, pruned, running=0).learning_rate), (x0 + xb) / 2)

    probe = line_search_next(box, box, 4, trials + [(vertex, 0.95)], running=0)  # the last trial: the other batch
    assert probe.batch_size == 8 and math.isclose(probe.learning_rate, vertex.learning_rate * math.sqrt(8 / 16))


def test_a_size_opens_once_the_next_smaller_size_has_results_seeds_filling_the_wait(tmp_path: Path) -> None:
    spec = spec_of()
    planner = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    names = [size.name for size in planner.sizes]
    opened: dict[str, tuple[int, list[str]]] = {}
    original = planner._schedule.search._open

    def recording_open(state: Any, optima: Any) -> Any:
        at = names.index(state.size.name)
        if at > 0:
            opened[state.size.name] = (planner._studies.finished_prefix(names[at - 1]), [name for name, _ in optima])
        return original(state, optima)

    planner._schedule.search._open = recording_open
    plans = drive(planner)
    assert set(opened) == set(names[1:])
    assert all(prefix >= 3 for prefix, _ in opened.values()), opened
    assert all(basis == names[:names.index(name)] for name, (_, basis) in opened.items()), opened
    for name in names[1:]:  # the box says which of the next smaller size's trials it came from
        assert boxes_of(planner._studies, name)[0].basis[-1] == f"{names[names.index(name) - 1]} (first 3 trials)"
    first_l3 = next(i for i, p in enumerate(plans) if p.size == "L3-H24")
    assert any(p.phase is Phase.SEED for p in plans[:first_l3])  # a seed re-run used the slot meanwhile
    for name in names[1:]:  # each later size's trials: its prediction, the bracket, then the line search
        box = boxes_of(planner._studies, name)[0]
        search = [p.hparams for p in plans if p.size == name and p.phase is Phase.SEARCH][:3]
        assert search[0] == box.predicted and {h.batch_size for h in search} == {box.predicted.batch_size}
        assert search[1].learning_rate < box.predicted.learning_rate < search[2].learning_rate


def test_line_search_trials_are_never_pruned_while_the_smallest_size_is(tmp_path: Path) -> None:
    search = {"learning_rate": {"low": 1e-3, "high": 3e-2}, "batch_size": [8], "trials_per_size": 4,
              "sampler_seed": 0, "pruning": {"enabled": True, "grace_steps": 2, "reduction_factor": 2},
              "strategy": "size_aware", "size_aware": {"trials_after_first": 3}, "parallel": 1}
    spec = spec_from_dict(tiny_spec_dict(search=search, seeds=0, ladder={"aspect_ratio": 8, "layers": [1, 2]}))
    planner = SweepPlanner(spec, build_ladder(spec), SweepLayout.at(tmp_path))
    smallest = []
    for rank in range(4):  # three finish well, so a bad fourth is pruned
        smallest.append(planner.next_trial())
        if rank < 3:
            planner.should_prune(smallest[-1].trial_id, at(2, 1.0 + rank))
            planner.complete(smallest[-1].trial_id, final(1.0 + rank))
    assert {p.size for p in smallest} == {"L1-H8"}
    assert planner.should_prune(smallest[3].trial_id, at(2, 50.0))
    planner.complete(smallest[3].trial_id, final(50.0))
    larger = []
    for _ in range(3):
        larger.append(planner.next_trial())
        if len(larger) < 3:
            planner.should_prune(larger[-1].trial_id, at(2, 1.0))
            planner.complete(larger[-1].trial_id, final(1.0))
    assert {p.size for p in larger} == {"L2-H16"} and not planner._schedule.search.prunes("L2-H16")
    assert not planner.should_prune(larger[2].trial_id, at(2, 50.0))  # far behind, but its loss is needed


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
