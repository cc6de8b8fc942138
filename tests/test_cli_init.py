"""`raylaws init`, the packaged examples by name, and `raylaws --help` reading cleanly."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from raylaws.cli import app
from raylaws.examples import EXAMPLES, example_path, folder, spec_path
from tests.conftest import REPO

runner = CliRunner()
COMMANDS = get_command(app).commands  # type: ignore[attr-defined]


def test_the_examples_are_the_files_of_search_spaces() -> None:
    assert {filename for filename, _ in EXAMPLES.values()} == {p.name for p in (REPO / "search_spaces").glob("*.yaml")}
    for name, (filename, _) in EXAMPLES.items():
        assert example_path(name).read_bytes() == (REPO / "search_spaces" / filename).read_bytes()
    assert folder().resolve() == (REPO / "search_spaces").resolve()  # the editable install maps the package here


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_init_writes_the_example(name: str, tmp_path: Path) -> None:
    target = tmp_path / "spec.yaml"
    result = runner.invoke(app, ["init", "--example", name, str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes() == (REPO / "search_spaces" / EXAMPLES[name][0]).read_bytes()
    assert f"wrote {target}" in result.output


def test_init_writes_the_demo_by_default(tmp_path: Path) -> None:
    target = tmp_path / "spec.yaml"
    assert runner.invoke(app, ["init", str(target)]).exit_code == 0
    assert target.read_bytes() == (REPO / "search_spaces" / "demo.yaml").read_bytes()


def test_init_refuses_to_overwrite_without_force_in_one_line(tmp_path: Path) -> None:
    target = tmp_path / "spec.yaml"
    target.write_text("mine")
    result = runner.invoke(app, ["init", str(target)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "exists; give --force" in result.output and target.read_text() == "mine"
    assert runner.invoke(app, ["init", "--force", "--example", "paper", str(target)]).exit_code == 0
    assert target.read_bytes() == (REPO / "search_spaces" / "paper_mlm_ar32.yaml").read_bytes()


@pytest.mark.parametrize("args, says", [
    (["--example", "nope", "x.yaml"], "--example: 'nope' is not one of demo, finetune, paper"),
    ([], "give the FILE to write"),
    (["."], "is a directory"),  # with --force too: a folder is never replaced
])
def test_init_bad_arguments_are_one_line(args: list[str], says: str, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for extra in ([], ["--force"]) if args == ["."] else ([],):
        result = runner.invoke(app, ["init", *extra, *args])
        assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
        assert says in result.output
    assert not (tmp_path / "x.yaml").exists()


def test_init_list_names_each_example_on_one_line() -> None:
    result = runner.invoke(app, ["init", "--list"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(EXAMPLES)
    assert all(EXAMPLES[line.split()[0]][0] in line for line in lines)
    help_text = runner.invoke(app, ["init", "--help"]).output
    assert all(name in help_text and filename in help_text for name, (filename, _) in EXAMPLES.items())


def test_a_spec_argument_takes_an_example_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", *EXAMPLES])
    assert result.exit_code == 0 and result.output.count("ok: ") == len(EXAMPLES), result.output
    ladder = runner.invoke(app, ["ladder", "paper"])
    assert ladder.exit_code == 0 and "6,291,456" in ladder.output


def test_a_path_that_exists_wins_over_an_example_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("demo").write_text((REPO / "search_spaces" / "paper_mlm_ar32.yaml").read_text())
    assert spec_path("demo") == Path("demo")
    result = runner.invoke(app, ["ladder", "demo"])
    assert result.exit_code == 0 and "paper-mlm-ar32" in result.output


@pytest.mark.parametrize("command", ["validate", "ladder", "data", "run"])
def test_an_unknown_name_is_the_no_such_file_line_listing_the_examples(command: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [command, "demoo"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "no such file 'demoo'" in result.output and "example's name (demo, finetune, paper)" in result.output
    assert not (tmp_path / "results").exists()


def _summaries(help_text: str) -> dict[str, str]:
    """Each command's summary in the Commands panel of `raylaws --help`, its wrapped lines joined."""
    panel = help_text[help_text.index("Commands"):]
    summaries: dict[str, str] = {}
    current = None
    for line in panel.splitlines()[1:]:
        if not line.startswith("│"):
            break
        cells = line.strip("│ ").split(maxsplit=1)
        if line[2] != " " and cells and cells[0] in COMMANDS:
            current = cells[0]
            summaries[current] = cells[1] if len(cells) > 1 else ""
        elif current is not None:
            summaries[current] += " " + line.strip("│ ")
    return summaries


def test_every_command_has_a_one_sentence_summary_that_is_whole_in_the_help() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    summaries = _summaries(result.output)
    assert set(summaries) == set(COMMANDS)
    for name, command in COMMANDS.items():
        first = command.help.split("\n\n")[0]
        assert "\n" not in first and first.endswith("."), (name, first)
        assert " ".join(summaries[name].split()) == first, (name, summaries[name])


def test_the_long_help_stays_on_the_command() -> None:
    result = runner.invoke(app, ["debug", "--help"])
    assert "Say why sizes sit off the law" in result.output and "--set" in result.output
    assert "neighbours'" in result.output  # the second paragraph


def test_fit_keeps_its_options_names_and_defaults() -> None:
    params = {p.name: p for p in COMMANDS["fit"].params}
    options = {name: (tuple(p.opts), p.default) for name, p in params.items() if name != "help"}
    assert options == {
        "sweep_dir": (("sweep_dir",), None), "form": (("--form",), "power"), "y": (("--y", "--metric"), None),
        "bootstrap": (("--bootstrap",), 1000), "holdout": (("--holdout",), None), "level": (("--level",), 0.95),
        "seed": (("--seed",), 0), "x": (("--x",), None), "group": (("--group",), None),
        "seed_column": (("--seed-column",), None), "task": (("--task",), None), "design": (("--design",), None)}


def test_a_table_without_x_is_the_same_one_line(tmp_path: Path) -> None:
    table = tmp_path / "t.csv"
    table.write_text("n,loss\n1,2\n")
    result = runner.invoke(app, ["fit", str(table), "--y", "loss"])
    assert result.exit_code == 2 and result.output == f"error: {table}: a table needs --x COL and --y COL\n"


@dataclasses.dataclass
class Pair:
    a: int = typer.Option(1, "--a")
    b: str = typer.Option("x", "--b")


def test_option_group_passes_the_group_as_one_instance() -> None:
    from raylaws.cli._app import option_group

    seen = []

    def command(first: int = typer.Option(0, "--first"), pair: Pair = Pair()) -> None:
        seen.append((first, pair))

    grouped = option_group(command)
    assert list(inspect.signature(grouped).parameters) == ["first", "a", "b"]
    one = typer.Typer()
    one.command()(grouped)
    assert CliRunner().invoke(one, ["--first", "3", "--b", "y"]).exit_code == 0
    assert seen == [(3, Pair(a=1, b="y"))]
