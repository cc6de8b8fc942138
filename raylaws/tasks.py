"""Finetuning tasks: labelled text -> token ids of the sweep's tokenizer, and their metrics.

A task (``finetune.tasks`` in the spec) is sequence classification of a text, or of a pair of
texts. Its data is read from local files only (no download, except ``hub:<name>`` of a
name that is not a local path), split deterministically, and tokenized with the sweep's own
tokenizer (:func:`raylaws.data.prepare`).

Two built-in tasks need no data at all; they are cut from this Python's standard library
packages (``asyncio``, ``email``, ``idlelib``, ``importlib``, ``multiprocessing``, ``tkinter``,
``unittest``, ``xml``; their test folders left out), which the ``stdlib`` pretraining corpus
(the top-level ``.py`` files) does not contain:

* ``stdlib-family``: which of those 8 packages a window of code (consecutive lines, about
  120-240 characters, never naming its package) comes from. 700 training and 100 evaluation
  windows per package: 5,600 / 800, balanced, chance 12.5%.
* ``stdlib-docstring``: whether a line (indentation, ``#`` and quotes stripped, 24-100
  characters) lies inside a docstring or comment (``docs``) or is code (``code``). 400
  training and 100 evaluation lines per class: 800 / 200, balanced, chance 50%.

Both are deterministic: candidates are ordered by the SHA-256 of their text and taken in that
order, the first ones of each class held out for evaluation; the same Python gives the same
examples on every machine.

Inputs are framed so that the model's pooled token sees the whole text: ``clm`` inputs end
with the end-of-text token (GPT-2 pools the last token that is not padding), ``mlm`` inputs
start with it (BERT pools the first token, the CLS role). A pair is joined by end-of-text.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sysconfig
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from raylaws.spec import BUILTIN_TASKS, ExperimentSpec, SpecError, SpecProblem, TaskSpec

FAMILIES = ("asyncio", "email", "idlelib", "importlib", "multiprocessing", "tkinter", "unittest", "xml")
_SUFFIXES = (".tsv", ".csv", ".jsonl")
_EVAL_SPLITS = ("dev", "validation", "eval", "test")

Example = tuple[str, Optional[str], str]  # (text, text pair or None, label)
# Per built-in task: (training, evaluation) examples per class, and the number of classes.
_BUILTIN_SPLITS = {"stdlib-family": ((700, 100), len(FAMILIES)), "stdlib-docstring": ((400, 100), 2)}


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


def check_tasks(spec: ExperimentSpec) -> dict[str, tuple[list[Example], list[Example]]]:
    """Refuse a task whose data cannot be read (a missing path, a wrong kind of file, a column
    that is not there), naming its field; reads local task files, trains nothing.

    Returns the ``(train, eval)`` examples read, by task name (the tasks with local data), for
    :func:`prepare_tasks` to tokenize without reading them again."""
    examples: dict[str, tuple[list[Example], list[Example]]] = {}
    if spec.finetune is None:
        return examples
    for index, task in enumerate(spec.finetune.tasks):
        if task.data is None or (task.data.startswith("hub:") and not _local_hub(task.data)):
            continue
        path = Path(task.data[len("hub:"):] if task.data.startswith("hub:") else task.data).expanduser()
        field = f"finetune.tasks[{index}].data"
        if not path.exists():
            raise SpecError([SpecProblem(field, f"no such file or directory {task.data!r}; give a .tsv/.csv/.jsonl "
                                                "file, a directory with train.* and dev.* files, a "
                                                "datasets.save_to_disk directory or hub:<name>")])
        if path.is_file() and path.suffix not in _SUFFIXES:
            raise SpecError([SpecProblem(field, f"{task.data!r} is not a .tsv, .csv or .jsonl file")])
        if path.is_dir() and not _is_saved_dataset(path) and _split_files(path)[0] is None:
            raise SpecError([SpecProblem(field, f"{task.data!r} holds no train.tsv/.csv/.jsonl and is not a "
                                                "datasets.save_to_disk directory")])
        # the columns named exist, the split is possible
        examples[task.name] = read_task(task, f"finetune.tasks[{index}]")
    return examples


def prepare_tasks(spec: ExperimentSpec, tokenizer_path: str, *, eos_id: int, pad_id: int,
                  examples: Optional[Mapping[str, tuple[list[Example], list[Example]]]] = None) -> dict[str, TaskData]:
    """Every task of ``spec.finetune``, read, split and tokenized with the sweep's tokenizer;
    ``examples``: those already read (by :func:`check_tasks`), by task name."""
    if spec.finetune is None:
        return {}
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    max_length = spec.finetune.max_length or spec.data.seq_len
    out = {}
    for index, task in enumerate(spec.finetune.tasks):
        given = (examples or {}).get(task.name)
        train, held_out = given if given is not None else read_task(task, f"finetune.tasks[{index}]")
        labels = _label_names(train)
        unknown = sorted({label for _, _, label in held_out} - set(labels))
        if unknown:
            raise SpecError([SpecProblem(f"finetune.tasks[{index}].data", f"evaluation labels {unknown[:3]} never "
                                                                          "occur in the training split")])
        index_of = {label: i for i, label in enumerate(labels)}
        train_inputs = _encode(tokenizer, train, spec.objective, max_length, eos_id, pad_id)
        eval_inputs = _encode(tokenizer, held_out, spec.objective, max_length, eos_id, pad_id)
        out[task.name] = TaskData(task.name, task.metric, labels, train_inputs,
                                  np.array([index_of[e[2]] for e in train], dtype=np.int64), eval_inputs,
                                  np.array([index_of[e[2]] for e in held_out], dtype=np.int64), pad_id)
    return out


def read_task(task: TaskSpec, field: str = "task") -> tuple[list[Example], list[Example]]:
    """The ``(train, eval)`` examples of ``task``, in a deterministic order."""
    if task.data is None:
        return builtin_task(task.name)
    source = task.data
    if source.startswith("hub:") and not _local_hub(source):  # pragma: no cover - needs the network
        import datasets

        loaded = datasets.load_dataset(source[len("hub:"):])
        return _from_datasets(loaded, task, field)
    path = Path(source[len("hub:"):] if source.startswith("hub:") else source).expanduser()
    if path.is_dir() and _is_saved_dataset(path):
        import datasets

        return _from_datasets(datasets.load_from_disk(str(path)), task, field)
    if path.is_dir():
        train_file, eval_file = _split_files(path)
        assert train_file is not None
        train = _read_rows(train_file, task, field)
        if eval_file is not None:
            return train, _read_rows(eval_file, task, field)
        return _hash_split(train, task.eval_fraction)
    return _hash_split(_read_rows(path, task, field), task.eval_fraction)


def builtin_task(name: str) -> tuple[list[Example], list[Example]]:
    """The ``(train, eval)`` examples of a built-in task (see the module docstring)."""
    builtin_counts(name)  # a name that is not built in: one line naming those that are
    (train, held_out), _ = _BUILTIN_SPLITS[name]
    by_class = _family_windows() if name == "stdlib-family" else _docstring_lines()
    return _balanced(by_class, per_class_train=train, per_class_eval=held_out)


def builtin_counts(name: str) -> TaskCounts:
    """The examples of a built-in task, known without building it (5,600 / 800 and 800 / 200)."""
    if name not in _BUILTIN_SPLITS:
        raise ValueError(f"no built-in task {name!r}; the built-in tasks are {', '.join(BUILTIN_TASKS)}")
    (train, held_out), classes = _BUILTIN_SPLITS[name]
    return TaskCounts(train * classes, held_out * classes)


# ---- metrics ------------------------------------------------------------------------------


def score(metric: str, labels: np.ndarray, predictions: np.ndarray, n_classes: int) -> float:
    """``accuracy``; ``f1`` (binary: of class 1; more classes: macro average); ``mcc``
    (Matthews correlation; more classes: Gorodkin's R_K). Higher is better; 1 is perfect."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if len(labels) == 0:
        return 0.0
    if metric == "accuracy":
        return float(np.mean(labels == predictions))
    confusion = np.zeros((n_classes, n_classes), dtype=np.float64)  # [true, predicted]
    np.add.at(confusion, (labels, predictions), 1.0)
    if metric == "f1":
        classes = [1] if n_classes == 2 else range(n_classes)
        f1s = []
        for k in classes:
            tp, predicted, actual = confusion[k, k], confusion[:, k].sum(), confusion[k, :].sum()
            f1s.append(0.0 if predicted + actual == 0 else 2 * tp / (predicted + actual))
        return float(np.mean(f1s))
    if metric == "mcc":
        total, correct = confusion.sum(), np.trace(confusion)
        predicted, actual = confusion.sum(axis=0), confusion.sum(axis=1)
        numerator = correct * total - predicted @ actual
        denominator = np.sqrt(total**2 - predicted @ predicted) * np.sqrt(total**2 - actual @ actual)
        return float(numerator / denominator) if denominator > 0 else 0.0
    raise ValueError(f"unknown metric {metric!r}; use accuracy, f1 or mcc")


# ---- reading ------------------------------------------------------------------------------


def _local_hub(source: str) -> bool:
    return Path(source[len("hub:"):]).expanduser().exists()


def _is_saved_dataset(path: Path) -> bool:
    return any((path / name).exists() for name in ("dataset_info.json", "dataset_dict.json", "state.json"))


def _split_files(folder: Path) -> tuple[Optional[Path], Optional[Path]]:
    """``train.*`` and the first of ``dev.*``/``validation.*``/``eval.*``/``test.*`` in ``folder``."""
    def find(stem: str) -> Optional[Path]:
        return next((folder / f"{stem}{suffix}" for suffix in _SUFFIXES if (folder / f"{stem}{suffix}").is_file()), None)

    return find("train"), next((f for f in map(find, _EVAL_SPLITS) if f is not None), None)


def _read_rows(path: Path, task: TaskSpec, field: str) -> list[Example]:
    """The examples of one GLUE-style file: ``.tsv``/``.csv`` with a header row, or ``.jsonl``."""
    if path.suffix == ".jsonl":
        rows: list[dict[str, Any]] = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as error:
                    raise SpecError([SpecProblem(f"{field}.data", f"{path}:{number} is not JSON ({error.msg})")]) from None
    else:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".tsv":  # GLUE's .tsv files are unquoted
            reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
        else:
            reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
    return _examples(rows, task, field, str(path))


def _examples(rows: Iterable[dict[str, Any]], task: TaskSpec, field: str, where: str) -> list[Example]:
    out = []
    for number, row in enumerate(rows, start=1):
        for key, name in ((task.text_field, "text_field"), (task.label_field, "label_field"),
                          (task.text_pair_field, "text_pair_field")):
            if key is not None and key not in row:
                raise SpecError([SpecProblem(f"{field}.{name}", f"{where} row {number} has no column {key!r}; "
                                                                f"its columns: {', '.join(map(str, row))}")])
        pair = None if task.text_pair_field is None else str(row[task.text_pair_field])
        out.append((str(row[task.text_field]), pair, str(row[task.label_field])))
    if not out:
        raise SpecError([SpecProblem(f"{field}.data", f"{where} holds no examples")])
    return out


def _from_datasets(loaded: Any, task: TaskSpec, field: str) -> tuple[list[Example], list[Example]]:
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        held_out = next((loaded[name] for name in ("validation", "dev", "eval", "test") if name in loaded), None)
        if "train" in loaded and held_out is not None:
            return (_examples(loaded["train"], task, field, "the train split"),
                    _examples(held_out, task, field, "the evaluation split"))
        loaded = loaded["train"] if "train" in loaded else next(iter(loaded.values()))
    return _hash_split(_examples(loaded, task, field, "the dataset"), task.eval_fraction)


def _digest(example: Example) -> str:
    return hashlib.sha256(json.dumps(example).encode("utf-8", "replace")).hexdigest()


def _hash_split(examples: list[Example], eval_fraction: float) -> tuple[list[Example], list[Example]]:
    """Hold out the examples whose hash falls in the first ``eval_fraction`` of the range."""
    train, held_out = [], []
    for example in examples:
        (held_out if int(_digest(example)[:8], 16) < eval_fraction * 16**8 else train).append(example)
    if not train or not held_out:
        raise SpecError([SpecProblem("finetune.tasks", f"{len(examples)} examples are too few to split into "
                                                       "train and eval; give more, or train and dev files")])
    return train, held_out


def _label_names(examples: Sequence[Example]) -> tuple[str, ...]:
    """The classes, in a fixed order: numerically if every label is an integer, else by name."""
    names = {label for _, _, label in examples}
    if all(name.lstrip("-").isdigit() for name in names):
        return tuple(sorted(names, key=int))
    return tuple(sorted(names))


def _encode(tokenizer: Any, examples: Sequence[Example], objective: str, max_length: int, eos_id: int,
            pad_id: int) -> np.ndarray:
    """(examples, max_length) token ids: text [eos pair], truncated, framed by eos (see module)."""
    out = np.full((len(examples), max_length), pad_id, dtype=np.int64)
    texts = tokenizer.encode_batch([text for text, _, _ in examples])
    pairs = tokenizer.encode_batch([pair or "" for _, pair, _ in examples])
    for row, ((_, pair, _), text, second) in enumerate(zip(examples, texts, pairs)):
        ids = text.ids + ([eos_id] + second.ids if pair is not None else [])
        ids = ids[:max_length - 1]
        ids = [eos_id] + ids if objective == "mlm" else ids + [eos_id]
        out[row, :len(ids)] = ids
    return out


# ---- the built-in tasks -------------------------------------------------------------------


def _family_files(family: str) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"]) / family
    return sorted(p for p in root.rglob("*.py") if not any("test" in part for part in p.relative_to(root).parts))


def _family_windows() -> dict[str, list[str]]:
    """Per package, windows of consecutive non-blank lines (120-240 characters) that do not
    name the package."""
    windows: dict[str, list[str]] = {}
    for family in FAMILIES:
        found = windows.setdefault(family, [])
        for path in _family_files(family):
            lines = [line.rstrip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
            current: list[str] = []
            for line in lines + [""]:
                if line.strip():
                    current.append(line)
                if sum(len(l) + 1 for l in current) >= 120 or (not line.strip() and current):
                    text = "\n".join(current)
                    if 120 <= len(text) <= 240 and family not in text.lower():
                        found.append(text)
                    current = []
    return windows


def _docstring_lines() -> dict[str, list[str]]:
    """Lines inside docstrings or comments (``docs``) and lines of code (``code``), stripped of
    indentation, ``#`` and quotes, 24-100 characters."""
    classes: dict[str, list[str]] = {"docs": [], "code": []}
    for family in FAMILIES:
        for path in _family_files(family):
            source = path.read_text(encoding="utf-8", errors="replace")
            lines = source.splitlines()
            docs, touched = set(), set()
            try:
                for token in tokenize.generate_tokens(io.StringIO(source).readline):
                    first, last = token.start[0], token.end[0]
                    if token.type == tokenize.COMMENT and not lines[first - 1].strip().startswith("#"):
                        touched.add(first)  # code with a trailing comment: neither class
                    elif token.type == tokenize.COMMENT:
                        docs.add(first)
                    elif token.type == tokenize.STRING and last > first:  # a multi-line (doc)string
                        docs.update(range(first + 1, last))
                        touched.update((first, last))
            except (tokenize.TokenError, SyntaxError, IndentationError):
                continue
            for number, line in enumerate(lines, start=1):
                text = line.strip().lstrip("#").strip().strip('"\'').strip()
                if not 24 <= len(text) <= 100 or number in touched:
                    continue
                classes["docs" if number in docs else "code"].append(text)
    return classes


def _balanced(by_class: dict[str, list[str]], *, per_class_train: int,
              per_class_eval: int) -> tuple[list[Example], list[Example]]:
    """Per class, distinct texts in hash order: the first ``per_class_eval`` held out, the next
    ``per_class_train`` for training; then both splits interleaved in hash order."""
    train: list[Example] = []
    held_out: list[Example] = []
    for label, texts in sorted(by_class.items()):
        ordered = sorted(set(texts), key=lambda t: hashlib.sha256(t.encode("utf-8", "replace")).hexdigest())
        if len(ordered) < per_class_train + per_class_eval:
            raise RuntimeError(f"this Python's standard library gives only {len(ordered)} examples of {label!r}, "
                               f"fewer than {per_class_train + per_class_eval}")
        held_out += [(text, None, label) for text in ordered[:per_class_eval]]
        train += [(text, None, label) for text in ordered[per_class_eval:per_class_eval + per_class_train]]
    return sorted(train, key=_digest), sorted(held_out, key=_digest)


__all__ = ["FAMILIES", "TaskCounts", "TaskData", "builtin_counts", "builtin_task", "check_tasks", "prepare_tasks", "read_task", "score"]
