"""Laws per finetuning task: R^2, backtest MRE and the paper's verdict, on records written
through the real store (pretraining from the report tests' sweep, finetuning as the finetune
phase writes it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import raylaws
from raylaws.cli import app
from raylaws.layout import SweepLayout
from tests.laws_tests._records import write_task
from tests.report_tests.sweeps import write_sweep

LAYERS = [1, 2, 3, 4]


def strong(n_params: float) -> float:
    return 3.0 * n_params ** -0.2  # error 1 - accuracy: 0.67 at N=1,728 down to 0.30 at N=110,592


@pytest.fixture
def sweep_with_tasks(tmp_path: Path) -> raylaws.Sweep:
    root = write_sweep(tmp_path / "ft", LAYERS, seeds_of_largest=3, with_faults=False)
    layout = SweepLayout.at(root)
    write_task(layout, "big", strong, layers=LAYERS, noise=0.005)
    # The small task's error does not follow N: its seeds scatter around a flat 0.4.
    write_task(layout, "small", lambda n: 0.4 * (1.3 if n < 20_000 else 0.8 if n < 50_000 else 1.2),
               layers=LAYERS, noise=0.08, rng=np.random.default_rng(1))
    return raylaws.open(root)


def test_each_task_gets_its_law_r2_backtest_and_the_papers_verdict(sweep_with_tasks: raylaws.Sweep) -> None:
    laws = {t.task: t for t in sweep_with_tasks.laws(all_tasks=True, n_bootstrap=50)}
    assert list(laws) == [None, "big", "small"]
    big, small = laws["big"], laws["small"]
    assert big.r2 > 0.99 and big.verdict == "predictions hold"
    assert big.law.exponent_ == pytest.approx(0.2, abs=0.02)
    assert big.mre < 0.03 and big.holdout == 2
    assert small.r2 < 0.95 and small.verdict == "law too weak to predict"
    assert small.mre > big.mre


def test_a_task_fit_uses_its_finetune_seeds_and_not_the_pretraining_rows(sweep_with_tasks: raylaws.Sweep) -> None:
    rows = sweep_with_tasks.fit_rows(task="big")
    assert len(rows.values) == 4 * 5  # five finetune_seed rows per size, no search trial
    assert not rows.fallback
    assert max(rows.values) < 0.75  # errors 1 - accuracy, not pretraining losses of ~3-5 nats
    law = sweep_with_tasks.fit(task="big", n_bootstrap=0)
    assert law.r2_ > 0.99
    with pytest.raises(ValueError, match="task: no finetuning records of task 'squad'.*big, small"):
        sweep_with_tasks.fit_rows(task="squad")


def test_fit_command_prints_every_task_verdict_by_default_and_one_task_on_request(
        sweep_with_tasks: raylaws.Sweep) -> None:
    runner = CliRunner()
    every = runner.invoke(app, ["fit", str(sweep_with_tasks.path), "--bootstrap", "50"])
    assert every.exit_code == 0, every.output
    table = every.output[every.output.index("paper's verdict"):]
    assert "task big" in table and "predictions hold" in table
    assert "task small" in table and "law too weak to predict" in table
    assert "pretraining loss" in table
    one = runner.invoke(app, ["fit", str(sweep_with_tasks.path), "--task", "big", "--bootstrap", "50"])
    assert one.exit_code == 0, one.output
    verdicts = one.output[one.output.index("paper's verdict"):]
    assert "task big" in verdicts and "task small" not in verdicts and "pretraining" not in verdicts
    bad = runner.invoke(app, ["fit", str(sweep_with_tasks.path), "--task", "squad"])
    assert bad.exit_code == 2 and "task: no finetuning records of task 'squad'" in bad.output
