"""Re-run rounds of a size-aware sweep: a round is finished once each size has its own budget."""

from __future__ import annotations

from pathlib import Path

import pytest

import raylaws
from raylaws.errors import SweepError
from raylaws.rounds import read_rounds
from raylaws.spec import spec_from_dict
from tests.conftest import tiny_spec_dict
from tests.sweep_tests._fake import fake_runner


def test_a_size_aware_rerun_of_two_sizes_finishes_and_the_next_round_can_start(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the round's larger size searches trials_after_first (+ a widening), not trials_per_size;
    # counting it against trials_per_size left the round 'unfinished' forever
    fake_runner(monkeypatch)
    spec = tiny_spec_dict(ladder={"layers": [1, 2, 3]},
                          search={"strategy": "size_aware", "size_aware": {"trials_after_first": 2},
                                  "trials_per_size": 6, "pruning": {"enabled": False}})
    sweep = raylaws.run(spec_from_dict(spec), storage=tmp_path)
    raylaws.rerun(sweep.path, {"L2-H16": {"training.patience": 20}, "L3-H24": {"training.patience": 20}})
    searched = [r for r in sweep.trials().to_pylist() if r["round"] == 1 and r["phase"] == "search"]
    assert sum(r["size"] == "L3-H24" for r in searched) < 6  # its box's budget, below trials_per_size
    with pytest.raises(SweepError, match="no unfinished re-run"):
        raylaws.rerun(sweep.path, None)
    raylaws.rerun(sweep.path, {"L1-H8": {"training.patience": 20}})
    assert [r.number for r in read_rounds(sweep.path)] == [1, 2]
