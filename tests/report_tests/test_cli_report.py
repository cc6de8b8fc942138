"""`raylaws report`: a thin command over raylaws.report.write_report."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from raylaws.cli import app
from tests.report_tests.sweeps import write_sweep

runner = CliRunner()


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sweep(tmp_path_factory.mktemp("cli") / "small", [1, 2], with_faults=False)


def test_report_command_writes_the_file_given_by_o_and_prints_its_path(sweep_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "out" / "report.html"
    result = runner.invoke(app, ["report", str(sweep_dir), "-o", str(output), "--bootstrap", "20"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"report: {output}"
    assert output.read_text().startswith("<!DOCTYPE html>")


def test_report_command_on_a_directory_that_is_no_sweep_exits_2_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "is not a sweep directory" in result.output and "Traceback" not in result.output


def test_importing_the_report_package_imports_no_matplotlib_scipy_torch_or_ray() -> None:
    import subprocess
    import sys

    code = ("import sys, raylaws.report; "
            "print([m for m in ('matplotlib', 'scipy', 'torch', 'ray') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"
