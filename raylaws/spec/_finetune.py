"""The finetuning phase and its tasks."""

from __future__ import annotations

import math
from typing import Literal, Optional

from pydantic import Field, model_validator

from raylaws.spec._base import _Frozen
from raylaws.spec._search import LearningRateRange, PruningSpec


# Offline tasks built from the standard library (raylaws.tasks).
BUILTIN_TASKS = ("stdlib-family", "stdlib-docstring", "stdlib-identifier", "stdlib-next-identifier")


class TaskSpec(_Frozen):
    """One finetuning task: sequence classification of a text (and optional text pair).

    ``data`` is a local GLUE-style ``.tsv``/``.csv``/``.jsonl`` file (split by hash into train
    and eval), a directory holding ``train.*`` and ``dev.*`` (or ``validation.*``/``eval.*``)
    files, a ``datasets.save_to_disk`` directory, or ``hub:<name>`` (a local path after
    ``hub:`` is read as a local file; anything else needs the network). Leave ``data`` out for
    a built-in offline task (``stdlib-family``, ``stdlib-docstring``, ``stdlib-identifier``,
    ``stdlib-next-identifier``; see :mod:`raylaws.tasks`).
    ``metric`` is maximised; records hold ``eval_loss = 1 - metric`` as the paper plots it.
    """

    # Names key trial ids and files (<size>.<task>.s000): letters, digits, _ and - only.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$", max_length=60)
    data: Optional[str] = Field(None, min_length=1)
    metric: Literal["accuracy", "f1", "mcc"] = "accuracy"
    text_field: str = "text"
    text_pair_field: Optional[str] = None  # second text of a pair task (e.g. GLUE's sentence2)
    label_field: str = "label"
    eval_fraction: float = Field(0.1, gt=0.0, lt=1.0)  # held out by hash when the data has one split

    @model_validator(mode="after")
    def _builtin_or_data(self) -> "TaskSpec":
        if self.data is None and self.name not in BUILTIN_TASKS:
            raise ValueError(f"task {self.name!r} has no 'data'; give a .tsv/.csv/.jsonl file, a save_to_disk "
                             f"directory or hub:<name>, or name a built-in task ({', '.join(BUILTIN_TASKS)})")
        return self


class FinetuneSpec(_Frozen):
    """The finetuning phase: every size's pretrained model finetuned on each task.

    Per (size, task): an Optuna study of ``trials_per_task`` trials over the learning rate
    (log-uniform) and the number of epochs (choices), at a fixed ``batch_size`` (examples per
    step; the paper used 64), a constant schedule after ``warmup_fraction`` of the steps of
    linear warmup, and ``dropout``; each trial keeps its best evaluation (one per epoch, or
    ``evals_per_epoch``). With ``grid: true`` the study is the paper's grid instead: its
    trials take ``trials_per_task / len(epochs)`` learning rates evenly spaced in log from
    ``learning_rate.low`` to ``high`` (both ends included), each with every ``epochs`` choice,
    the same configs on every run whatever finishes first. Then ``seeds`` re-runs of the
    study's best config. Every run starts from the seed-phase checkpoint of the size whose
    pretraining eval loss is the median of its seeds (``start_from: median``; the lower middle
    for an even count) or from seed 1 (``start_from: seed1``).
    """

    tasks: list[TaskSpec] = Field(min_length=1)
    learning_rate: LearningRateRange = LearningRateRange(low=1e-4, high=3e-3)
    epochs: list[int] = Field([1, 2, 3], min_length=1)
    batch_size: int = Field(64, ge=1)
    trials_per_task: int = Field(6, ge=1, le=100_000)
    grid: bool = False  # the paper's grid over learning rate x epochs instead of the search's sampler
    seeds: int = Field(5, ge=0, le=1000)
    warmup_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    evals_per_epoch: int = Field(1, ge=1, le=1000)
    max_length: Optional[int] = Field(None, ge=4)  # tokens per example; default data.seq_len
    start_from: Literal["median", "seed1"] = "median"
    pruning: PruningSpec = PruningSpec(enabled=False)

    @model_validator(mode="after")
    def _distinct(self) -> "FinetuneSpec":
        names = [task.name for task in self.tasks]
        if len(set(names)) != len(names):
            raise ValueError("two tasks have the same name; give each task a distinct name")
        if any(e < 1 for e in self.epochs) or len(set(self.epochs)) != len(self.epochs):
            raise ValueError("epochs choices must be distinct and >= 1")
        if self.grid and self.trials_per_task % len(self.epochs):
            raise ValueError(f"with grid: true, trials_per_task ({self.trials_per_task}) is learning rates x epochs "
                             f"choices: make it a multiple of the {len(self.epochs)} epochs choices")
        return self

    def grid_rates(self) -> list[float]:
        """The grid's learning rates, ascending: ``trials_per_task / len(epochs)`` of them,
        evenly spaced in log over the box, both ends included (one: the box's geometric middle)."""
        count = self.trials_per_task // len(self.epochs)
        low, high = math.log(self.learning_rate.low), math.log(self.learning_rate.high)
        if count == 1:
            return [math.exp((low + high) / 2)]
        inner = [math.exp(low + (high - low) * i / (count - 1)) for i in range(1, count - 1)]
        return [self.learning_rate.low, *inner, self.learning_rate.high]  # the box's own ends, exactly

    def grid_point(self, number: int) -> tuple[float, int]:
        """``(learning rate, epochs)`` of grid trial ``number``: rates ascending, each with every
        epochs choice in the order given."""
        rates = self.grid_rates()
        number %= len(rates) * len(self.epochs)
        return rates[number // len(self.epochs)], self.epochs[number % len(self.epochs)]

    @property
    def budget_per_task(self) -> int:
        """Trials of each (size, task): search trials plus seed re-runs."""
        return self.trials_per_task + self.seeds


__all__ = ["BUILTIN_TASKS", "FinetuneSpec", "TaskSpec"]
