"""What a sweep will cost before it runs (``raylaws plan``).

Each size's pretraining trial is timed on this machine (a few optimizer steps and one
evaluation on synthetic tokens, on the device its trials would use) or read from a finished
sweep's records; the spec's trial counts turn that into CPU- and GPU-hours, and a list
schedule of the sweep's trials on a cluster (this machine, or the nodes a cluster config can
start) into its wall time and what those nodes cost for it.

Example:
    >>> from raylaws.plan import plan, this_machine
    >>> from raylaws.spec import load_spec
    >>> estimate = plan(load_spec("search_spaces/demo.yaml"), cluster=this_machine())  # doctest: +SKIP
    >>> estimate.wall_seconds  # fewest and most trials  # doctest: +SKIP
    (412.0, 583.5)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from raylaws.plan._cluster import LIST_PRICES, LIST_PRICES_READ, Cluster, NodeType, cluster_from_config, this_machine
from raylaws.plan._schedule import SizeWork, fits, wall_seconds
from raylaws.plan._timing import TrialTime, recorded_trial, time_trial
from raylaws.spec import ExperimentSpec, SpecError, SpecProblem

if TYPE_CHECKING:
    from raylaws.ladder import Size


@dataclass(frozen=True)
class SizePlan:
    """One size's share of a planned sweep.

    Attributes:
        size: the ladder's size (its ``n_params`` is the paper's non-embedding N).
        trial: one pretraining trial's expected seconds (at the fastest and the slowest batch
            size), and where that figure comes from.
        trials: the size's pretraining trials, fewest and most (search trials, plus the
            extra trials a size-aware box may widen by, plus seed re-runs from ``seeds.min``
            to ``seeds.max``).
        finetune_trials: its finetuning trials over all tasks (not timed).
    """

    size: "Size"
    trial: TrialTime
    trials: tuple[int, int]
    finetune_trials: int = 0

    @property
    def cpus_per_trial(self) -> float:
        return self.size.resources.cpus * self.size.resources.workers

    @property
    def gpus_per_trial(self) -> float:
        return self.size.resources.gpus * self.size.resources.workers

    def hours(self, per_trial: float) -> tuple[float, float]:
        """``per_trial`` resources (CPUs or GPUs) times the trials' hours: the fewest trials at
        the fastest batch size, and the most at the slowest."""
        return (self.trials[0] * self.trial.fastest * per_trial / 3600,
                self.trials[1] * self.trial.slowest * per_trial / 3600)


@dataclass(frozen=True)
class Plan:
    """A sweep's expected cost on one cluster; every pair is (fewest trials, most trials)."""

    name: str
    sizes: tuple[SizePlan, ...]
    cluster: Cluster
    wall_seconds: tuple[float, float]

    @property
    def trials(self) -> tuple[int, int]:
        return sum(s.trials[0] for s in self.sizes), sum(s.trials[1] for s in self.sizes)

    @property
    def cpu_hours(self) -> tuple[float, float]:
        return _total(s.hours(s.cpus_per_trial) for s in self.sizes)

    @property
    def gpu_hours(self) -> tuple[float, float]:
        return _total(s.hours(s.gpus_per_trial) for s in self.sizes)

    @property
    def usd(self) -> Optional[tuple[float, float]]:
        """What the cluster's nodes cost if they stay up for the wall time (an autoscaler that
        lets idle nodes go costs less); None where a node's price is unknown."""
        rate = self.cluster.usd_per_hour
        return None if rate is None else (rate * self.wall_seconds[0] / 3600, rate * self.wall_seconds[1] / 3600)


