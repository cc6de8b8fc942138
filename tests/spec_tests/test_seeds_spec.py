"""``seeds:`` is a count, as it always was, or a rule that adds seeds where the noise is."""

from __future__ import annotations

from typing import Any

import pytest

from raylaws.spec import SeedsSpec, SpecError, spec_from_dict, spec_from_text, spec_hash
from tests.conftest import tiny_spec_dict
from tests.spec_tests.test_spec_hash import OLD_HASH, OLD_SPEC

RULE = {"min": 2, "max": 4, "until_se_below": 0.25}


def problems(seeds: Any, **overrides: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        spec_from_dict(tiny_spec_dict(seeds=seeds, **overrides))
    return {p.field: p.message for p in caught.value.problems}


def test_a_count_is_min_and_max_and_keeps_the_hash_it_had() -> None:
    spec = spec_from_dict({**OLD_SPEC, "seeds": 3})
    assert (spec.min_seeds, spec.max_seeds, spec.seed_rule) == (3, 3, None)
    assert spec_hash(spec) == OLD_HASH  # 3 is the default: the spec is the one that hash was taken of
    assert spec.model_dump(mode="json")["seeds"] == 3


def test_a_rule_reads_min_max_and_fraction_and_is_another_sweep() -> None:
    spec = spec_from_dict({**OLD_SPEC, "seeds": RULE})
    assert spec.seed_rule == SeedsSpec(min=2, max=4, until_se_below=0.25)
    assert (spec.min_seeds, spec.max_seeds, spec.budget_per_size) == (2, 4, 2 + 2)
    assert spec_hash(spec) != OLD_HASH
    assert spec_from_dict(spec.model_dump(mode="json")) == spec  # a stored spec.yaml reads back the same
    assert spec_from_dict({**OLD_SPEC, "seeds": {"max": 4, "until_se_below": 0.25}}) == spec  # min defaults to 2


def test_a_rule_reads_from_yaml_text() -> None:
    text = ("name: t\ntraining: {max_steps: 10}\nsearch: {learning_rate: {low: 1.0e-3, high: 1.0e-2}, batch_size: [4]}\n"
            "seeds: {min: 2, max: 6, until_se_below: 0.25}\n")
    assert spec_from_text(text).max_seeds == 6


@pytest.mark.parametrize(("seeds", "field", "words"), [
    (True, "seeds", ["integer number of seed re-runs", "until_se_below"]),
    ("three", "seeds", ["integer", "'three'"]),
    (2.5, "seeds", ["integer", "2.5"]),
    ({"min": 3, "max": 2, "until_se_below": 0.2}, "seeds", ["max (2) is below min (3)", "raise seeds.max to 3"]),
    ({"max": 4}, "seeds.until_se_below", ["required"]),
    ({"min": 1, "max": 4, "until_se_below": 0.2}, "seeds.min", ["needs 2 seeds", "set seeds.min to 2",
                                                                 "seeds as a count"]),
    ({"max": 4, "until_se_below": 0}, "seeds.until_se_below", ["above 0 and at most 1", "0.25"]),
    ({"max": 4, "until_se_below": 1.5}, "seeds.until_se_below", ["above 0 and at most 1"]),
    ({"mx": 4, "max": 4, "until_se_below": 0.2}, "seeds.mx", ["did you mean 'max'"]),
    ({"max": "four", "until_se_below": 0.2}, "seeds.max", ["integer"]),
])
def test_a_bad_rule_is_one_problem_naming_the_field_and_the_fix(seeds: Any, field: str, words: list[str]) -> None:
    found = problems(seeds)
    assert list(found) == [field], found
    assert all(word in found[field] for word in words), found[field]


def test_a_design_may_not_change_the_seeds_not_even_one_field_of_a_rule() -> None:
    designs = [{"name": "a", "set": {"seeds.max": 6}}, {"name": "b", "set": {}}]
    found = problems(RULE, designs=designs)
    assert list(found) == ["designs[0].set.seeds.max"] and "budget per size" in found["designs[0].set.seeds.max"]


def test_finetuning_starts_from_a_rules_seeds() -> None:
    spec = spec_from_dict(tiny_spec_dict(seeds=RULE, finetune={"tasks": [{"name": "stdlib-family"}]}))
    assert spec.min_seeds == 2
