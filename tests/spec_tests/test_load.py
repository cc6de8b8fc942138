"""Spec loading: every error path names the field and what would be valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import raylaws
from raylaws.spec import ExperimentSpec, SpecError, load_spec, spec_from_dict, spec_from_text
from tests.conftest import REPO, tiny_spec_dict


def problems(raw: object) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        spec_from_dict(raw)
    return {p.field: p.message for p in caught.value.problems}


@pytest.mark.parametrize("path", sorted((REPO / "search_spaces").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_spec_is_valid(path: Path) -> None:
    assert isinstance(load_spec(path), ExperimentSpec)


def test_spec_is_frozen() -> None:
    spec = spec_from_dict(tiny_spec_dict())
    with pytest.raises(Exception):
        spec.seeds = 5  # type: ignore[misc]


def test_load_spec_is_public_and_returns_typed_config() -> None:
    spec = raylaws.load_spec(REPO / "search_spaces" / "demo.yaml")
    assert spec.objective == "clm" and spec.search.trials_per_size >= 8 and spec.min_seeds >= 2


def test_unknown_key_gets_did_you_mean_and_valid_keys() -> None:
    found = problems(tiny_spec_dict(training={"max_steps": 10, "schedul": "cosine"}))
    assert "did you mean 'schedule'" in found["training.schedul"]
    assert "eval_interval" in found["training.schedul"]


def test_unknown_top_level_key() -> None:
    raw = tiny_spec_dict()
    raw["seed"] = 3
    assert "did you mean 'seeds'" in problems(raw)["seed"]


def test_unknown_key_without_close_match_lists_valid_keys() -> None:
    raw = tiny_spec_dict()
    raw["search"]["zzz"] = 1
    message = problems(raw)["search.zzz"]
    assert "unknown key" in message and "did you mean" not in message and "trials_per_size" in message


def test_missing_required_field() -> None:
    raw = tiny_spec_dict()
    del raw["search"]["learning_rate"]
    assert problems(raw)["search.learning_rate"] == "required but missing"


def test_missing_name() -> None:
    raw = tiny_spec_dict()
    del raw["name"]
    assert "missing" in problems(raw)["name"]


def test_wrong_type_names_field_and_value() -> None:
    message = problems(tiny_spec_dict(seeds="three"))["seeds"]
    assert "integer" in message and "'three'" in message


def test_out_of_range_value() -> None:
    message = problems(tiny_spec_dict(training={"max_steps": 0}))["training.max_steps"]
    assert "greater than or equal to 1" in message


def test_bad_choice_lists_valid_choices() -> None:
    message = problems(tiny_spec_dict(objective="seq2seq"))["objective"]
    assert "'mlm'" in message and "'clm'" in message


def test_learning_rate_range_must_be_ordered() -> None:
    raw = tiny_spec_dict()
    raw["search"]["learning_rate"] = {"low": 0.1, "high": 0.01}
    assert "must be below" in problems(raw)["search.learning_rate"]


def test_exactly_one_training_budget() -> None:
    both = problems(tiny_spec_dict(training={"max_steps": 10, "max_tokens": 1000}))
    assert "exactly one budget" in both["training"]
    raw = tiny_spec_dict()
    raw["training"] = {"warmup_steps": 1}
    assert "exactly one budget" in problems(raw)["training"]


def test_batch_size_choices_checked() -> None:
    raw = tiny_spec_dict()
    raw["search"]["batch_size"] = [8, 8]
    assert "repeat" in problems(raw)["search"]
    raw["search"]["batch_size"] = []
    assert "search.batch_size" in problems(raw)


def test_ladder_forms_are_exclusive_and_checked() -> None:
    raw = tiny_spec_dict()
    raw["ladder"]["rungs"] = [{"n_layers": 1, "d_model": 16}]
    assert "not both" in problems(raw)["ladder"]
    raw = tiny_spec_dict()
    raw["ladder"]["layers"] = [1, 0]
    assert ">= 1" in problems(raw)["ladder"]


def test_rung_width_must_divide_by_heads() -> None:
    raw = tiny_spec_dict()
    raw["ladder"] = {"rungs": [{"n_layers": 1, "d_model": 10, "n_heads": 4}]}
    assert "not divisible" in problems(raw)["ladder.rungs[0]"]


def test_tokenizer_file_needs_path() -> None:
    raw = tiny_spec_dict()
    raw["data"]["tokenizer"] = {"kind": "file"}
    assert "needs 'path'" in problems(raw)["data.tokenizer"]


def test_bad_sweep_name() -> None:
    assert "name" in problems(tiny_spec_dict(name="has space/slash"))


def test_every_problem_is_reported_at_once() -> None:
    raw = tiny_spec_dict(seeds=-1, objective="x")
    raw["training"]["eval_interval"] = 0
    assert {"seeds", "objective", "training.eval_interval"} <= set(problems(raw))


def test_spec_must_be_a_mapping() -> None:
    assert "mapping" in problems([1, 2])["<root>"]
    assert "empty" in problems(None)["<root>"]


def test_malformed_yaml_names_line() -> None:
    with pytest.raises(SpecError) as caught:
        spec_from_text("name: x\ntraining: {max_steps: 10\n")
    assert caught.value.problems[0].field == "<yaml>" and "line" in caught.value.problems[0].message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "nope.yaml")
    assert "no such file" in str(caught.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="directory"):
        load_spec(tmp_path)


def test_yaml_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_spec_dict()))
    assert load_spec(path) == spec_from_dict(tiny_spec_dict())


def test_spec_error_is_a_value_error_with_source(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\n")
    with pytest.raises(ValueError) as caught:
        load_spec(path)
    assert str(path) in str(caught.value)


def test_master_weights_without_bf16_names_the_fix() -> None:
    found = problems(tiny_spec_dict(training={"max_steps": 10, "precision": "fp16", "master_weights": True}))
    assert found == {"training": "master_weights goes with precision bf16 (got fp16): set precision: bf16, or drop "
                                 "master_weights"}
    assert spec_from_dict(tiny_spec_dict(training={"max_steps": 10, "precision": "bf16", "master_weights": True}))