def plan(spec: ExperimentSpec, *, cluster: Optional[Cluster] = None, records: Optional[Sequence[dict[str, Any]]] = None,
         steps: int = 4, on_size: Optional[Callable[["Size"], None]] = None) -> Plan:
    """The expected cost of running ``spec`` on ``cluster`` (default: this machine).

    Args:
        spec: the experiment spec.
        cluster: where it would run (:func:`this_machine`, :func:`cluster_from_config`).
        records: a finished (or partly run) sweep's trial rows: sizes with pretraining
            records take their trial time from them; the others are timed here.
        steps: optimizer steps timed per batch size (after one warm-up step).
        on_size: called with each size before it is timed (progress).

    Raises:
        SpecError: a size's trial fits on no node of the cluster.
    """
    from raylaws.ladder import build_ladder
    from raylaws.spec import design_spec

    cluster = cluster or this_machine()
    sizes = build_ladder(spec)
    specs = [design_spec(spec, size.design) for size in sizes]
    works = _works(specs, sizes)
    hint = "; plan for a cluster with --cluster CONFIG" if cluster.name == "this machine" else ""
    problems = [SpecProblem("resources", f"a trial of {size.name} asks for {size.resources.describe()} per worker; no "
                                         f"node of {cluster.name} has that ({cluster.describe()}){hint}")
                for size, work in zip(sizes, works) if not fits(work, cluster)]
    if problems:
        raise SpecError(problems, source="plan")
    timed = []
    vocabularies: dict[str, int] = {}  # a given tokenizer is loaded once, not per size
    for size, size_spec in zip(sizes, specs):
        trial = recorded_trial(size.name, records) if records is not None else None
        if trial is None:
            if on_size is not None:
                on_size(size)
            data = size_spec.data.model_dump_json()
            if data not in vocabularies:
                vocabularies[data] = vocab_size(size_spec)
            trial = time_trial(size_spec, size, vocabularies[data], steps=steps)
        timed.append(trial)
    most = [work.search + _extra(size_spec) for work, size_spec in zip(works, specs)]
    planned = tuple(SizePlan(size, trial, (work.search + s.min_seeds, search + s.max_seeds), s.finetune_budget_per_size)
                    for size, trial, work, search, s in zip(sizes, timed, works, most, specs))
    fewest = [replace(work, seconds=trial.fastest, seeds=s.min_seeds) for work, trial, s in zip(works, timed, specs)]
    longest = [replace(work, seconds=trial.slowest, search=search, seeds=s.max_seeds)
               for work, trial, search, s in zip(works, timed, most, specs)]
    walls = tuple(wall_seconds(each, cluster, max_concurrent=spec.resources.max_concurrent_trials)
                  for each in (fewest, longest))
    return Plan(spec.name, planned, cluster, walls)  # type: ignore[arg-type]


def vocab_size(spec: ExperimentSpec) -> int:
    """The model's vocabulary: the token source's, the BPE's size, or the given tokenizer's."""
    data = spec.data
    if data.tokens is not None:
        return data.tokens.vocab_size
    if data.tokenizer.kind == "bpe":
        return data.tokenizer.vocab_size
    from raylaws.data._tokenizer import load

    return load(data)[0].get_vocab_size()


def _works(specs: Sequence[ExperimentSpec], sizes: Sequence["Size"]) -> list[SizeWork]:
    """Each size's trials with no time yet, in the planner's order: an independent search
    hands out the largest sizes first; a size-aware one every search (smallest first) before
    any seeds, each size's search once the next smaller size's first trials and every other
    smaller size's search have finished, its line search past the bracket (the 4th trial on)
    one trial at a time."""
    from raylaws.ladder import smaller_sizes

    position = {size.key: index for index, size in enumerate(sizes)}
    works = []
    for size, size_spec in zip(sizes, specs):
        smaller = [position[other.key] for other in smaller_sizes(size, sizes)]
        size_aware = size_spec.search.strategy == "size_aware"
        after = smaller[-1] if smaller and size_aware else None  # the next smaller size
        after_all = tuple(i for i in smaller if i != after) if size_aware else ()
        priority = (float(size.n_params), 1e18 - size.n_params) if size_aware else (-size.n_params, -size.n_params)
        resources = size.resources
        works.append(SizeWork(search=size_spec.search.trials_of(len(smaller)), seeds=0, seconds=0.0,
                              cpus=float(resources.cpus), gpus=resources.gpus, workers=resources.workers,
                              parallel=size_spec.search.parallel, after=after, after_all=after_all,
                              alone_from=3 if after is not None else None, priority=priority))
    return works


def _extra(spec: ExperimentSpec) -> int:
    """Search trials a size-aware box may add by widening (the smallest size's too)."""
    return spec.search.size_aware.max_extra_trials if spec.search.strategy == "size_aware" else 0


def _total(pairs: Any) -> tuple[float, float]:
    pairs = list(pairs)
    return sum(p[0] for p in pairs), sum(p[1] for p in pairs)


__all__ = ["LIST_PRICES", "LIST_PRICES_READ", "Cluster", "NodeType", "Plan", "SizePlan", "TrialTime",
           "cluster_from_config", "plan", "this_machine", "vocab_size"]
