"""The raylaws command: thin over the API, one line per problem, exit code 2, no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from raylaws.cli import app
from tests.conftest import REPO, tiny_spec_dict

runner = CliRunner()


def raylaws_cli(*args: str) -> subprocess.CompletedProcess:
    """The real console entry point, in a fresh process."""
    return subprocess.run([sys.executable, "-m", "raylaws.cli", *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture
def bad_spec(tmp_path: Path) -> Path:
    raw = tiny_spec_dict(seeds="x")
    raw["training"]["schedul"] = "cosine"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_validate_accepts_every_shipped_spec() -> None:
    specs = sorted(str(p) for p in (REPO / "search_spaces").glob("*.yaml"))
    result = raylaws_cli("validate", *specs)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == len(specs)


def test_validate_refuses_a_broken_spec_one_line_per_problem(bad_spec: Path) -> None:
    result = raylaws_cli("validate", str(bad_spec))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in result.stderr
    assert any("seeds:" in line for line in lines)
    assert any("training.schedul: unknown key; did you mean 'schedule'?" in line for line in lines)


def test_run_with_a_broken_spec_exits_2_before_ray_starts(bad_spec: Path, tmp_path: Path) -> None:
    result = raylaws_cli("run", str(bad_spec), "--storage", str(tmp_path / "results"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()  # nothing was created, no Ray was started
    assert "Started a local Ray" not in result.stderr


def test_run_with_unreachable_address_is_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict()))
    result = raylaws_cli("run", str(spec), "--storage", str(tmp_path), "--address", "127.0.0.1:1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "cannot reach a Ray cluster" in result.stderr


def test_ladder_prints_the_papers_counts() -> None:
    result = runner.invoke(app, ["ladder", str(REPO / "search_spaces" / "paper_mlm_ar32.yaml")])
    assert result.exit_code == 0, result.output
    for count in ("12,288", "98,304", "6,291,456"):
        assert count in result.output


def test_status_and_best_on_a_missing_sweep_are_one_line(tmp_path: Path) -> None:
    for command in ("status", "best"):
        result = raylaws_cli(command, str(tmp_path / "absent"))
        assert result.returncode == 2 and "not a sweep directory" in result.stderr
        assert "Traceback" not in result.stderr


def test_run_then_best_and_status(tmp_path: Path, ray_session: Any) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(name="clitiny", seeds=1,
                                                  search={"trials_per_size": 2, "batch_size": [8],
                                                          "learning_rate": {"low": 3e-3, "high": 3e-2}})))
    result = runner.invoke(app, ["run", str(spec), "--storage", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    assert "best per size" in result.output and "slope" in result.output and "R^2" in result.output
    sweep_dir = tmp_path / "results" / "clitiny"

    as_json = runner.invoke(app, ["best", str(sweep_dir), "--format", "json"])
    rows = json.loads(as_json.output)
    assert [r["size"] for r in rows] == ["L1-H8", "L2-H16"] and all(r["n_seeds"] == 1 for r in rows)

    as_csv = runner.invoke(app, ["best", str(sweep_dir), "--format", "csv"])
    assert as_csv.output.splitlines()[0].startswith('"size","n_layers"')
    assert len(as_csv.output.strip().splitlines()) == 3

    out = tmp_path / "best.parquet"
    assert runner.invoke(app, ["best", str(sweep_dir), "--format", "parquet", "-o", str(out)]).exit_code == 0
    assert pq.read_table(out).num_rows == 2

    fitted = runner.invoke(app, ["fit", str(sweep_dir), "--bootstrap", "20"])
    assert fitted.exit_code == 0, fitted.output
    assert "power law of eval_loss against N" in fitted.output and "unreliable (" in fitted.output

    status = runner.invoke(app, ["status", str(sweep_dir)])
    assert status.exit_code == 0 and "6/6 trials recorded" in status.output

    bad = runner.invoke(app, ["best", str(sweep_dir), "--format", "xml"])
    assert bad.exit_code == 2
