"""The wall-time schedule: trials start as soon as their size and a node allow, in ladder order."""

from __future__ import annotations

import pytest

from raylaws.plan import Cluster, NodeType
from raylaws.plan._schedule import SizeWork, fits, wall_seconds


def machine(cpus: float, gpus: float = 0.0, count: int = 1) -> Cluster:
    return Cluster("test", (NodeType("node", cpus, gpus, count),))


def test_a_size_runs_its_search_in_waves_of_parallel_then_its_seeds() -> None:
    work = SizeWork(search=4, seeds=2, seconds=10.0, cpus=1, gpus=0, parallel=2)
    # 2 at a time: two waves of search, then both seeds at once
    assert wall_seconds([work], machine(8)) == 30.0
    # one CPU: every trial after the other
    assert wall_seconds([work], machine(1)) == 60.0


def test_a_line_search_past_its_bracket_runs_one_trial_at_a_time() -> None:
    work = SizeWork(search=6, seeds=0, seconds=10.0, cpus=1, gpus=0, parallel=4, alone_from=3)
    assert wall_seconds([work], machine(8)) == 40.0  # the probe and the bracket at once, then 3 steps


def test_sizes_of_an_independent_search_share_the_cluster_and_a_size_aware_one_waits_for_the_smaller() -> None:
    small = SizeWork(search=2, seeds=0, seconds=10.0, cpus=1, gpus=0, parallel=2)
    large = SizeWork(search=2, seeds=0, seconds=30.0, cpus=1, gpus=0, parallel=2)
    assert wall_seconds([small, large], machine(4)) == 30.0
    waiting = SizeWork(search=2, seeds=0, seconds=30.0, cpus=1, gpus=0, parallel=2, after=0)
    assert wall_seconds([small, waiting], machine(4)) == 40.0


def test_the_planners_order_decides_who_takes_a_free_slot() -> None:
    def ladder(search: float, seeds: float) -> list[SizeWork]:  # three chained sizes, the first with 2 seeds
        return [SizeWork(search=1, seeds=2, seconds=10.0, cpus=1, gpus=0, priority=(search, seeds)),
                SizeWork(search=1, seeds=0, seconds=10.0, cpus=1, gpus=0, after=0, priority=(search + 1, seeds)),
                SizeWork(search=1, seeds=0, seconds=10.0, cpus=1, gpus=0, after=1, priority=(search + 2, seeds))]

    # searches first (size-aware): the next size's search starts beside a seed, the chain moves on
    assert wall_seconds(ladder(search=0, seeds=9), machine(2)) == 30.0
    # seeds first: both seeds take the slots, and each later search runs with a slot idle
    assert wall_seconds(ladder(search=5, seeds=0), machine(2)) == 40.0


def test_fractional_gpus_pack_trials_onto_one_gpu_and_a_cap_holds_them_back() -> None:
    work = SizeWork(search=8, seeds=0, seconds=10.0, cpus=1, gpus=0.125, parallel=8)
    assert wall_seconds([work], machine(8, 1)) == 10.0
    assert wall_seconds([work], machine(8, 1), max_concurrent=4) == 20.0
    assert wall_seconds([work], machine(8, 0.5)) == 20.0  # room for 4


def test_a_trial_of_several_workers_needs_room_for_all_of_them_across_nodes() -> None:
    work = SizeWork(search=2, seeds=0, seconds=10.0, cpus=4, gpus=1, workers=2, parallel=2)
    assert fits(work, machine(8, 1, count=2))
    assert wall_seconds([work], machine(8, 1, count=2)) == 20.0  # one trial at a time
    assert wall_seconds([work], machine(8, 1, count=4)) == 10.0
    assert not fits(work, machine(8, 1, count=1))
    with pytest.raises(ValueError, match="fits on no node"):
        wall_seconds([work], machine(8, 1, count=1))


def test_a_size_aware_box_opens_once_the_next_smaller_sizes_first_trials_have_finished() -> None:
    smaller = SizeWork(search=6, seeds=0, seconds=10.0, cpus=1, gpus=0, parallel=2)
    larger = SizeWork(search=1, seeds=0, seconds=10.0, cpus=1, gpus=0, after=0)
    # the smaller size's 3rd trial ends at 20 s (two at a time), its 6th at 30 s: the larger runs 20-30
    assert wall_seconds([smaller, larger], machine(4)) == 30.0
    # a size two rungs up waits for the smallest size's whole search, and its neighbour's first trial
    top = SizeWork(search=1, seeds=0, seconds=10.0, cpus=1, gpus=0, after=1, after_all=(0,))
    assert wall_seconds([smaller, larger, top], machine(4)) == 40.0
