"""Finetuning tasks: labelled text -> token ids of the sweep's tokenizer, and their metrics.

A task (``finetune.tasks`` in the spec) is sequence classification of a text, or of a pair of
texts, read from local files (:mod:`raylaws.tasks._files`: GLUE-style ``.tsv``/``.csv``/
``.jsonl``, ``train``/``dev`` folders, ``datasets`` folders, ``hub:<name>``), split
deterministically and tokenized with the sweep's own tokenizer.

Four built-in tasks need no data at all; they are cut from this Python's standard-library
packages (folders), which the ``stdlib`` pretraining corpus (the top-level ``.py`` files)
does not contain:

* ``stdlib-family``: which of 8 packages (``asyncio``, ``email``, ``idlelib``, ``importlib``,
  ``multiprocessing``, ``tkinter``, ``unittest``, ``xml``; their test folders left out) a
  window of code (consecutive lines, about 120-240 characters, never naming its package)
  comes from. 700 training and 100 evaluation windows per package: 5,600 / 800, balanced,
  chance 12.5%.
* ``stdlib-docstring``: whether a line of those packages (indentation, ``#`` and quotes
  stripped, 24-100 characters) lies inside a docstring or comment (``docs``) or is code
  (``code``). 400 training and 100 evaluation lines per class: 800 / 200, balanced, chance 50%.
* ``stdlib-identifier``: which of the 64 most frequent identifiers of all the packages a
  ``?`` in a snippet of code (at most 64 characters: the line and up to 2 lines above it)
  stands for, the identifier appearing nowhere else in the snippet. 20,480 training
  examples (each identifier its windows or a common cap, whichever is fewer) and 40
  evaluation examples per identifier (2,560, balanced, chance 1/64); see
  :mod:`raylaws.tasks._identifiers`. Close to the pretraining objective, with enough examples
  for its error to track the model's quality.
* ``stdlib-next-identifier``: the same, asked the way a causal model reads: which of 64
  identifiers comes next, the snippet being the code up to it (the same rules, counts and
  splits; its own 64 identifiers).

All are deterministic: candidates are ordered by the SHA-256 of their text and taken in that
order, the first ones of each class held out for evaluation; the same Python gives the same
examples on every machine.
"""

from __future__ import annotations

from raylaws.tasks._builtin import builtin_counts, builtin_task
from raylaws.tasks._data import Example, TaskCounts, TaskData
from raylaws.tasks._files import check_tasks, prepare_tasks, read_task
from raylaws.tasks._metrics import score
from raylaws.tasks._stdlib import FAMILIES

__all__ = ["Example", "FAMILIES", "TaskCounts", "TaskData", "builtin_counts", "builtin_task", "check_tasks",
           "prepare_tasks", "read_task", "score"]
