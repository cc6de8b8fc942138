"""How long a sweep's trials take on a cluster: list scheduling in the planner's order."""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Optional, Sequence

from raylaws.plan._cluster import Cluster
from raylaws.search import INFORMED_TRIALS


@dataclass(frozen=True)
class SizeWork:
    """The pretraining trials of one size, as the scheduler sees them.

    Attributes:
        search: search trials; at most ``parallel`` of them run at once (``search.parallel``).
        seeds: seed re-runs, which start once every search trial of the size has finished.
        seconds: one trial's training seconds.
        cpus, gpus: what each of its ``workers`` asks of a node.
        after: the index of the next smaller size whose first ``INFORMED_TRIALS`` search
            trials must have finished before this one's search starts (a size-aware box opens
            from the smaller sizes' optima), or None.
        after_all: the sizes (indices) whose whole search must have finished first: the ones
            smaller than ``after``.
        alone_from: search trials from this one on run one at a time, each after all earlier
            ones (a size-aware line search past its bracket), or None.
        priority: (search, seeds) hand-out rank, lowest first: the planner's order.
    """

    search: int
    seeds: int
    seconds: float
    cpus: float
    gpus: float
    workers: int = 1
    parallel: int = 4
    after: Optional[int] = None
    after_all: tuple[int, ...] = ()
    alone_from: Optional[int] = None
    priority: tuple[float, float] = (0.0, 0.0)


def fits(work: SizeWork, cluster: Cluster) -> bool:
    """Whether one trial of ``work`` fits on the empty ``cluster``."""
    return _place(work, [[t.cpus, t.gpus] for t in cluster.node_types for _ in range(t.count)]) is not None


def wall_seconds(works: Sequence[SizeWork], cluster: Cluster, *, max_concurrent: Optional[int] = None) -> float:
    """Seconds from the first trial's start to the last one's end when a trial starts as soon
    as its size allows it and a node has room for all its workers, the planner's next trial
    first (no start-up or scheduling overhead).

    Raises:
        ValueError: a size's trial fits on no node of ``cluster`` (check with :func:`fits`).
    """
    for index, work in enumerate(works):
        if (work.search or work.seeds) and not fits(work, cluster):
            raise ValueError(f"size {index}'s trial fits on no node of {cluster.name}")
    free = [[t.cpus, t.gpus] for t in cluster.node_types for _ in range(t.count)]
    search_left = [w.search for w in works]
    seeds_left = [w.seeds for w in works]
    in_search = [0] * len(works)  # search trials running
    finishing: list[tuple[float, int, int, str, list[tuple[int, float, float]]]] = []  # heap of running trials
    now, started = 0.0, 0
    while True:
        while max_concurrent is None or len(finishing) < max_concurrent:
            ready = sorted(_ready(works, search_left, seeds_left, in_search))
            placed = None
            for _, index, phase in ready:
                placed = _place(works[index], free)
                if placed is not None:
                    break
            if placed is None:
                break
            if phase == "search":
                search_left[index] -= 1
                in_search[index] += 1
            else:
                seeds_left[index] -= 1
            started += 1
            heapq.heappush(finishing, (now + works[index].seconds, started, index, phase, placed))
        if not finishing:
            return now
        now, _, index, phase, placed = heapq.heappop(finishing)
        for node, cpus, gpus in placed:
            free[node][0] += cpus
            free[node][1] += gpus
        if phase == "search":
            in_search[index] -= 1


def _ready(works: Sequence[SizeWork], search_left: list[int], seeds_left: list[int],
           in_search: list[int]) -> list[tuple[float, int, str]]:
    """(priority, size index, phase) of every trial that may start now."""
    ready = []
    for index, work in enumerate(works):
        if any(search_left[j] or in_search[j] for j in work.after_all):
            continue
        if work.after is not None:
            informing = works[work.after]
            if informing.search - search_left[work.after] - in_search[work.after] < min(INFORMED_TRIALS,
                                                                                         informing.search):
                continue
        if search_left[index]:
            asked = work.search - search_left[index]
            alone = work.alone_from is not None and asked >= work.alone_from
            if in_search[index] < (1 if alone else work.parallel):
                ready.append((work.priority[0], index, "search"))
        elif seeds_left[index] and not in_search[index]:
            ready.append((work.priority[1], index, "seed"))
    return ready


def _place(work: SizeWork, free: list[list[float]]) -> Optional[list[tuple[int, float, float]]]:
    """Take room for each of ``work``'s workers from ``free`` (first fit) and say where; take
    nothing and return None if they do not all fit."""
    placed: list[tuple[int, float, float]] = []
    for _ in range(work.workers):
        node = next((i for i, (cpus, gpus) in enumerate(free)
                     if cpus >= work.cpus - 1e-9 and gpus >= work.gpus - 1e-9), None)
        if node is None:
            for i, cpus, gpus in placed:
                free[i][0] += cpus
                free[i][1] += gpus
            return None
        free[node][0] -= work.cpus
        free[node][1] -= work.gpus
        placed.append((node, work.cpus, work.gpus))
    return placed


__all__ = ["SizeWork", "fits", "wall_seconds"]
