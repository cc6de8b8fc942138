"""Spec `designs:`: named variants that set spec fields, validated per field before any work."""

from __future__ import annotations

from typing import Any

import pytest

from raylaws.ladder import build_ladder
from raylaws.spec import SpecError, design_spec, spec_from_dict, with_overrides
from tests.conftest import tiny_spec_dict


def designed(*designs: dict[str, Any]) -> dict[str, Any]:
    return tiny_spec_dict(designs=list(designs))


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as error:
        spec_from_dict(raw)
    return [str(p) for p in error.value.problems]


def test_each_design_is_the_spec_with_its_fields_set() -> None:
    spec = spec_from_dict(designed({"name": "ar8", "set": {"objective": "mlm"}},
                                   {"name": "ar16", "set": {"ladder.aspect_ratio": 16, "training": {"max_steps": 20}}}))
    wide = design_spec(spec, "ar16")
    assert (wide.ladder.aspect_ratio, wide.training.max_steps, wide.training.eval_interval) == (16, 20, 10)
    assert design_spec(spec, "ar8").objective == "mlm" and design_spec(spec, "ar8").ladder.aspect_ratio == 8
    assert design_spec(spec, None) is spec and wide.designs == []


def test_each_design_has_its_own_ladder_named_by_design() -> None:
    spec = spec_from_dict(designed({"name": "ar8"}, {"name": "ar16", "set": {"ladder.aspect_ratio": 16}}))
    sizes = {size.name: size for size in build_ladder(spec)}
    assert set(sizes) == {"ar8.L1-H8", "ar8.L2-H16", "ar16.L1-H16", "ar16.L2-H32"}
    assert sizes["ar16.L2-H32"].design == "ar16" and sizes["ar16.L2-H32"].n_params == 12 * 2 * 32**2
    assert sizes["ar8.L1-H8"].key == "ar8.L1-H8"


@pytest.mark.parametrize(("designs", "expected"), [
    ([{"name": "a", "set": {"ladder.aspec_ratio": 16}}, {"name": "b"}],
     "designs[0].set.ladder.aspec_ratio: design 'a': unknown key; did you mean 'aspect_ratio'?"),
    ([{"name": "a", "set": {"objective": "xlm"}}, {"name": "b"}],
     "designs[0].set.objective: design 'a': input should be 'mlm' or 'clm'"),
    ([{"name": "a"}, {"name": "b", "set": {"ladder.aspect_ratio": 9}}],
     "designs[1].set: design 'b': makes ladder.n_heads invalid: width 9 of size L1-H9 is not divisible by 2 heads"),
    ([{"name": "a", "set": {"search.trials_per_size": 9}}, {"name": "b"}],
     "designs[0].set.search.trials_per_size: design 'a': cannot be changed here"),
    ([{"name": "a"}, {"name": "a"}], "designs: design name 'a' appears twice"),
    ([{"name": "a"}], "designs: one design compares with nothing"),
    ([{"name": "a.b"}, {"name": "b"}], "designs[0].name: String should match pattern"),
])
def test_a_bad_design_is_one_line_naming_its_field(designs: list[dict[str, Any]], expected: str) -> None:
    [line] = problems(designed(*designs))
    assert line.startswith(expected)


def test_overrides_of_a_rerun_are_validated_like_designs() -> None:
    spec = spec_from_dict(tiny_spec_dict())
    assert with_overrides(spec, {"training.patience": 600}).training.patience == 600
    with pytest.raises(SpecError, match="--set training.patience: Input should be greater than or equal to 1"):
        with_overrides(spec, {"training.patience": 0})
