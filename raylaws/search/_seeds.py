"""How many seed re-runs each size runs under a ``seeds:`` rule (:class:`raylaws.spec.SeedsSpec`).

Every size starts with seeds 1..``min``. Seeds are then added in rounds over the sizes of one
ladder (a design's sizes; a debug re-run's sizes with the sweep's other sizes as fixed
neighbours). A round is decided once every size of the ladder has ended its search and recorded
every seed it runs so far: per size, the standard error of its seed mean against the gap to its
nearest neighbouring size's mean (:func:`check_seeds`); each size whose error is above
``until_se_below`` times that gap gets one more seed, up to ``max``. The next round waits for
those seeds.

What is decided is a function of the recorded seeds alone (:func:`decide_seeds` replays the
rounds from them), never of which trial finished first or of how many slots ran: a resumed
driver decides the same seeds from the same records, and a seed handed out but not recorded is
handed out again with the same number. Seed k of a size always trains its chosen config with
seed k.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from raylaws.search._state import SizeState
from raylaws.spec import ExperimentSpec, SeedsSpec
from raylaws.trial import Phase, Status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedCheck:
    """How well one size's seed mean is known against the gap to its neighbouring sizes.

    Attributes:
        n_seeds: completed seeds the check used.
        mean: their mean best eval loss (None: no completed seed).
        se: standard error of that mean, sample std (ddof=1) / sqrt(n_seeds); ``inf`` below 2
            seeds (unknown, so never small enough).
        gap: the smaller distance from ``mean`` to a neighbouring size's mean, nearest sizes with
            a mean on either side (None: no neighbour has one, or no mean).
        more: whether the size wants another seed: ``se > until_se_below * gap``, or no mean
            while a neighbour has one.
    """

    n_seeds: int
    mean: Optional[float]
    se: float
    gap: Optional[float]
    more: bool


def check_seeds(losses: Sequence[Sequence[float]], until_se_below: float) -> list[SeedCheck]:
    """The rule on one ladder's seeds: which sizes' seed means are too uncertain.

    Args:
        losses: per size, in ascending N, the best eval losses of its completed seeds.
        until_se_below: the fraction of the gap the standard error must be below.

    Returns:
        One :class:`SeedCheck` per size, in the same order.

    Example:
        >>> [c.more for c in check_seeds([[4.00, 4.02], [3.60, 3.70], [3.50, 3.51]], 0.25)]
        [False, True, False]
    """
    means = [statistics.fmean(values) if values else None for values in losses]
    checks = []
    for index, values in enumerate(losses):
        below = next((m for m in reversed(means[:index]) if m is not None), None)
        above = next((m for m in means[index + 1:] if m is not None), None)
        mean = means[index]
        se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) >= 2 else math.inf
        if mean is None:
            checks.append(SeedCheck(0, None, se, None, below is not None or above is not None))
            continue
        gaps = [abs(mean - other) for other in (below, above) if other is not None]
        gap = min(gaps) if gaps else None
        checks.append(SeedCheck(len(values), mean, se, gap, gap is not None and se > until_se_below * gap))
    return checks


@dataclass(frozen=True)
class SeedMember:
    """One size of a ladder deciding its seeds together with the others.

    Attributes:
        key: the size's key.
        recorded: its recorded seeds: seed number -> best eval loss (None: not completed).
        fixed: a neighbour whose seeds are what they are (an earlier round's size, for a debug
            re-run): it counts with every recorded seed and never gets another.
        searching: its search has not ended: no round is decided until it has.
    """

    key: str
    recorded: Mapping[int, Optional[float]]
    fixed: bool = False
    searching: bool = False


@dataclass(frozen=True)
class SeedDecision:
    """What the rule decided from the records so far.

    Attributes:
        targets: seeds each size (not fixed) runs as decided so far, by key.
        settled: True when no size gets another seed (every round decided, the last adding none).
        rounds: rounds that added seeds.
        checks: the latest decided round's checks, by key (empty before the first).
    """

    targets: dict[str, int]
    settled: bool
    rounds: int
    checks: dict[str, SeedCheck]


def decide_seeds(members: Sequence[SeedMember], rule: SeedsSpec) -> SeedDecision:
    """Replay the rounds of ``rule`` over one ladder's recorded seeds.

    Args:
        members: the ladder's sizes in ascending N (a size with no config to re-run left out).
        rule: the spec's ``seeds``.

    Returns:
        The seeds each size runs now: round 0 is seeds 1..``rule.min``; a round is decided once
        every size has recorded every seed it runs and none is searching.
    """
    targets = {m.key: rule.min for m in members if not m.fixed}
    rounds, checks = 0, {}
    while True:
        if any(m.searching for m in members) or any(
                seed not in m.recorded for m in members if not m.fixed for seed in range(1, targets[m.key] + 1)):
            return SeedDecision(targets, False, rounds, checks)
        losses = [_completed(m.recorded.values() if m.fixed else (m.recorded[s] for s in range(1, targets[m.key] + 1)))
                  for m in members]
        found = check_seeds(losses, rule.until_se_below)
        checks = {m.key: check for m, check in zip(members, found)}
        more = [m.key for m, check in zip(members, found) if check.more and not m.fixed and targets[m.key] < rule.max]
        if not more:
            return SeedDecision(targets, True, rounds, checks)
        for key in more:
            targets[key] += 1
        rounds += 1


def _completed(losses: Iterable[Optional[float]]) -> list[float]:
    return [float(loss) for loss in losses if loss is not None]


def recorded_losses(rows: Iterable[Mapping[str, Any]]) -> dict[int, Optional[float]]:
    """A size's pretraining seed records as seed -> best eval loss (None: not completed)."""
    return {int(r["seed"]): (r["eval_loss"] if r["status"] == Status.COMPLETED and r["eval_loss"] is not None
                             else None)
            for r in rows if r["phase"] == Phase.SEED and r.get("task") is None}


