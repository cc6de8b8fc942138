"""Convergence debugging on real training: a size deliberately cut short by low patience is
diagnosed as such, and the one-command re-run with more patience moves it toward the line."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import raylaws
from raylaws.cli import app
from raylaws.diagnose import size_deviations
from raylaws.rounds import read_rounds
from raylaws.spec import spec_from_dict
from tests.conftest import tiny_spec_dict

pytestmark = pytest.mark.slow  # three rounds of real training: ~3 minutes on the shared 2-core machine

CUT = "L2-H16"


@pytest.fixture(scope="module")
def cut_short(tmp_path_factory: pytest.TempPathFactory, ray_session: Any) -> tuple[raylaws.Sweep, dict[str, float]]:
    """A sweep of three sizes trained to their budget, then its middle size re-run with a patience
    of one evaluation: it stops at its first eval that does not improve, while still learning."""
    spec = tiny_spec_dict(name="cut", seeds=2, ladder={"layers": [1, 2, 3]},
                          training={"max_steps": 80, "warmup_steps": 5, "eval_interval": 10, "schedule": "constant"},
                          search={"trials_per_size": 1, "learning_rate": {"low": 1e-2, "high": 3e-2},
                                  "batch_size": [8], "pruning": {"enabled": False}})
    sweep = raylaws.run(spec_from_dict(spec), storage=tmp_path_factory.mktemp("sweeps"))
    on_line = size_deviations(sweep.trials())
    raylaws.rerun(sweep.path, {CUT: {"training.patience": 2, "training.eval_interval": 2}})
    return sweep, on_line


def test_the_cut_short_size_is_diagnosed_as_stopped_by_patience(cut_short: tuple[raylaws.Sweep, Any]) -> None:
    sweep, _ = cut_short
    rows = [r for r in sweep.trials().to_pylist() if r["round"] == 1]
    assert {r["size"] for r in rows} == {CUT} and any(r["stop_reason"] == "patience" for r in rows)
    [finding] = [f for f in sweep.findings() if f.kind == "still_improving"]
    # suggested: five evaluations of 2 steps, more than 3 x its patience of 2
    assert finding.size == CUT and finding.field == "training.patience" and finding.value == 10
    result = CliRunner().invoke(app, ["debug", str(sweep.path)])
    assert result.exit_code == 0, result.output
    assert f"still_improving: {CUT}" in result.output and "change: training.patience=10" in result.output


def test_the_one_command_rerun_with_more_patience_moves_it_toward_the_line(
        cut_short: tuple[raylaws.Sweep, dict[str, float]]) -> None:
    sweep, on_line = cut_short
    off = size_deviations(sweep.trials())[CUT]
    assert off > on_line[CUT] + 0.01  # cut short: above where it sat when trained to its budget
    result = CliRunner().invoke(app, ["debug", str(sweep.path), "--rerun", "--size", CUT,
                                      "--set", "training.patience=600"])
    assert result.exit_code == 0, result.output
    assert f"re-run {CUT}: training.patience=600" in result.output
    assert f"{CUT} vs the law of the others (round 2)" in result.output
    rounds = read_rounds(sweep.path)
    assert [r.number for r in rounds] == [1, 2]
    assert rounds[1].sizes[CUT] == {"training.patience": 600, "training.eval_interval": 2}
    after = size_deviations(sweep.trials())[CUT]
    # Toward the line: back near where it sat when trained to its budget. (At 80 steps these tiny
    # models have not yet separated by size, so the law of the others is nearly flat; the
    # comparison is with the size's own uncut deviation, not with zero.)
    assert abs(after - on_line[CUT]) < abs(off - on_line[CUT]) / 2
    # the earlier rounds' records are all kept; views use the latest round
    rows = sweep.trials().to_pylist()
    assert {r["round"] for r in rows if r["size"] == CUT} == {0, 1, 2}
    assert not any(r["stop_reason"] == "patience" for r in rows if r["round"] == 2)
    assert not [f for f in sweep.findings() if f.kind == "still_improving"]
    assert not raylaws.check(sweep.path)
