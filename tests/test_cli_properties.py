"""Property tests: random arguments at every command end in a documented exit code, never a
traceback. In-process (CliRunner), no Ray: no random argument list names a runnable spec."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.main import get_command
from typer.testing import CliRunner

from raylaws.cli import app

COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]
OPTIONS = ["--storage", "--name", "--address", "--quiet", "--format", "-o", "--output", "--form", "--metric",
           "--bootstrap", "--holdout", "--level", "--seed", "--version", "--help", "--x", "--y", "--group",
           "--seed-column", "--task", "--design", "--at", "--a", "--b", "--rerun", "--set", "--size", "--continue",
           "--example", "--force", "--list", "--cluster", "--nodes", "--price", "--steps"]
WORDS = st.one_of(st.sampled_from(OPTIONS), st.text(max_size=12),
                  st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(str))


def test_every_command_is_covered() -> None:
    assert COMMANDS == ["best", "check", "compare", "data", "debug", "fit", "init", "ladder", "plan", "report",
                        "resume", "run", "status", "validate"]


@pytest.mark.parametrize("command", COMMANDS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(WORDS, max_size=5))
def test_random_arguments_end_in_a_documented_code_without_a_traceback(command: str, words: list[str],
                                                                       tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative paths name nothing that exists
    words = [w for w in words if "\x00" not in w]
    result = CliRunner().invoke(app, [command, *words])
    assert result.exit_code in (0, 1, 2), (words, result.output)
    assert result.exception is None or isinstance(result.exception, (SystemExit, click.exceptions.Exit)), (
        words, repr(result.exception))
    assert "Traceback" not in result.output