def fixed_neighbours(outside: Iterable[Mapping[str, Any]], inside: Iterable[tuple[Optional[str], str]]
                     ) -> dict[Optional[str], list[tuple[int, SeedMember]]]:
    """The sizes of ``outside``'s pretraining records not in ``inside`` ((design, size name)
    pairs), as fixed members by design: ``(n_params, member)``, in the order first seen."""
    rows_of: dict[tuple[Optional[str], str], tuple[int, list[Mapping[str, Any]]]] = {}
    skip = set(inside)
    for row in outside:
        key = (row.get("design"), row["size"])
        if row.get("task") is None and key not in skip:
            rows_of.setdefault(key, (int(row["n_params"]), []))[1].append(row)
    found: dict[Optional[str], list[tuple[int, SeedMember]]] = {}
    for (design, name), (n_params, rows) in rows_of.items():
        found.setdefault(design, []).append((n_params, SeedMember(name, recorded_losses(rows), fixed=True)))
    return found


class SeedCounts:
    """Sets every planner size's :attr:`SizeState.seeds_target` and :attr:`SizeState.seeds_settled`.

    A count (``seeds: K``) is K, settled. A rule is decided per design over the planner's sizes
    (:func:`decide_seeds`), with ``outside``'s sizes of the design as fixed neighbours.

    Args:
        spec: the sweep's spec (``seeds`` is the same for every design and round).
        states: the planner's sizes, by key.
        outside: seed records of sizes the planner does not run (each size's latest round), for a
            debug re-run's neighbours.
    """

    def __init__(self, spec: ExperimentSpec, states: Mapping[str, SizeState],
                 outside: Sequence[Mapping[str, Any]] = ()) -> None:
        self._rule = spec.seed_rule
        self._min = spec.min_seeds
        self._groups: dict[Optional[str], list[SizeState]] = {}
        for state in sorted(states.values(), key=lambda s: s.size.n_params):
            self._groups.setdefault(state.size.design, []).append(state)
        # The outside sizes' records do not change while the planner runs: their members once.
        self._fixed = fixed_neighbours(outside, ((s.size.design, s.size.name) for s in states.values()))
        self._decided: dict[str, int] = {}  # the targets last logged

    def update(self, search_ended: Callable[[SizeState], bool], has_config: Callable[[SizeState], bool]) -> None:
        """Decide from the records noted so far.

        Args:
            search_ended: whether a size's search is over.
            has_config: whether it found a config to re-run (else it takes no part).
        """
        for group in self._groups.values():
            for state in group:
                state.seeds_target, state.seeds_settled = self._min, self._rule is None
        if self._rule is None:
            return
        for design, group in self._groups.items():
            members = list(self._fixed.get(design, []))
            for state in group:
                ended = search_ended(state)
                if not ended or has_config(state):
                    members.append((state.size.n_params, SeedMember(
                        state.size.key, recorded_losses(state.seed_records.values()), searching=not ended)))
            decision = decide_seeds([m for _, m in sorted(members, key=lambda item: item[0])], self._rule)
            for state in group:
                state.seeds_target = decision.targets.get(state.size.key, self._min)
                state.seeds_settled = decision.settled or state.size.key not in decision.targets
            self._log(decision)

    def _log(self, decision: SeedDecision) -> None:
        for key, target in decision.targets.items():
            if target > self._decided.get(key, self._min):
                check = decision.checks[key]
                logger.info("size %s: seed %d added (seed-mean standard error %.4f above %s x the gap %s)",
                            key, target, check.se, self._rule.until_se_below if self._rule else "-",
                            "unknown" if check.gap is None else f"{check.gap:.4f}")
            self._decided[key] = target


