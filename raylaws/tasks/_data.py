"""A task's examples and their tokenized form: the types the rest of raylaws sees."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Optional

import numpy as np

Example = tuple[str, Optional[str], str]  # (text, text pair or None, label)


@dataclass(frozen=True)
class TaskCounts:
    """How many labelled examples a task has: ``train`` in its training split, ``eval`` in its
    evaluation split (recorded with every finetuning trial; the paper's 10K line is on ``train``)."""

    train: int
    eval: int


@dataclass(frozen=True)
class TaskData:
    """One task, tokenized. ``*_inputs`` are (examples, max_length) token ids right-padded
    with ``pad_id``; ``*_labels`` class indices into ``labels``."""

    name: str
    metric: str
    labels: tuple[str, ...]
    train_inputs: np.ndarray
    train_labels: np.ndarray
    eval_inputs: np.ndarray
    eval_labels: np.ndarray
    pad_id: int

    @property
    def n_train(self) -> int:
        return len(self.train_labels)

    @property
    def counts(self) -> TaskCounts:
        return TaskCounts(len(self.train_labels), len(self.eval_labels))


def digest(example: Example) -> str:
    """The SHA-256 of an example (hex): the order in which splits are cut and listed."""
    return hashlib.sha256(json.dumps(example).encode("utf-8", "replace")).hexdigest()


__all__ = ["Example", "TaskCounts", "TaskData", "digest"]
