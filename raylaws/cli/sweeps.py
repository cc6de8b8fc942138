"""Commands that run or follow a sweep: ``run``, ``resume``, ``status``, and the live
per-size progress they show (``_Progress``, also used by ``debug --rerun``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from raylaws.cli._app import (EXIT_PROBLEMS, _error, _guarded, _loss, _print_best, _quiet_libraries, _spec_file,
                              _status_table, _task_title, command, err, out)
from raylaws.cli.specs import SPEC_HELP


@command
def run(
    spec: Path = typer.Argument(..., help=SPEC_HELP),
    storage: str = typer.Option("results", help="root of sweeps: a directory, or a URI pyarrow.fs reads "
                                                "(s3://bucket/prefix?endpoint_override=host:port&scheme=http, gs://...)"),
    name: Optional[str] = typer.Option(None, help="sweep name (default: the spec's name)"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address (auto, host:port, ray://host:port); "
                                                     "default: a local Ray started in-process"),
    quiet: bool = typer.Option(False, help="no live progress"),
) -> None:
    """Run a tuned sweep over the spec's ladder, then print the best config per size.

    On an existing sweep of the same spec (same --storage and --name) this resumes it.
    """
    import raylaws

    path = _spec_file(spec)
    _quiet_libraries(local=address is None)
    display = _Progress(enabled=not quiet)
    with display:
        sweep = _guarded(lambda: raylaws.run(path, storage=storage, name=name, address=address,
                                             on_event=display.event, on_start=display.start,
                                             on_data=display.data))
    _finish(sweep)


@command
def resume(
    sweep_dir: str = typer.Argument(..., help="a sweep directory or URI, <storage>/<name>"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address; default: a local Ray"),
    quiet: bool = typer.Option(False, help="no live progress"),
) -> None:
    """Resume an interrupted sweep from its directory: nothing lost, nothing trained twice."""
    import raylaws

    _quiet_libraries(local=address is None)
    display = _Progress(enabled=not quiet)
    with display:
        sweep = _guarded(lambda: raylaws.resume(sweep_dir, address=address, on_event=display.event,
                                                on_start=display.start, on_data=display.data))
    _finish(sweep)


def _finish(sweep: Any) -> None:
    """The best config per size; exit 1 naming the sizes with no completed trial."""
    _print_best(sweep.best_per_size(), title=f"{sweep.name}: best per size", designs=sweep.spec.design_names)
    for task in sweep.tasks():
        _print_best(sweep.best_per_size(task), title=_task_title(sweep, task))
    out.print(f"results: {sweep.path}", highlight=False)
    _write_report(sweep)
    missing = sweep.sizes_without_result()
    if missing:
        _error(f"no completed trial for size(s) {', '.join(missing)} (every trial pruned, diverged or failed); "
               f"see `raylaws status {sweep.path}`")
        raise typer.Exit(EXIT_PROBLEMS)


@command
def status(sweep_dir: str = typer.Argument(..., help="a sweep directory or URI, <storage>/<name>")) -> None:
    """Show how far a sweep is: per size, trials recorded of budget, pruned, best loss."""
    import raylaws

    sweep = _guarded(lambda: raylaws.open(sweep_dir))
    status = _guarded(sweep.status)
    rows = status.to_pylist()
    title = f"{sweep.name}: {sum(r['done'] for r in rows)}/{sum(r['budget'] for r in rows)} trials recorded"
    out.print(_status_table(rows, title=title, live=False))
    tasks = _guarded(sweep.task_status).to_pylist()
    if tasks:
        title = (f"{sweep.name} finetuning: {sum(r['done'] for r in tasks)}/{sum(r['budget'] for r in tasks)} "
                 "trials recorded")
        out.print(_task_status_table(tasks, title=title))


def _task_status_table(rows: list[dict[str, Any]], *, title: str) -> Table:
    """The per (size, task) status (:func:`raylaws.views.task_status` rows) as a table."""
    view = Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 1), pad_edge=False)
    for column in ("size", "task", "done", "search", "seeds", "pruned", "failed", "metric", "best"):
        view.add_column(column, justify="left" if column in ("size", "task", "metric") else "right")
    for row in rows:
        view.add_row(row["size"], row["task"], f"{row['done']}/{row['budget']}", str(row["search_done"]),
                     str(row["seeds_done"]), str(row["pruned"]), str(row["failed"]), row["metric"],
                     _loss(row["best_score"]))
    return view


def _write_report(sweep: Any) -> None:
    """After a sweep: write its HTML report and say where; a report that fails is a warning,
    never a failed sweep (its results are already stored)."""
    from raylaws.report import write_report

    try:
        path = write_report(sweep)
    except Exception as error:  # noqa: BLE001 - the sweep itself succeeded
        err.print(f"warning: no report ({type(error).__name__}: {error}); try `raylaws report {sweep.path}`",
                  markup=False, highlight=False)
        return
    out.print(f"report: {path}", highlight=False)


class _Progress:
    """Live per-size progress: trials done of budget, running, pruned, best loss; overall ETA."""

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled and err.is_terminal
        self.planner: Any = None
        self.started = time.monotonic()
        self._live: Optional[Live] = None
        self._done_at_start = 0
        self._slots = 1  # most trials seen running at once
        self._data: Any = None  # the latest PrepareProgress

    def __enter__(self) -> "_Progress":
        if self.enabled:
            self._live = Live(Text("starting Ray..."), console=err, refresh_per_second=2, transient=False,
                              get_renderable=self.render)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def start(self, planner: Any) -> None:
        self.planner = planner
        self.started = time.monotonic()
        self._done_at_start = planner.n_recorded()
        if self._done_at_start or any(planner.resumed.values()):
            err.print(f"resuming: {self._done_at_start} of {planner.total_trials} trials already recorded; "
                      f"{len(planner.resumed['reattached'])} interrupted trial(s) to run again", highlight=False,
                      markup=False)

    def data(self, progress: Any) -> None:
        """The corpus' preparation (before any trial): shown live, or as a line when not live."""
        self._data = progress
        if not self.enabled and self.planner is None:
            err.print(f"[{progress.seconds:6.0f}s] preparing data: {progress.line()}", highlight=False, markup=False)

    def event(self, event: Any) -> None:
        if not self.enabled and self.planner is not None and event.kind == "finished":
            done = self.planner.n_recorded()
            err.print(f"[{time.monotonic() - self.started:6.0f}s] {event.trial_id}: {event.status} "
                      f"{_loss(event.eval_loss)}  ({done}/{self.planner.total_trials})", highlight=False,
                      markup=False)

    def render(self) -> Any:
        if self.planner is None:
            if self._data is not None:
                return Text(f"preparing data: {self._data.line()}")
            return Text("preparing data and starting Ray...")
        from raylaws.views import remaining_seconds

        status = self.planner.status()
        rows = status.to_pylist()
        done = sum(r["done"] for r in rows)
        total = self.planner.total_trials
        elapsed = time.monotonic() - self.started
        self._slots = max(self._slots, sum(r["running"] for r in rows))
        remaining = remaining_seconds(status, self._slots)
        eta = "-" if remaining is None else f"{remaining:.0f}s"
        table = _status_table(rows, title=None, live=True)
        footer = Text(f"{done}/{total} trials  elapsed {elapsed:.0f}s  ETA {eta}")
        return Group(table, footer)