def recorded_seed_counts(spec: ExperimentSpec, sizes: Sequence[Any], rows: Sequence[Mapping[str, Any]],
                         search_budgets: Mapping[str, int],
                         outside: Sequence[Mapping[str, Any]] = ()) -> dict[str, int]:
    """Seed re-runs each size runs as a stored sweep's records decide, by size name.

    Args:
        spec: the sweep's spec.
        sizes: the sizes running together (the ladder's :class:`raylaws.ladder.Size` values, or
            a debug re-run round's).
        rows: their records (each size's latest round, or the re-run round's).
        search_budgets: each size's search trials, by name: a size with that many search records
            and none completed has no config to re-run.
        outside: records of the sweep's other sizes, fixed neighbours of ``sizes`` (a re-run).

    Returns:
        By size name: the seeds decided so far (:func:`decide_seeds`), never fewer than it has
        recorded; a count's ``seeds`` for every size without a rule.
    """
    by_size: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        if row.get("task") is None:
            by_size.setdefault(row["size"], []).append(row)
    fixed = fixed_neighbours(outside, ((getattr(size, "design", None), size.name) for size in sizes))
    groups: dict[Optional[str], list[Any]] = {}
    for size in sizes:
        groups.setdefault(getattr(size, "design", None), []).append(size)
    counts = {}
    for design, group in groups.items():
        members = list(fixed.get(design, []))
        for size in group:
            mine = by_size.get(size.name, [])
            search = [r for r in mine if r["phase"] == Phase.SEARCH]
            if len(search) < search_budgets.get(size.name, 0) or any(r["status"] == Status.COMPLETED for r in search):
                members.append((size.n_params, SeedMember(size.name, recorded_losses(mine))))
        ordered = [member for _, member in sorted(members, key=lambda item: item[0])]
        targets = decide_seeds(ordered, spec.seed_rule).targets if spec.seed_rule is not None else {}
        for size in group:
            recorded = len(recorded_losses(by_size.get(size.name, [])))
            counts[size.name] = max(targets.get(size.name, spec.min_seeds), recorded)
    return counts


__all__ = ["SeedCheck", "SeedCounts", "SeedDecision", "SeedMember", "check_seeds", "decide_seeds",
           "fixed_neighbours", "recorded_losses", "recorded_seed_counts"]
