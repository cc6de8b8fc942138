"""A size-aware search's box (:class:`SearchBox`): where a size's study samples, and how it
widens when the size's best sits on an edge (:func:`widened`). See :mod:`raylaws.search._size_aware`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from raylaws.ladder import smaller_sizes
from raylaws.search._seeds import recorded_seed_counts
from raylaws.spec import ExperimentSpec
from raylaws.trial import Hyperparameters

BOXES_ATTR = "raylaws:boxes"  # study user attribute: the size's boxes, oldest first (JSON)
EDGE_FRACTION = 0.1  # a best lr within this fraction of the box's log-width from an edge is on it


@dataclass(frozen=True)
class SearchBox:
    """Where a size's study samples from its trial ``first_trial`` on.

    Learning rates log-uniform in ``[lr_low, lr_high]``, batch sizes (sequences per step)
    among ``batch_sizes``; ``predicted`` is the config enqueued as the box's first trial (the
    predicted optimum, or a widening's probe), ``trials`` the size's search budget once this
    box applies, ``reason`` how it was made and ``basis`` the sizes whose optima it used
    (``"<size> (searching)"``: that size's best so far).
    """

    lr_low: float
    lr_high: float
    batch_sizes: tuple[int, ...]
    first_trial: int
    trials: int
    reason: str  # "spec", "one size", "fit", "widened", "unbracketed" (the line search goes on)
    predicted: Optional[Hyperparameters] = None
    basis: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["batch_sizes"] = list(self.batch_sizes)
        data["basis"] = list(self.basis)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SearchBox":
        predicted = data.get("predicted")
        return cls(lr_low=float(data["lr_low"]), lr_high=float(data["lr_high"]),
                   batch_sizes=tuple(int(b) for b in data["batch_sizes"]), first_trial=int(data["first_trial"]),
                   trials=int(data["trials"]), reason=str(data["reason"]),
                   predicted=Hyperparameters(float(predicted["learning_rate"]), int(predicted["batch_size"]))
                   if predicted else None, basis=tuple(data.get("basis") or ()))


def journal_boxes(journal: Path) -> dict[str, list[SearchBox]]:
    """Every size's boxes stored in a sweep's journal, by size name; read-only (no study is
    created). Empty for a sweep of ``strategy: independent``."""
    if not journal.exists():
        return {}
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    found = {}
    for study in storage.get_all_studies():
        entries = study.user_attrs.get(BOXES_ATTR)
        if entries:
            found[study.study_name.rpartition("/")[2]] = [SearchBox.from_json(entry) for entry in entries]
    return found


def size_budgets(spec: ExperimentSpec, sizes: Sequence[Any], boxes: dict[str, list[SearchBox]],
                 rows: Optional[Sequence[Mapping[str, Any]]] = None) -> dict[str, int]:
    """Trials each size records, by name: its search budget (its latest box's, once it has one)
    plus its seed re-runs (a ``seeds`` rule's as ``rows``, each size's latest round of records,
    decide them: :func:`raylaws.search._seeds.recorded_seed_counts`; without rows its first
    ``seeds.min``). ``sizes``: the ladder's :class:`raylaws.ladder.Size` values."""
    search = {size.name: boxes[size.name][-1].trials if boxes.get(size.name)
              else spec.search.trials_of(len(smaller_sizes(size, sizes))) for size in sizes}
    seeds = recorded_seed_counts(spec, sizes, rows, search) if rows is not None else {}
    return {size.name: search[size.name] + seeds.get(size.name, spec.min_seeds) for size in sizes}


def edge_of(box: SearchBox, best: Hyperparameters, choices: Sequence[int]) -> tuple[Optional[str], Optional[str]]:
    """Which edge of ``box`` the best config sits on: ``(lr edge, batch edge)``, each ``"low"``,
    ``"high"`` or None; a batch edge only where ``choices`` (the spec's) go on beyond it."""
    width = math.log(box.lr_high / box.lr_low)
    lr_edge = None
    if math.log(best.learning_rate / box.lr_low) <= EDGE_FRACTION * width:
        lr_edge = "low"
    elif math.log(box.lr_high / best.learning_rate) <= EDGE_FRACTION * width:
        lr_edge = "high"
    batch_edge = None
    if best.batch_size == min(box.batch_sizes) and min(choices) < best.batch_size:
        batch_edge = "low"
    elif best.batch_size == max(box.batch_sizes) and max(choices) > best.batch_size:
        batch_edge = "high"
    return lr_edge, batch_edge


def widened(spec: ExperimentSpec, box: SearchBox, best: Hyperparameters, *, first_trial: int,
            extra_so_far: int) -> Optional[SearchBox]:
    """The next box of a size whose best is ``best`` after every trial of ``box`` finished,
    or None: the best is on no edge that can move, or the size has had its extra trials."""
    search = spec.search
    settings = search.size_aware
    extra = min(settings.widen_trials, settings.max_extra_trials - extra_so_far)
    if extra <= 0:
        return None
    lr_edge, batch_edge = edge_of(box, best, search.batch_size)
    step = max(2.0, (box.lr_high / box.lr_low) ** 0.25)
    floor, ceiling = search.learning_rate.low / settings.beyond_range, search.learning_rate.high * settings.beyond_range
    low, high, probe_lr = box.lr_low, box.lr_high, best.learning_rate
    if lr_edge == "high" and high * (1.0 + 1e-9) < ceiling:
        high = min(high * step, ceiling)
        probe_lr = math.sqrt(box.lr_high * high)
    elif lr_edge == "low" and low > floor * (1.0 + 1e-9):
        low = max(low / step, floor)
        probe_lr = math.sqrt(box.lr_low * low)
    batches, probe_batch = box.batch_sizes, best.batch_size
    if batch_edge is not None:
        ordered = sorted(search.batch_size)
        beyond = ordered[ordered.index(best.batch_size) + (1 if batch_edge == "high" else -1)]
        batches = tuple(c for c in search.batch_size if c in set(box.batch_sizes) | {beyond})
        if (low, high) == (box.lr_low, box.lr_high):
            probe_batch = beyond
    if (low, high, batches) == (box.lr_low, box.lr_high, box.batch_sizes):
        return None
    return replace(box, lr_low=low, lr_high=high, batch_sizes=batches, first_trial=first_trial,
                   trials=box.trials + extra, reason="widened", predicted=Hyperparameters(probe_lr, probe_batch),
                   basis=())


__all__ = ["BOXES_ATTR", "EDGE_FRACTION", "SearchBox", "edge_of", "journal_boxes", "size_budgets", "widened"]
