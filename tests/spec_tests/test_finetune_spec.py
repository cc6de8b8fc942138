"""``finetune.grid``: the paper's grid over the learning rate and epochs, as a spec field."""

from __future__ import annotations

import math

import pytest

from raylaws.spec import SpecError, spec_from_dict, spec_hash
from tests.conftest import tiny_spec_dict
from tests.spec_tests.test_spec_hash import FULL_HASH, FULL_SPEC

TASKS = [{"name": "stdlib-docstring"}]


def test_grid_rates_are_evenly_spaced_in_log_over_the_box_with_both_ends() -> None:
    spec = spec_from_dict(tiny_spec_dict(finetune={"tasks": TASKS, "grid": True, "trials_per_task": 5, "epochs": [1],
                                                   "learning_rate": {"low": 1e-3, "high": 1.6e-2}}))
    assert spec.finetune is not None
    rates = spec.finetune.grid_rates()
    assert rates[0] == 1e-3 and math.isclose(rates[-1], 1.6e-2)
    assert all(math.isclose(b / a, 2.0) for a, b in zip(rates, rates[1:])), rates
    assert [spec.finetune.grid_point(n) for n in (0, 4)] == [(1e-3, 1), (rates[4], 1)]


def test_one_grid_rate_is_the_middle_of_the_box_and_epochs_vary_fastest() -> None:
    spec = spec_from_dict(tiny_spec_dict(finetune={"tasks": TASKS, "grid": True, "trials_per_task": 2, "epochs": [2, 1],
                                                   "learning_rate": {"low": 1e-4, "high": 1e-2}}))
    assert spec.finetune is not None
    (rate,) = spec.finetune.grid_rates()
    assert math.isclose(rate, 1e-3)
    assert [spec.finetune.grid_point(n)[1] for n in range(2)] == [2, 1], "epochs in the order given"


def test_a_grid_budget_that_is_not_rates_times_epochs_is_one_line_naming_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        spec_from_dict(tiny_spec_dict(finetune={"tasks": TASKS, "grid": True, "trials_per_task": 5, "epochs": [1, 2]}))
    (problem,) = caught.value.problems
    assert problem.field == "finetune" and "trials_per_task (5)" in problem.message and "2 epochs" in problem.message
    assert "\n" not in str(caught.value).strip()


def test_grid_is_a_later_field_old_finetuning_sweeps_keep_their_hash() -> None:
    assert spec_hash(spec_from_dict(FULL_SPEC)) == FULL_HASH
    finetune = {**FULL_SPEC["finetune"], "grid": True, "trials_per_task": 4}
    with_grid = spec_hash(spec_from_dict({**FULL_SPEC, "finetune": finetune}))
    without = spec_hash(spec_from_dict({**FULL_SPEC, "finetune": {**finetune, "grid": False}}))
    assert with_grid != without
