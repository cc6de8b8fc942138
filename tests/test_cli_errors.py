"""Every bad case of the CLI ends in one line and a documented exit code, with nothing torn."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import raylaws
from raylaws.cli import app
from tests.conftest import tiny_spec_dict
from tests.sweep_tests._fake import fake_runner, write_spec


def one_line(result: object, code: int = 2) -> str:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == code, output  # type: ignore[attr-defined]
    assert output.count("\n") == 1 and "Traceback" not in output, output
    return output


@pytest.fixture
def sweep_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    fake_runner(monkeypatch)
    return raylaws.run(write_spec(tmp_path), storage=tmp_path / "results").path


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"raylaws {raylaws.__version__}\n"


def test_a_deeply_nested_yaml_is_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "deep.yaml"
    spec.write_text("name: " + "[" * 5000 + "]" * 5000)
    assert "nested too deeply" in one_line(CliRunner().invoke(app, ["validate", str(spec)]))


def test_a_huge_yaml_is_refused_by_its_size_before_it_is_parsed(tmp_path: Path) -> None:
    spec = tmp_path / "huge.yaml"
    spec.write_text("# " + "x" * (2 << 20))
    assert "cap for a spec" in one_line(CliRunner().invoke(app, ["validate", str(spec)]))


def test_a_rung_name_that_is_no_file_name_is_refused_at_validation(tmp_path: Path) -> None:
    spec = tmp_path / "rungs.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(ladder={"rungs": [{"name": "../x", "n_layers": 1, "d_model": 8,
                                                                     "n_heads": 2}]})))
    assert "ladder.rungs[0].name" in one_line(CliRunner().invoke(app, ["validate", str(spec)]))


@pytest.mark.parametrize("args, says", [
    (["--level", "1.5"], "--level"),
    (["--holdout", "0"], "--holdout"),
    (["--holdout", "-1"], "--holdout"),
    (["--holdout", "10"], "--holdout: 10 of 2 sizes"),
    (["--bootstrap", "-3"], "--bootstrap"),
])
def test_fit_arguments_out_of_range_are_one_line(sweep_dir: Path, args: list[str], says: str) -> None:
    assert says in one_line(CliRunner().invoke(app, ["fit", str(sweep_dir), *args]))


def test_fit_of_a_two_size_sweep_prints_the_law_and_skips_what_needs_more_sizes(sweep_dir: Path) -> None:
    result = CliRunner().invoke(app, ["fit", str(sweep_dir), "--bootstrap", "20"])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "backtest: skipped" in result.output and "off-law sizes: not checked" in result.output


@pytest.mark.parametrize("format", ["csv", "json", "parquet"])
def test_best_writes_every_format_to_the_output_file(sweep_dir: Path, tmp_path: Path, format: str) -> None:
    target = tmp_path / f"best.{format}"
    result = CliRunner().invoke(app, ["best", str(sweep_dir), "--format", format, "-o", str(target)])
    assert result.exit_code == 0 and result.output == "" and target.stat().st_size > 0


def test_best_to_a_missing_folder_is_one_line_and_leaves_nothing(sweep_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "dir" / "x"
    output = one_line(CliRunner().invoke(app, ["best", str(sweep_dir), "--format", "parquet", "-o", str(target)]))
    assert "cannot write" in output and str(target) in output and not (tmp_path / "missing").exists()


def test_tunes_restore_hint_is_dropped_and_other_tune_warnings_kept(caplog: pytest.LogCaptureFixture) -> None:
    from raylaws.tune._run import _hide_tune_restore_hint

    _hide_tune_restore_hint()
    tune_logger = logging.getLogger("ray.tune.tune")
    with caplog.at_level(logging.WARNING, logger="ray.tune.tune"):
        tune_logger.warning("Experiment has been interrupted, but the most recent state was saved.\n"
                            "Resume experiment with: Tuner.restore(path=\"/x\", trainable=...)")
        tune_logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_a_local_run_states_token_authentication_so_ray_prints_no_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from raylaws.cli import _quiet_libraries

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    _quiet_libraries(local=True)
    assert os.environ["RAY_AUTH_MODE"] == "token"  # Ray's token auth stays on; Ray is silent when it is explicit
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    _quiet_libraries(local=True)
    assert os.environ["RAY_AUTH_MODE"] == "disabled"  # a user's own choice is kept


def test_a_full_disk_inside_tune_comes_out_as_the_one_line_sweep_error() -> None:
    from raylaws.sweep._run import _sweep_error_in

    inner = raylaws.SweepError("cannot write the record of L1-H8.s000 (No space left on device)")
    try:
        try:
            raise inner
        except raylaws.SweepError as error:
            raise RuntimeError("Tune wrapped it") from error
    except RuntimeError as wrapped:
        assert _sweep_error_in(wrapped) is inner
