"""A tiny sweep with a finetuning phase, end to end on a real local Ray: records, phases, the
task column, kept models that load with ``from_pretrained``, and a resume that redoes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import raylaws
from raylaws.spec import spec_from_dict
from tests.conftest import tiny_spec_dict
from tests.finetune_tests.test_tasks import ROWS, write_rows


def finetune_spec_dict(task_file: Path, **overrides: Any) -> dict[str, Any]:
    return tiny_spec_dict(search={"trials_per_size": 2}, seeds=2, finetune={
        "tasks": [{"name": "stdlib-docstring"},
                  {"name": "pairs", "data": str(task_file), "text_field": "sentence1", "text_pair_field": "sentence2",
                   "metric": "f1"}],
        "trials_per_task": 2, "seeds": 1, "epochs": [1, 2], "batch_size": 64}, **overrides)


@pytest.mark.slow
def test_a_finetuning_sweep_records_every_task_trial_keeps_loadable_models_and_resumes_to_nothing(
        tmp_path: Path, ray_session: Any) -> None:
    import transformers

    spec = spec_from_dict(finetune_spec_dict(write_rows(tmp_path / "pairs.tsv", ROWS)))
    sweep = raylaws.run(spec, storage=tmp_path / "results")
    rows = sweep.trials().to_pylist()
    assert len(rows) == 2 * (4 + 2 * 3) and len({r["trial_id"] for r in rows}) == len(rows)
    for size in ("L1-H8", "L2-H16"):
        for task, metric in (("stdlib-docstring", "accuracy"), ("pairs", "f1")):
            mine = [r for r in rows if r["size"] == size and r["task"] == task]
            assert sorted(r["phase"] for r in mine) == ["finetune_search"] * 2 + ["finetune_seed"]
            for r in mine:
                assert r["task_metric"] == metric and r["batch_size"] == 64
                if r["status"] == "completed":
                    assert 0.0 <= r["task_score"] <= 1.0 and r["eval_loss"] == pytest.approx(1 - r["task_score"])
    counts = {(r["task"], r["task_train_examples"], r["task_eval_examples"]) for r in rows if r["task"] is not None}
    pairs = next(c for c in counts if c[0] == "pairs")
    assert counts == {("stdlib-docstring", 800, 200), pairs} and pairs[1] + pairs[2] == len(ROWS), \
        "every finetuning record carries its task's split sizes"
    seeds = [r for r in rows if r["phase"] == "seed"]
    assert all(r["task"] is None and r["model_path"] == f"models/{r['trial_id']}" for r in seeds)
    folder = sweep.model_path("L2-H16.seed1")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(folder))
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert type(model).__name__ == "GPT2LMHeadModel" and model.config.n_layer == 2
    assert tokenizer.decode(tokenizer("def f(x):")["input_ids"]) == "def f(x):"
    docstring = sweep.best_per_size("stdlib-docstring").to_pylist()
    assert [r["n_seeds"] for r in docstring] == [1, 1]
    assert all(r["n_seeds"] == 2 for r in sweep.best_per_size().to_pylist()), "pretraining rows only"
    assert [r["done"] for r in sweep.task_status().to_pylist()] == [3] * 4
    assert sweep.check() == []

    started: list[str] = []
    again = raylaws.resume(sweep.path, on_event=lambda e: started.append(e.trial_id) if e.kind == "started" else None)
    assert started == [], "a finished sweep trains nothing again"
    assert again.trials().to_pylist() == rows
