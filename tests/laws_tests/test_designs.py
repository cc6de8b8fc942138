"""A sweep of two designs on a real local Ray: each design its own ladder, studies and records,
then the predicted gap between them with its CI (the issue's acceptance test)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import raylaws
from raylaws.cli import app
from raylaws.search._studies import journal_trials
from raylaws.spec import spec_from_dict
from tests.conftest import tiny_spec_dict

pytestmark = pytest.mark.slow  # a real two-design sweep: ~70 s on the shared 2-core machine

DESIGNS = [{"name": "clm", "set": {"objective": "clm"}}, {"name": "mlm", "set": {"objective": "mlm"}}]


@pytest.fixture(scope="module")
def two_designs(tmp_path_factory: pytest.TempPathFactory, ray_session: Any) -> raylaws.Sweep:
    spec = tiny_spec_dict(name="designs", designs=DESIGNS, seeds=2,
                          training={"max_steps": 30, "eval_interval": 10},
                          search={"trials_per_size": 2, "pruning": {"enabled": False}})
    return raylaws.run(spec_from_dict(spec), storage=tmp_path_factory.mktemp("sweeps"))


def test_each_design_trains_its_own_ladder_with_its_own_spec(two_designs: raylaws.Sweep) -> None:
    rows = two_designs.trials().to_pylist()
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 2 * 2 * (2 + 2)
    for design in ("clm", "mlm"):
        mine = [r for r in rows if r["design"] == design]
        assert {r["size"] for r in mine} == {f"{design}.L1-H8", f"{design}.L2-H16"}
        assert all(r["trial_id"].startswith(f"{design}.") for r in mine)
        assert {json.loads(r["config_json"])["objective"] for r in mine} == {design}
        assert sum(r["phase"] == "seed" for r in mine) == 4
    studies = journal_trials(two_designs.layout.journal)
    assert sorted(studies) == ["clm.L1-H8", "clm.L2-H16", "mlm.L1-H8", "mlm.L2-H16"]
    assert all(len(trials) == 2 for trials in studies.values())


def test_compare_gives_the_predicted_gap_with_a_ci(two_designs: raylaws.Sweep) -> None:
    [row] = two_designs.compare(at=1e6, n_bootstrap=200)
    assert (row.task, row.design_a, row.design_b) == (None, "clm", "mlm")
    assert row.paired  # same sizes, same bootstrap seed: matched draws
    assert math.isfinite(row.difference) and row.ci[0] <= row.ci[1]
    assert 0.0 <= row.p_a_better <= 1.0
    laws = {t.design: t for t in two_designs.laws(n_bootstrap=0)}
    assert row.difference == pytest.approx(float(laws["clm"].law.predict(1e6) - laws["mlm"].law.predict(1e6)))


def test_compare_command_prints_the_gap_ci_and_probability(two_designs: raylaws.Sweep) -> None:
    result = CliRunner().invoke(app, ["compare", str(two_designs.path), "--at", "1e6", "--bootstrap", "200"])
    assert result.exit_code == 0, result.output
    assert "clm - mlm predicted at N=1,000,000" in result.output
    assert "pretraining loss" in result.output and "P(clm better)" in result.output


def test_a_sweep_with_designs_is_fitted_one_design_at_a_time(two_designs: raylaws.Sweep) -> None:
    with pytest.raises(ValueError, match="design: this sweep compares designs \\(clm, mlm\\)"):
        two_designs.fit(n_bootstrap=0)
    assert two_designs.fit(design="mlm", n_bootstrap=0).n_sizes_ == 2
