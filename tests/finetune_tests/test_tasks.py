"""Finetuning tasks: the spec's finetune section, the built-in offline tasks, task files, metrics."""

from __future__ import annotations

import hashlib
import json
import keyword
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from raylaws.spec import BUILTIN_TASKS, SpecError, TaskSpec, spec_from_dict
from raylaws.tasks import TaskCounts, builtin_counts, builtin_task, check_tasks, read_task, score
from raylaws.tasks import _identifiers
from raylaws.tasks._data import digest
from tests.conftest import REPO, tiny_spec_dict


def test_the_builtin_tasks_are_deterministic_balanced_and_sized_as_documented() -> None:
    family_train, family_eval = builtin_task("stdlib-family")
    docs_train, docs_eval = builtin_task("stdlib-docstring")
    assert len(family_train) >= 5000 and len(family_eval) == 800
    assert len(docs_train) < 1000 and len(docs_eval) == 200
    assert builtin_counts("stdlib-family") == TaskCounts(len(family_train), len(family_eval)) == TaskCounts(5600, 800)
    assert builtin_counts("stdlib-docstring") == TaskCounts(len(docs_train), len(docs_eval)) == TaskCounts(800, 200)
    assert builtin_task("stdlib-family") == (family_train, family_eval), "the same examples every time"
    for train, held_out in ((family_train, family_eval), (docs_train, docs_eval)):
        assert not {t for t, _, _ in train} & {t for t, _, _ in held_out}, "no text in both splits"
        counts = {label: sum(e[2] == label for e in train) for _, _, label in train}
        assert len(set(counts.values())) == 1, "balanced classes"
    assert len({label for _, _, label in family_train}) == 8
    assert all(label not in text.lower() for text, _, label in family_train), "a window never names its package"


def test_the_identifier_task_has_its_documented_counts_and_a_balanced_evaluation_split() -> None:
    train, held_out = builtin_task("stdlib-identifier")
    assert builtin_counts("stdlib-identifier") == TaskCounts(len(train), len(held_out)) == TaskCounts(20_480, 2_560)
    assert builtin_counts("stdlib-identifier").train >= 20_000, "twice the paper's 10K line"
    assert set(Counter(label for _, _, label in held_out).values()) == {40}, "40 per identifier"
    per_class = Counter(label for _, _, label in train)
    assert set(per_class) == {label for _, _, label in held_out} and len(per_class) == 64
    assert max(per_class.values()) <= 0.025 * len(train), "no identifier dominates (self alone has thousands)"
    assert min(per_class.values()) >= 100, "every identifier has examples to learn from"
    capped = sorted(per_class.values())[-8:]
    assert capped[-1] - capped[0] <= 1, "the round-robin caps the largest classes at one common count"
    assert not {t for t, _, _ in train} & {t for t, _, _ in held_out}, "no text in both splits"
    assert [digest(e) for e in train] == sorted(digest(e) for e in train), "listed in SHA-256 order"


def test_every_identifier_example_hides_its_identifier_once_in_a_short_snippet() -> None:
    train, held_out = builtin_task("stdlib-identifier")
    for text, pair, label in train + held_out:
        assert pair is None and label.isidentifier() and not keyword.iskeyword(label)
        assert 16 <= len(text) <= 64 and text.count("?") == 1 and text.count("\n") <= 2
        assert label not in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text), "the identifier is nowhere else: no copying"
    assert {"test", "encodings", "pydoc_data"}.isdisjoint(_identifiers.packages())
    assert {"asyncio", "email", "json", "logging", "xml"} <= set(_identifiers.packages())


def test_an_identifier_window_masks_the_occurrence_under_up_to_two_lines_above_it() -> None:
    lines = ["x = 1", "", "def size(items):", "    if items:", "        return len(items)", "    s = '?'  # len"]
    assert _identifiers.window(lines, 5, 15, 18) == "def size(items):\n    if items:\n        return ?(items)"
    assert _identifiers.window(lines, 4, 7, 12) == "def size(items):\n    if ?:", "a blank line ends the context"
    assert _identifiers.window(lines, 6, 4, 5) is None, "a line that holds a ? already"
    assert _identifiers.window(["x = 1"], 1, 0, 1) is None, "under 16 characters"
    long = ["    # " + "a" * 60, "    value = compute(first, second)"]
    assert _identifiers.window(long, 2, 4, 9) == "? = compute(first, second)", "a line above that does not fit is left out"


