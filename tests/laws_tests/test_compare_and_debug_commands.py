"""`compare` and `debug` on sweeps written through the real store (no training): the gap's sign
and interval, the findings with the field to change, and bad input refused in one line before
any Ray starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import raylaws
from raylaws.cli import app
from raylaws.layout import SweepLayout
from raylaws.rounds import ROUNDS_FILE
from raylaws.spec import SpecError
from tests.laws_tests._records import write_task
from tests.report_tests.sweeps import demo_spec_dict, write_sweep

LAYERS = [1, 2, 3, 4]


@pytest.fixture
def two_designs(tmp_path: Path) -> raylaws.Sweep:
    """Design 'pmi' predicts a 5% lower loss than 'mlm' at every N; task 'qa' follows N for both,
    task 'yesno' does not."""
    layout = SweepLayout.at(tmp_path / "designs")
    layout.root.mkdir(parents=True)
    spec = demo_spec_dict(LAYERS)
    spec["designs"] = [{"name": "mlm", "set": {"objective": "mlm"}}, {"name": "pmi", "set": {"objective": "mlm"}}]
    layout.spec.write_text(yaml.safe_dump(spec, sort_keys=False))
    for design, factor in (("mlm", 1.0), ("pmi", 0.95)):
        write_task(layout, None, lambda n, f=factor: f * 12.0 * n ** -0.12, layers=LAYERS, design=design)
        write_task(layout, "qa", lambda n, f=factor: f * 3.0 * n ** -0.2, layers=LAYERS, design=design)
        write_task(layout, "yesno", lambda n: 0.4, layers=LAYERS, design=design, noise=0.1)
    return raylaws.open(layout.root)


def test_compare_gives_each_targets_gap_its_interval_and_who_is_better(two_designs: raylaws.Sweep) -> None:
    rows = {row.task: row for row in two_designs.compare(at=1e7, design_a="pmi", design_b="mlm", n_bootstrap=300)}
    assert list(rows) == [None, "qa", "yesno"]
    loss, qa, yesno = rows[None], rows["qa"], rows["yesno"]
    assert loss.paired and loss.difference < 0 and loss.ci[1] < 0 and loss.p_a_better > 0.95
    assert loss.difference == pytest.approx(-0.05 * 12.0 * 1e7 ** -0.12, rel=0.1)
    assert qa.ci[1] < 0 and not qa.weak
    assert yesno.weak  # a flat, noisy task: its laws have R^2 far below 0.95


def test_compare_command_flags_the_weak_task(two_designs: raylaws.Sweep) -> None:
    result = CliRunner().invoke(app, ["compare", str(two_designs.path), "--at", "1e7", "--a", "pmi", "--bootstrap",
                                      "200"])
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 5}
    assert "law too weak" in lines["task yesno"] and "law too weak" not in lines["task qa"]
    assert "P(pmi better)" in result.output


def test_fit_command_gives_each_design_its_own_laws(two_designs: raylaws.Sweep) -> None:
    result = CliRunner().invoke(app, ["fit", str(two_designs.path), "--bootstrap", "0", "--task", "qa"])
    assert result.exit_code == 0, result.output
    verdicts = result.output[result.output.index("paper's verdict"):]
    assert verdicts.count("task qa") == 2 and "mlm" in verdicts and "pmi" in verdicts


def test_compare_refuses_a_sweep_without_designs(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "plain", LAYERS, seeds_of_largest=3)
    result = CliRunner().invoke(app, ["compare", str(sweep), "--at", "1e6"])
    assert result.exit_code == 2
    assert "designs: a comparison needs a sweep with two or more designs" in result.output


def test_debug_names_each_cause_with_the_field_to_change(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "plain", LAYERS, seeds_of_largest=3)
    result = CliRunner().invoke(app, ["debug", str(sweep)])
    assert result.exit_code == 0, result.output
    assert "lr_edge: L1-H12" in result.output and "change: search.learning_rate.high=0.09" in result.output
    assert "still_improving: L3-H36" in result.output and "change: training.patience=600" in result.output
    assert "off_law: L3-H36" in result.output and "likely cause: stopped by patience" in result.output


def test_a_rerun_with_a_bad_change_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "plain", LAYERS, seeds_of_largest=3)
    with pytest.raises(SpecError, match="L3-H36 --set training.patiense: unknown key; did you mean 'patience'"):
        raylaws.rerun(sweep, {"L3-H36": {"training.patiense": 600}})
    with pytest.raises(SpecError, match="--set seeds: cannot be changed here"):
        raylaws.rerun(sweep, {"L3-H36": {"seeds": 5}})
    with pytest.raises(raylaws.SweepError, match="size L9-H99: not a size of this sweep"):
        raylaws.rerun(sweep, {"L9-H99": {}})
    assert not (sweep / ROUNDS_FILE).exists()
    result = CliRunner().invoke(app, ["debug", str(sweep), "--rerun", "--set", "training.patience"])
    assert result.exit_code == 2 and "is not FIELD=VALUE" in result.output
    result = CliRunner().invoke(app, ["debug", str(sweep), "--set", "training.patience=600"])
    assert result.exit_code == 2 and "--set, --size and --continue go with --rerun" in result.output


def test_the_report_of_a_sweep_with_designs_fits_one_design_and_says_so(two_designs: raylaws.Sweep) -> None:
    from raylaws.report import analyse, render_report

    analysis = analyse(two_designs.trials(), two_designs.spec, name="d", n_bootstrap=0)
    assert set(analysis.fit_rows.sizes) == {f"mlm.L{n}-H{12 * n}" for n in LAYERS}
    assert analysis.findings[0].kind == "designs"
    assert "this sweep compares designs mlm, pmi" in render_report(two_designs.trials(), two_designs.spec, name="d",
                                                                   n_bootstrap=0)
