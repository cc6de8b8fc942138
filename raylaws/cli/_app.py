"""What every command shares: the typer ``app``, the consoles, exit codes, one-line errors,
option groups, spec paths (or example names) and the tables more than one command prints."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import math
import sys
import typing
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tuned, multi-seed scaling-law sweeps on Ray (Ivgi, Carmon & Berant 2022).")
# Piped output (files, CI logs, tests) gets wide tables rather than truncated columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

EXIT_PROBLEMS = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130

Command = TypeVar("Command", bound=Callable[..., Any])


def main() -> None:
    """Entry point of the ``raylaws`` script."""
    app()


def command(function: Optional[Command] = None, *, doc: Optional[str] = None) -> Any:
    """Register ``function`` as a command of ``app`` (``@command``, or ``@command(doc=...)`` for a
    help text built at import).

    Its help is its docstring with each paragraph on one line (the terminal wraps it; a paragraph
    starting with ``\\b`` keeps its lines); the first paragraph, one sentence, is its summary in
    ``raylaws --help``.
    """
    def register(function: Command) -> Command:
        paragraphs = inspect.cleandoc(doc or function.__doc__ or "").split("\n\n")
        text = "\n\n".join(p.replace("\b\n", "") if p.startswith("\b") else " ".join(p.split())
                            for p in paragraphs)
        return app.command(help=text)(function)

    return register if function is None else register(function)


def _version(value: bool) -> None:
    if value:
        import raylaws

        print(f"raylaws {raylaws.__version__}")
        raise typer.Exit()


@app.callback()
def _options(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                          help="print the version and exit")) -> None:
    """Tuned, multi-seed scaling-law sweeps on Ray (Ivgi, Carmon & Berant 2022)."""
    import warnings

    # A warning (a bad record file, a fit falling back) is one line, like an error.
    warnings.showwarning = _warning_line


def _warning_line(message: Any, category: Any, filename: str, lineno: int, file: Any = None,
                  line: Optional[str] = None) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def _guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; turn input errors into one line each and exit code 2."""
    from raylaws.spec import SpecError
    from raylaws.sweep import SweepError, SweepInterrupted

    try:
        return action()
    except SweepInterrupted as error:
        _error(str(error))
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        _error("interrupted; continue with `raylaws resume <storage>/<name>`")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except SpecError as error:
        for problem in error.problems:
            _error(f"{error.source}: {problem}")
        raise typer.Exit(EXIT_INPUT) from None
    except SweepError as error:
        _error(str(error))
        raise typer.Exit(EXIT_INPUT) from None
    except OSError as error:  # an output file that cannot be written, a full disk
        where = f" {error.filename!r}" if getattr(error, "filename", None) else ""
        _error(f"cannot write{where}: {error.strerror or error}")
        raise typer.Exit(EXIT_INPUT) from None


def _error(line: str) -> None:
    """One unwrapped line on stderr (scripts grep these)."""
    print(f"error: {line}", file=sys.stderr, flush=True)


def _spec_file(spec: Path) -> Path:
    """A spec argument: an existing path as given, else the packaged example of that name
    (``raylaws run demo``); neither is the one-line "no such file" error, listing the examples."""
    from raylaws.examples import spec_path

    return _guarded(lambda: spec_path(spec))


def option_group(command: Command) -> Command:
    """Let ``command`` take a dataclass of options as one parameter.

    Each parameter annotated with a dataclass whose fields default to ``typer.Option(...)``
    stands, on the command line, for those options (in its place, with their names, defaults
    and help); the command receives them as one instance of the dataclass.
    """
    hints = typing.get_type_hints(command)
    groups: dict[str, Any] = {}
    parameters = []
    for parameter in inspect.signature(command).parameters.values():
        kind = hints.get(parameter.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            groups[parameter.name] = kind
            field_hints = typing.get_type_hints(kind)
            parameters += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                             annotation=field_hints[f.name]) for f in dataclasses.fields(kind)]
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY,
                                                annotation=hints.get(parameter.name, parameter.annotation)))
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise TypeError(f"{command.__name__}: an option group repeats a parameter name")

    @functools.wraps(command)
    def grouped(**values: Any) -> Any:
        for name, kind in groups.items():
            values[name] = kind(**{f.name: values.pop(f.name) for f in dataclasses.fields(kind)})
        return command(**values)

    grouped.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    grouped.__annotations__ = {p.name: p.annotation for p in parameters}
    del grouped.__wrapped__  # typer reads the flattened signature, not the command's own
    return typing.cast(Command, grouped)


