"""The ``seeds`` rule as pure functions: which sizes get another seed, round by round, from
constructed seed losses (:mod:`raylaws.search._seeds`)."""

from __future__ import annotations

import math
import statistics
from types import SimpleNamespace
from typing import Any, Optional

import pytest

from raylaws.search import check_seeds, decide_seeds, recorded_seed_counts
from raylaws.search._seeds import SeedMember
from raylaws.spec import SeedsSpec, spec_from_dict
from tests.conftest import tiny_spec_dict

RULE = SeedsSpec(min=2, max=4, until_se_below=0.25)


def test_the_gap_is_the_nearer_neighbours_and_the_ends_have_one() -> None:
    checks = check_seeds([[4.0, 4.0], [3.6, 3.6], [3.5, 3.5], [3.3, 3.3]], 0.25)
    assert [c.mean for c in checks] == pytest.approx([4.0, 3.6, 3.5, 3.3])
    assert [c.gap for c in checks] == pytest.approx([0.4, 0.1, 0.1, 0.2])
    assert [c.se for c in checks] == [0.0] * 4 and not any(c.more for c in checks)


def test_a_size_gets_a_seed_when_its_standard_error_is_above_the_fraction_of_its_gap() -> None:
    # Means 4.0, 3.6, 3.5: the middle size's gap is 0.1 and its se 0.0283 / sqrt(2) = 0.02.
    losses = [[4.0, 4.0], [3.62, 3.58], [3.5, 3.5]]
    se = statistics.stdev([3.62, 3.58]) / math.sqrt(2)
    assert [c.more for c in check_seeds(losses, 0.25)] == [False, False, False]  # 0.02 < 0.25 * 0.1
    assert [c.more for c in check_seeds(losses, 0.1)] == [False, True, False]  # 0.02 > 0.1 * 0.1
    assert check_seeds(losses, 0.1)[1].se == pytest.approx(se)


def test_an_unknown_standard_error_wants_a_seed_and_a_lone_size_never_does() -> None:
    one_seed, failed, fine = check_seeds([[4.0], [], [3.5, 3.5]], 0.25)
    assert one_seed.se == math.inf and one_seed.more  # below 2 seeds the error is unknown
    assert failed.mean is None and failed.more  # every seed failed: another may complete
    assert fine.gap == pytest.approx(0.5) and not fine.more  # the gap skips the size with no mean
    assert check_seeds([[4.0, 3.0]], 0.25)[0].more is False  # no neighbour: nothing to compare with


def member(key: str, losses: list[Optional[float]], **kwargs: Any) -> SeedMember:
    return SeedMember(key, {seed: loss for seed, loss in enumerate(losses, start=1)}, **kwargs)


def test_round_zero_is_min_seeds_and_no_round_is_decided_before_every_seed_is_recorded() -> None:
    noisy = [3.0, 3.8]  # se 0.4 against a gap of 0.6: once recorded, it wants another seed
    members = [member("L1", [4.0, 4.0]), member("L2", noisy[:1])]
    assert decide_seeds(members, RULE).targets == {"L1": 2, "L2": 2}
    assert not decide_seeds(members, RULE).settled  # L2's seed 2 is unrecorded
    members = [member("L1", [4.0, 4.0]), member("L2", noisy), member("L3", [], searching=True)]
    assert decide_seeds(members, RULE).targets == {"L1": 2, "L2": 2, "L3": 2}  # L3 still searching holds the round
    assert decide_seeds([member("L1", [4.0, 4.0]), member("L2", noisy)], RULE).targets == {"L1": 2, "L2": 3}


def test_rounds_add_one_seed_at_a_time_up_to_the_cap() -> None:
    quiet = [4.0, 4.0, 4.0, 4.0]
    noisy = [3.5, 3.9, 3.6, 3.8]  # gaps to L1: 0.3, then 0.33; se 0.2, then 0.12: above a quarter of each
    after = {}
    for recorded in (2, 3, 4):
        decision = decide_seeds([member("L1", quiet[:2]), member("L2", noisy[:recorded])], RULE)
        after[recorded] = (decision.targets, decision.settled, decision.rounds)
    assert after[2] == ({"L1": 2, "L2": 3}, False, 1)  # seed 3 decided, not recorded yet
    assert after[3] == ({"L1": 2, "L2": 4}, False, 2)
    assert after[4] == ({"L1": 2, "L2": 4}, True, 2)  # at the cap: settled whatever its error


def test_a_round_uses_only_the_seeds_it_was_decided_on() -> None:
    # Seeds recorded beyond a size's target (none are, in a sweep) never change the round.
    decision = decide_seeds([member("L1", [4.0, 4.0, 9.0]), member("L2", [3.0, 3.0])], RULE)
    assert decision.targets == {"L1": 2, "L2": 2} and decision.settled


def test_fixed_neighbours_count_with_every_seed_and_never_get_another() -> None:
    members = [member("L1", [4.0, 4.2], fixed=True), member("L2", [3.9, 3.7]), member("L3", [3.0, 3.0], fixed=True)]
    decision = decide_seeds(members, RULE)
    assert decision.targets == {"L2": 3}  # se 0.1 > 0.25 * gap 0.3 to L1's mean 4.1
    assert decision.checks["L1"].more and "L1" not in decision.targets


def test_the_decision_depends_on_the_recorded_losses_alone() -> None:
    members = [member("L1", [4.0, 4.1]), member("L2", [3.7, 3.9, 3.8]), member("L3", [3.6, 3.61])]
    shuffled = [SeedMember(m.key, dict(reversed(list(m.recorded.items())))) for m in members]
    assert decide_seeds(members, RULE) == decide_seeds(shuffled, RULE)


def row(size: str, phase: str, seed: int, loss: Optional[float], n_params: int) -> dict[str, Any]:
    return {"size": size, "phase": phase, "seed": seed, "eval_loss": loss, "n_params": n_params, "task": None,
            "status": "completed" if loss is not None else "diverged", "design": None}


def test_a_stored_sweep_counts_the_seeds_its_records_decide() -> None:
    spec = spec_from_dict(tiny_spec_dict(seeds={"min": 2, "max": 4, "until_se_below": 0.25}))
    sizes = [SimpleNamespace(name="L1", n_params=100, design=None), SimpleNamespace(name="L2", n_params=800, design=None),
             SimpleNamespace(name="L3", n_params=2000, design=None)]
    rows = [row("L1", "search", 0, 4.0, 100), row("L1", "seed", 1, 4.0, 100), row("L1", "seed", 2, 4.0, 100),
            row("L2", "search", 0, 3.6, 800), row("L2", "seed", 1, 3.3, 800), row("L2", "seed", 2, 3.7, 800),
            row("L3", "search", 0, None, 2000)]  # L3's only search trial diverged: it takes no part
    assert recorded_seed_counts(spec, sizes, rows, {"L1": 1, "L2": 1, "L3": 1}) == {"L1": 2, "L2": 3, "L3": 2}
    # L3 still searching holds every round; a count of seeds is that count.
    assert recorded_seed_counts(spec, sizes, rows, {"L1": 1, "L2": 1, "L3": 2}) == {"L1": 2, "L2": 2, "L3": 2}
    count = spec_from_dict(tiny_spec_dict(seeds=3))
    assert recorded_seed_counts(count, sizes, rows, {"L1": 1, "L2": 1, "L3": 1}) == {"L1": 3, "L2": 3, "L3": 3}
