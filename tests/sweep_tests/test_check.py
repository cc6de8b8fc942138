"""``raylaws check``: what is inconsistent in a sweep directory, changing nothing."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import raylaws
from raylaws import store
from raylaws.cli import app
from raylaws.layout import SweepLayout
from tests.store_tests.test_files import record
from tests.sweep_tests._fake import fake_runner, write_spec


@pytest.fixture
def sweep_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_runner(monkeypatch)
    return raylaws.run(write_spec(tmp_path), storage=tmp_path / "results").path


def test_a_clean_sweep_has_no_findings_and_exits_0(sweep_dir: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(sweep_dir)])
    assert result.exit_code == 0 and "ok:" in result.output


def test_bad_files_staged_leftovers_and_journal_mismatches_are_listed_and_exit_1(sweep_dir: Path) -> None:
    layout = SweepLayout.at(sweep_dir)
    (layout.trials / "x.parquet").write_bytes(b"garbage")
    store.stage_record(layout.trials, record("L1-H8.s099"))
    store.record_path(layout.trials, "L1-H8.s001").unlink()  # finished in the journal, record gone
    store.write_record(layout.trials, record("L1-H8.s042", size="L1-H8"))  # a search record the journal lacks
    findings = raylaws.check(sweep_dir)
    kinds = sorted((f.kind, Path(f.path).name) for f in findings)
    assert ("bad record", "x.parquet") in kinds
    assert any(kind == "staged leftover" for kind, _ in kinds)
    assert any("L1-H8.s001 finished" in f.message for f in findings)
    assert any(Path(f.path).name == "L1-H8.s042.parquet" and "no trial in the journal" in f.message for f in findings)
    result = CliRunner().invoke(app, ["check", str(sweep_dir)])
    assert result.exit_code == 1 and result.output.count("\n") == len(findings)
    assert (layout.trials / "x.parquet").read_bytes() == b"garbage"  # nothing changed


def test_a_bad_record_is_a_warning_line_in_status_and_best_not_a_crash(sweep_dir: Path) -> None:
    layout = SweepLayout.at(sweep_dir)
    (layout.trials / "L1-H8.s000.parquet").write_bytes(b"truncated")
    for command in (["status", str(sweep_dir)], ["best", str(sweep_dir)], ["best", str(sweep_dir), "--format", "json"]):
        with warnings.catch_warnings():  # each command as a fresh process would show it
            result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output and "L1-H8.s000.parquet" in result.output
    with pytest.warns(store.BadRecordWarning, match="L1-H8.s000.parquet"):
        assert raylaws.open(sweep_dir).trials().num_rows == 9


def test_check_of_a_folder_that_is_no_sweep_is_one_line_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", str(tmp_path / "nothing")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "not a sweep directory" in result.output