def _write_file(path: Path, content: bytes) -> None:
    """Write a whole file or nothing: a temp file beside it, then a rename."""
    import os

    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_bytes(content)
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None


def _quiet_libraries(*, local: bool = False) -> None:
    import os

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if local:
        # The local Ray keeps token authentication on (other users of the machine cannot reach
        # it); saying so explicitly keeps Ray from printing its notice as if something were wrong.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    for name in ("ray", "ray.tune", "ray.train", "optuna"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _loss(value: Optional[float]) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _span(values: list[float], pattern: str) -> str:
    low, high = values[0], values[-1]
    return pattern.format(low) if low == high else f"{pattern.format(low)}-{pattern.format(high)}"


def _task_title(sweep: Any, task: str) -> str:
    metric = next(t.metric for t in sweep.spec.finetune.tasks if t.name == task)
    return f"{sweep.name}: best per size, task {task} (loss = 1 - {metric})"


def _status_table(rows: list[dict[str, Any]], *, title: Optional[str], live: bool) -> Table:
    """The per-size status (:func:`raylaws.views.size_status` rows) as a table: trials done of
    budget, by phase and status; ``live`` adds the trials running now."""
    columns = ["size", "N", "done", *(["running"] if live else []), "search", "seeds", "pruned", "diverged",
               "failed", "best loss"]
    table = Table(title=title, box=None if live else box.HEAVY_HEAD, pad_edge=not live)
    for column in columns:
        table.add_column(column, justify="left" if column == "size" else "right")
    for r in rows:
        cells = [r["size"], f"{r['n_params']:,}", f"{r['done']}/{r['budget']}",
                 *([str(r["running"])] if live else []), str(r["search_done"]), str(r["seeds_done"]),
                 str(r["pruned"]), str(r["diverged"]), str(r["failed"]), _loss(r["best_loss"])]
        table.add_row(*cells)
    return table


def _print_best(table: Any, *, title: str, designs: Optional[list[str]] = None) -> None:
    from raylaws.views import loglog_line

    rows = table.to_pylist()
    view = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 1), pad_edge=False)  # fits 80 columns
    for column in ("size", "N", "lr", "batch", "seeds", "loss", "std", "trials", "pruned"):
        view.add_column(column, justify="left" if column == "size" else "right", min_width=len(column))
    for row in rows:
        view.add_row(row["size"], f"{row['n_params']:,}",  # lr as 2.9e-02: fits 80 columns
                     f"{row['learning_rate']:.1e}" if row["learning_rate"] else "-",
                     str(row["batch_size"] or "-"), str(row["n_seeds"]), _loss(row["loss_mean"]),
                     _loss(row["loss_std"]), str(row["n_trials"]), str(row["n_pruned"]))
    out.print(view)
    for design in designs or [None]:  # one line per design: designs are never fitted together
        measured = [r for r in rows if r["loss_mean"] is not None
                    and (design is None or r["size"].startswith(f"{design}."))]
        line = loglog_line([r["n_params"] for r in measured], [r["loss_mean"] for r in measured])
        if line is not None:
            slope, r2 = line
            of = f" of design {design}" if design else ""
            out.print(f"log-log fit of loss_mean{of} against n_params (N = 12*L*H^2): slope {slope:.4f}, "
                      f"R^2 {r2:.4f} over {len(measured)} sizes", highlight=False)
