"""The built-in offline tasks, by name: how to build each one and how many examples it has.

``spec.BUILTIN_TASKS`` names them for the spec's validation (a task without ``data``);
``tests/finetune_tests/test_tasks.py`` checks that the two lists agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from raylaws.spec import BUILTIN_TASKS
from raylaws.tasks import _identifiers, _stdlib
from raylaws.tasks._data import Example, TaskCounts

Splits = tuple[list[Example], list[Example]]  # (train, eval)


@dataclass(frozen=True)
class _Builtin:
    counts: TaskCounts  # known without building the task (records older than schema 5 fall back to it)
    build: Callable[[], Splits]


def _family() -> Splits:
    return _stdlib.balanced(_stdlib.family_windows(), per_class_train=700, per_class_eval=100)


def _docstring() -> Splits:
    return _stdlib.balanced(_stdlib.docstring_lines(), per_class_train=400, per_class_eval=100)


_BUILTINS = {
    "stdlib-family": _Builtin(TaskCounts(700 * len(_stdlib.FAMILIES), 100 * len(_stdlib.FAMILIES)), _family),
    "stdlib-docstring": _Builtin(TaskCounts(400 * 2, 100 * 2), _docstring),
    "stdlib-identifier": _Builtin(_identifiers.COUNTS, _identifiers.identifier_task),
    "stdlib-next-identifier": _Builtin(_identifiers.COUNTS, lambda: _identifiers.identifier_task(cut=True)),
}


def builtin_task(name: str) -> Splits:
    """The ``(train, eval)`` examples of a built-in task (:mod:`raylaws.tasks`), each split in
    SHA-256 order; the same Python gives the same examples."""
    return _builtin(name).build()


def builtin_counts(name: str) -> TaskCounts:
    """The examples of a built-in task, known without building it: ``stdlib-family`` 5,600 /
    800, ``stdlib-docstring`` 800 / 200, ``stdlib-identifier`` and ``stdlib-next-identifier``
    20,480 / 2,560."""
    return _builtin(name).counts


def _builtin(name: str) -> _Builtin:
    if name not in _BUILTINS:
        raise ValueError(f"no built-in task {name!r}; the built-in tasks are {', '.join(BUILTIN_TASKS)}")
    return _BUILTINS[name]


__all__ = ["builtin_counts", "builtin_task"]