@pytest.mark.parametrize("task", ["stdlib-identifier", "stdlib-next-identifier"])
def test_the_identifier_examples_do_not_depend_on_the_process(task: str) -> None:
    def fingerprint(examples: tuple[list, list]) -> str:
        return hashlib.sha256(json.dumps(examples).encode()).hexdigest()

    code = ("import hashlib, json; from raylaws.tasks import builtin_task; "
            f"print(hashlib.sha256(json.dumps(builtin_task({task!r})).encode()).hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO,
                           env={**os.environ, "PYTHONHASHSEED": "12345"})  # another order of every set
    assert other.stdout.strip() == fingerprint(builtin_task(task))


def test_the_next_identifier_task_has_its_documented_counts_and_a_balanced_evaluation_split() -> None:
    train, held_out = builtin_task("stdlib-next-identifier")
    counts = builtin_counts("stdlib-next-identifier")
    assert counts == TaskCounts(len(train), len(held_out)) == TaskCounts(20_480, 2_560)
    assert set(Counter(label for _, _, label in held_out).values()) == {40}, "40 per identifier"
    per_class = Counter(label for _, _, label in train)
    assert set(per_class) == {label for _, _, label in held_out} and len(per_class) == 64
    assert min(per_class.values()) >= 100 and max(per_class.values()) <= 0.04 * len(train), "no identifier dominates"
    assert not {t for t, _, _ in train} & {t for t, _, _ in held_out}, "no text in both splits"
    assert [digest(e) for e in train] == sorted(digest(e) for e in train), "listed in SHA-256 order"
    assert {label for _, _, label in held_out} != {label for _, _, label in builtin_task("stdlib-identifier")[1]}, \
        "its own 64 identifiers: those with the most windows that end where they begin"


def test_every_next_identifier_example_is_the_code_before_its_identifier_which_it_never_holds() -> None:
    train, held_out = builtin_task("stdlib-next-identifier")
    for text, pair, label in train + held_out:
        assert pair is None and label.isidentifier() and not keyword.iskeyword(label)
        assert 16 <= len(text) and len(text.rstrip(" ")) <= 64 and text.count("\n") <= 2 and text.strip()
        assert label not in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text), "the identifier is nowhere else: no copying"
        assert not re.search(r"[A-Za-z0-9_]\Z", text), "the text ends where an identifier begins, not inside a word"


def test_a_next_identifier_window_is_the_source_up_to_the_occurrence_under_up_to_two_lines_above_it() -> None:
    lines = ["x = 1", "", "def size(items):", "    if items:", "        return len(items)", "    s = '?'  # len"]
    assert _identifiers.window(lines, 5, 15, 18, cut=True) == "def size(items):\n    if items:\n        return "
    assert _identifiers.window(lines, 4, 7, 12, cut=True) == "def size(items):\n    if ", "a blank line ends it"
    assert _identifiers.window(lines, 6, 15, 18, cut=True) == "if items:\n    return len(items)\ns = '?'  # ", \
        "a ? is text like any other here; at most 2 lines above"
    assert _identifiers.window(["    foo(1)"], 1, 4, 7, cut=True) is None, "nothing before it: under 16 characters"
    assert _identifiers.window(["class Parser:", "    name"], 2, 4, 8, cut=True) == "class Parser:\n    ", \
        "an identifier that begins its line: the lines above and its indentation"


def test_the_spec_accepts_every_builtin_task_by_name_and_lists_them_for_an_unknown_one() -> None:
    from raylaws.tasks._builtin import _BUILTINS

    assert set(BUILTIN_TASKS) == set(_BUILTINS)
    spec = spec_from_dict(tiny_spec_dict(finetune={"tasks": [{"name": "stdlib-identifier"}]}))
    assert spec.finetune is not None and spec.finetune.tasks[0].data is None and check_tasks(spec) == {}
    with pytest.raises(SpecError, match="stdlib-identifier"):
        spec_from_dict(tiny_spec_dict(finetune={"tasks": [{"name": "stdlib-identifiers"}]}))
    with pytest.raises(ValueError, match="stdlib-family, stdlib-docstring, stdlib-identifier"):
        builtin_counts("stdlib-identifiers")


