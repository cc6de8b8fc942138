"""The wall-time schedule: trials start as soon as their size and a node allow, in ladder order."""

from __future__ import annotations

import pytest

from raylaws.plan import Cluster, NodeType
from raylaws.plan._schedule import SizeWork, fits, wall_seconds


def machine(cpus: float, gpus: float = 0.0, count: int = 1) -> Cluster:
    return Cluster("test", (NodeType("node", cpus, gpus, count),))


def test_a_size_runs_its_search_in_waves_of_parallel_then_its_seeds() -> None:
    work = SizeWork(search=4, seeds=2, seconds=10.0, cpus=1, gpus=0)
    # 2 at a time: two waves of search, then both seeds at once
    assert wall_seconds([work], machine(8), parallel=2) == 30.0
    # one CPU: every trial after the other
    assert wall_seconds([work], machine(1), parallel=2) == 60.0


def test_sizes_of_an_independent_search_share_the_cluster_and_a_size_aware_one_waits_for_the_smaller() -> None:
    small = SizeWork(search=2, seeds=0, seconds=10.0, cpus=1, gpus=0)
    large = SizeWork(search=2, seeds=0, seconds=30.0, cpus=1, gpus=0)
    assert wall_seconds([small, large], machine(4), parallel=2) == 30.0
    waiting = SizeWork(search=2, seeds=0, seconds=30.0, cpus=1, gpus=0, after=0)
    assert wall_seconds([small, waiting], machine(4), parallel=2) == 40.0


def test_fractional_gpus_pack_trials_onto_one_gpu_and_a_cap_holds_them_back() -> None:
    work = SizeWork(search=8, seeds=0, seconds=10.0, cpus=1, gpus=0.125)
    assert wall_seconds([work], machine(8, 1), parallel=8) == 10.0
    assert wall_seconds([work], machine(8, 1), parallel=8, max_concurrent=4) == 20.0
    assert wall_seconds([work], machine(8, 0.5), parallel=8) == 20.0  # room for 4


def test_a_trial_of_several_workers_needs_room_for_all_of_them_across_nodes() -> None:
    work = SizeWork(search=2, seeds=0, seconds=10.0, cpus=4, gpus=1, workers=2)
    assert fits(work, machine(8, 1, count=2))
    assert wall_seconds([work], machine(8, 1, count=2), parallel=2) == 20.0  # one trial at a time
    assert wall_seconds([work], machine(8, 1, count=4), parallel=2) == 10.0
    assert not fits(work, machine(8, 1, count=1))
    with pytest.raises(ValueError, match="fits on no node"):
        wall_seconds([work], machine(8, 1, count=1), parallel=2)
