"""Finetuning tasks: the spec's finetune section, the built-in offline tasks, task files, metrics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from raylaws.spec import SpecError, TaskSpec, spec_from_dict
from raylaws.tasks import TaskCounts, builtin_counts, builtin_task, check_tasks, read_task, score
from tests.conftest import tiny_spec_dict


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
