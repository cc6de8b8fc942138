"""`raylaws data`: prepares with progress lines and a summary; bad data is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from typer.testing import CliRunner

from raylaws.cli import app
from tests.conftest import tiny_spec_dict
from tests.data_tests.conftest import corpus


def _spec(tmp_path: Path, **data: object) -> Path:
    raw = tiny_spec_dict()
    raw["data"] = {**raw["data"], **data}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_data_prepares_once_and_says_what_it_holds(tmp_path: Path) -> None:
    folder = tmp_path / "text"
    folder.mkdir()
    for i, text in enumerate(corpus(200)):
        (folder / f"{i:03d}.txt").write_text(text)
    spec = _spec(tmp_path, source=str(folder), max_tokens=None, shard_bytes=1 << 13)
    first = CliRunner().invoke(app, ["data", str(spec)])
    assert first.exit_code == 0, first.output
    assert "encode" in first.output and "tokens at" in first.output and "s left" in first.output  # progress
    assert "training tokens" in first.output and "uint16, vocabulary 300" in first.output
    again = CliRunner().invoke(app, ["data", str(spec), "--verify"])
    assert again.exit_code == 0 and "encode" not in again.output  # found, not prepared again


def test_ids_beyond_the_vocabulary_stop_a_run_before_any_trial(tmp_path: Path) -> None:
    ids = np.arange(20_000, dtype=np.uint16) % 400
    ids.tofile(tmp_path / "ids.bin")
    spec = _spec(tmp_path, source=str(tmp_path / "ids.bin"), tokenizer={"kind": "none"}, max_tokens=None,
                 tokens={"vocab_size": 300, "eos_id": 0, "dtype": "uint16"})
    result = CliRunner().invoke(app, ["run", str(spec), "--storage", str(tmp_path / "results"), "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "data.tokens.vocab_size" in result.output and "399" in result.output
    assert not list((tmp_path / "results").rglob("*.parquet"))  # no trial ran
