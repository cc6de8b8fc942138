"""Task files: labelled text read, split deterministically and tokenized with the sweep's tokenizer.

A task (``finetune.tasks`` in the spec) is sequence classification of a text, or of a pair of
texts. Its data is read from local files only (no download, except ``hub:<name>`` of a
name that is not a local path), split deterministically, and tokenized with the sweep's own
tokenizer (:func:`raylaws.data.prepare`). A task without ``data`` is one of the built-in
offline tasks (:mod:`raylaws.tasks._stdlib`).

Inputs are framed so that the model's pooled token sees the whole text: ``clm`` inputs end
with the end-of-text token (GPT-2 pools the last token that is not padding), ``mlm`` inputs
start with it (BERT pools the first token, the CLS role). A pair is joined by end-of-text.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from raylaws.spec import ExperimentSpec, SpecError, SpecProblem, TaskSpec
from raylaws.tasks._data import Example, TaskData, digest
from raylaws.tasks._builtin import builtin_task

_SUFFIXES = (".tsv", ".csv", ".jsonl")
_EVAL_SPLITS = ("dev", "validation", "eval", "test")


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


def _hash_split(examples: list[Example], eval_fraction: float) -> tuple[list[Example], list[Example]]:
    """Hold out the examples whose hash falls in the first ``eval_fraction`` of the range."""
    train, held_out = [], []
    for example in examples:
        (held_out if int(digest(example)[:8], 16) < eval_fraction * 16**8 else train).append(example)
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


__all__ = ["check_tasks", "prepare_tasks", "read_task"]
