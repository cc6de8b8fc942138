"""Impossible work is refused before Ray starts, in one line with the numbers; a sweep that
ends with a size that has no completed trial says which."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

import raylaws
from raylaws.cli import app
from raylaws.ladder import build_ladder
from raylaws.memory import check_memory, trial_memory
from raylaws.spec import load_spec, spec_from_dict
from raylaws.trial import Status
from tests.conftest import REPO, tiny_spec_dict
from tests.sweep_tests._fake import fake_runner, write_spec


def test_a_size_too_big_for_this_machine_is_refused_before_ray_in_one_line(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import raylaws.tune

    monkeypatch.setattr(raylaws.tune, "run_trials", lambda *a, **k: pytest.fail("Ray was started"))
    spec = write_spec(tmp_path, ladder={"aspect_ratio": 4096, "layers": [200], "n_heads": 4})
    result = CliRunner().invoke(app, ["run", str(spec), "--storage", str(tmp_path / "results"), "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "size L200-H819200 needs at least" in result.output and "GiB" in result.output
    assert not (tmp_path / "results" / "tiny" / "spec.yaml").exists()


def test_the_estimate_counts_state_and_activations() -> None:
    spec = spec_from_dict(tiny_spec_dict())
    size = build_ladder(spec)[-1]  # L2-H16, 2 heads; vocab 300, seq 32, batch up to 16, fp32, tied
    need = trial_memory(spec, size, vocab_size=300)
    assert need.parameters == size.n_params_exact + 300 * 16 + 32 * 16
    assert need.state_bytes == 16 * need.parameters
    # L * b * s * (34 H + 5 a s), doubled in fp32, plus logits and their gradient b * s * V * 8
    assert need.activation_bytes == 2 * 16 * 32 * (34 * 16 + 5 * 2 * 32) * 2 + 16 * 32 * 300 * 8
    with pytest.raises(raylaws.SweepError, match="L1-H8 needs at least"):
        check_memory(spec, build_ladder(spec), vocab_size=300, total_bytes=1000)


def test_the_demo_and_paper_specs_fit_this_machine() -> None:
    for name in ("demo.yaml",):
        spec = load_spec(REPO / "search_spaces" / name)
        check_memory(spec, build_ladder(spec), vocab_size=spec.data.tokenizer.vocab_size)


@pytest.mark.parametrize("kind", ["fifo", "device", "binary", "fifo in a directory", "bin without dtype"])
def test_a_data_source_that_is_not_text_files_is_refused_in_one_line(tmp_path: Path, kind: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "corpus.txt"
    if kind == "fifo":
        os.mkfifo(source)
    elif kind == "device":
        source.symlink_to("/dev/zero")
    elif kind == "binary":
        source.write_bytes(bytes(range(256)) * 100)
    elif kind == "fifo in a directory":
        source = tmp_path / "corpus"
        source.mkdir()
        (source / "a.txt").write_text("fine text\n" * 100)
        os.mkfifo(source / "b.txt")
    else:
        source = tmp_path / "ids.bin"
        source.write_bytes(b"\0" * 5000)
    data = {"source": str(source)}
    if kind == "bin without dtype":
        data.update(tokens={"vocab_size": 300, "eos_id": 0}, tokenizer={"kind": "none"})
    spec = write_spec(tmp_path, data=data)
    result = CliRunner().invoke(app, ["run", str(spec), "--storage", str(tmp_path / "results"), "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "data.source" in result.output or "data.tokens.dtype" in result.output


def test_a_sweep_ending_with_a_size_without_a_completed_trial_exits_1_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, status=Status.FAILED)
    result = CliRunner().invoke(app, ["run", str(write_spec(tmp_path)), "--storage", str(tmp_path / "results"),
                                      "--quiet"])
    assert result.exit_code == 1
    assert "error: no completed trial for size(s) L1-H8, L2-H16" in result.output