def test_metrics_match_hand_computed_values() -> None:
    labels, predictions = np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 1, 1])
    assert score("accuracy", labels, predictions, 2) == pytest.approx(0.6)
    assert score("f1", labels, predictions, 2) == pytest.approx(2 * 2 / (3 + 3))  # tp 2, predicted 3, actual 3
    assert score("mcc", labels, predictions, 2) == pytest.approx((2 * 1 - 1 * 1) / np.sqrt(3 * 3 * 2 * 2))
    assert score("mcc", labels, labels, 2) == pytest.approx(1.0)
    assert score("mcc", labels, np.ones(5, dtype=int), 2) == 0.0, "a constant prediction scores 0, not NaN"


def write_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        sep = "\t" if path.suffix == ".tsv" else ","
        path.write_text(sep.join(rows[0]) + "\n" + "".join(sep.join(r.values()) + "\n" for r in rows))
    return path


ROWS = [{"sentence1": f"text number {i}", "sentence2": f"other {i % 7}", "label": str(i % 2)} for i in range(200)]


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl"])
def test_a_glue_style_file_is_split_by_hash_into_train_and_eval(tmp_path: Path, suffix: str) -> None:
    path = write_rows(tmp_path / f"task{suffix}", ROWS)
    task = TaskSpec(name="t", data=str(path), text_field="sentence1", text_pair_field="sentence2")
    train, held_out = read_task(task)
    assert len(train) + len(held_out) == 200 and 5 <= len(held_out) <= 40
    assert train[0][1] is not None and {e[2] for e in train} == {"0", "1"}
    hub = TaskSpec(name="t", data=f"hub:{path}", text_field="sentence1", text_pair_field="sentence2")
    assert read_task(hub) == (train, held_out), "hub: of a local path reads the local file"


def test_a_folder_with_train_and_dev_files_and_a_saved_dataset_are_read(tmp_path: Path) -> None:
    import datasets

    folder = tmp_path / "glue"
    folder.mkdir()
    write_rows(folder / "train.tsv", ROWS[:150])
    write_rows(folder / "dev.tsv", ROWS[150:])
    train, held_out = read_task(TaskSpec(name="t", data=str(folder), text_field="sentence1"))
    assert (len(train), len(held_out)) == (150, 50)
    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:150]),
                          "validation": datasets.Dataset.from_list(ROWS[150:])}).save_to_disk(str(saved))
    assert read_task(TaskSpec(name="t", data=str(saved), text_field="sentence1")) == (train, held_out)


def test_bad_finetune_specs_are_refused_naming_the_field(tmp_path: Path) -> None:
    def refused(**finetune: object) -> str:
        with pytest.raises(SpecError) as error:
            spec = spec_from_dict(tiny_spec_dict(finetune=finetune))
            check_tasks(spec)
        return str(error.value)

    assert "finetune.tasks[0]" in refused(tasks=[{"name": "mine"}]) and "built-in" in refused(tasks=[{"name": "mine"}])
    assert "finetune.tasks[0].data" in refused(tasks=[{"name": "mine", "data": str(tmp_path / "missing.tsv")}])
    assert "finetune.tasks[0].metric" in refused(tasks=[{"name": "stdlib-family", "metric": "auc"}])
    assert "same name" in refused(tasks=[{"name": "stdlib-family"}, {"name": "stdlib-family"}])
    assert "max_length" in refused(tasks=[{"name": "stdlib-family"}], max_length=512)
    with pytest.raises(SpecError, match="seeds"):
        spec_from_dict(tiny_spec_dict(seeds=0, finetune={"tasks": [{"name": "stdlib-family"}]}))
    path = write_rows(tmp_path / "t.tsv", ROWS)
    assert "finetune.tasks[0].text_field" in refused(tasks=[{"name": "t", "data": str(path), "text_field": "nope"}])
    assert "finetune.tasks[0].label_field" in refused(tasks=[{"name": "t", "data": str(path), "text_field": "sentence1",
                                                             "label_field": "gold"}])


def test_a_spec_without_finetune_keeps_its_hash() -> None:
    from raylaws.spec import spec_hash

    plain = spec_from_dict(tiny_spec_dict())
    assert "finetune" not in json.dumps(plain.model_dump(mode="json")) or plain.finetune is None
    assert spec_hash(plain) == spec_hash(spec_from_dict({**tiny_spec_dict(), "finetune": None}))
