"""The ``raylaws`` command: a thin layer over the public API; the only place that prints.

Each command parses its arguments and calls one public function. Bad input is reported as
one line per problem on stderr with exit code 2, and no traceback, before Ray starts.

Exit codes: 0 done; 1 a finished sweep with a size that has no completed trial, or
``raylaws check`` found problems; 2 bad input (spec, paths, arguments, an unusable sweep);
130 interrupted (resumable).
"""

from __future__ import annotations

import io
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Tuned, multi-seed scaling-law sweeps on Ray (Ivgi, Carmon & Berant 2022).")
# Piped output (files, CI logs, tests) gets wide tables rather than truncated columns.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

EXIT_PROBLEMS = 1
EXIT_INPUT = 2
EXIT_INTERRUPTED = 130


def main() -> None:
    """Entry point of the ``raylaws`` script."""
    app()


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


@app.command()
def validate(specs: list[Path] = typer.Argument(..., help="spec YAML files")) -> None:
    """Check spec files without running anything."""
    from raylaws.ladder import build_ladder
    from raylaws.spec import load_spec

    failed = False
    for path in specs:
        try:
            _guarded(lambda: build_ladder(load_spec(path)))
            out.print(f"ok: {path}", highlight=False)
        except typer.Exit:
            failed = True
    if failed:
        raise typer.Exit(EXIT_INPUT)


@app.command()
def ladder(spec: Path = typer.Argument(..., help="spec YAML file")) -> None:
    """Print the model sizes of a spec: shapes, N, tokens and training FLOPs (6*N*D) per trial,
    and what one trial of each size asks of the cluster (resources and backend)."""
    from raylaws.ladder import build_ladder
    from raylaws.spec import load_spec

    loaded = _guarded(lambda: load_spec(spec))
    sizes = _guarded(lambda: build_ladder(loaded))
    table = Table(title=f"{loaded.name}: {loaded.objective} ladder "
                        "(N = 12*L*H^2 non-embedding; exact = built model without embeddings)")
    for column in ("size", "L", "H", "heads", "d_ff", "N", "N exact", "tokens/trial", "FLOPs/trial",
                   "resources per trial"):
        table.add_column(column, justify="left" if column in ("size", "resources per trial") else "right")
    seq_len = loaded.data.seq_len
    for size in sizes:
        tokens = sorted({loaded.training.total_steps(b, seq_len) * b * seq_len for b in loaded.search.batch_size})
        flops = [size.flops(t) for t in tokens]
        table.add_row(size.name, str(size.n_layers), str(size.d_model), str(size.n_heads), str(size.d_ff),
                      f"{size.n_params:,}", f"{size.n_params_exact:,}", _span(tokens, "{:,.0f}"),
                      _span(flops, "{:.2e}"), size.resources.describe() + f", {loaded.training.precision}")
    out.print(table)


@app.command()
def data(
    spec: Path = typer.Argument(..., help="spec YAML file"),
    verify: bool = typer.Option(False, help="check every shard of an already prepared corpus against its hash"),
    quiet: bool = typer.Option(False, help="no progress lines"),
) -> None:
    """Prepare the spec's corpus once (or find it prepared) and print where it is and what it holds.

    A sweep prepares its data itself; run this first for a large corpus to watch it (tokens/s,
    time left) and to resume it if it is stopped: finished shards are kept."""
    import raylaws.data
    from raylaws.spec import load_spec

    loaded = _guarded(lambda: load_spec(spec))

    def progress(step: Any) -> None:
        if not quiet:
            err.print(f"[{step.seconds:6.0f}s] {step.line()}", highlight=False, markup=False)

    prepared = _guarded(lambda: raylaws.data.prepare(loaded.data, progress=progress, verify=verify))
    table = Table(title=f"{loaded.name}: data {prepared.fingerprint}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    stream = prepared.train
    for label, value in (("source", loaded.data.source.split("?")[0]), ("training tokens", f"{len(stream):,}"),
                         ("held-out tokens", f"{len(prepared.eval):,}"), ("shards", f"{len(stream.shards):,}"),
                         ("ids", f"{stream.dtype}, vocabulary {prepared.vocab_size:,}"),
                         ("tokenizer", prepared.tokenizer_path or "none"), ("folder", prepared.folder)):
        table.add_row(label, value)
    out.print(table)


@app.command()
def run(
    spec: Path = typer.Argument(..., help="spec YAML file"),
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

    _quiet_libraries(local=address is None)
    display = _Progress(enabled=not quiet)
    with display:
        sweep = _guarded(lambda: raylaws.run(spec, storage=storage, name=name, address=address,
                                             on_event=display.event, on_start=display.start,
                                             on_data=display.data))
    _finish(sweep)


@app.command()
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


@app.command()
def check(sweep_dir: str = typer.Argument(..., help="a sweep directory or URI, <storage>/<name>")) -> None:
    """List what is inconsistent in a sweep: unreadable record files, staged leftovers, the
    Optuna journal against the records, an edited spec.yaml. Exit 0 if none, 1 if any."""
    import raylaws

    findings = _guarded(lambda: raylaws.check(sweep_dir))
    for finding in findings:
        print(finding)
    if findings:
        raise typer.Exit(EXIT_PROBLEMS)
    out.print(f"ok: {sweep_dir}", highlight=False)


@app.command()
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


def _task_title(sweep: Any, task: str) -> str:
    metric = next(t.metric for t in sweep.spec.finetune.tasks if t.name == task)
    return f"{sweep.name}: best per size, task {task} (loss = 1 - {metric})"


@app.command()
def best(
    sweep_dir: str = typer.Argument(..., help="a sweep directory or URI, <storage>/<name>"),
    format: str = typer.Option("table", "--format", help="table, csv, json or parquet"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="file for csv, json or parquet "
                                                                         "(default: stdout)"),
    task: Optional[str] = typer.Option(None, "--task", help="a finetuning task of the sweep: its best per size "
                                                            "(loss = 1 - metric) instead of pretraining's"),
) -> None:
    """Print the best learning rate / batch size / loss per size (of pretraining, or of a task)."""
    import raylaws

    if format not in ("table", "csv", "json", "parquet"):
        _error(f"--format: {format!r} is not one of table, csv, json, parquet")
        raise typer.Exit(EXIT_INPUT)
    if output is not None and format == "table":
        _error("--output: give --format csv, json or parquet to write a file")
        raise typer.Exit(EXIT_INPUT)
    sweep = _guarded(lambda: raylaws.open(sweep_dir))
    table = _guarded(lambda: sweep.best_per_size(task))
    if format == "table":
        _print_best(table, title=f"{sweep.name}: best per size" if task is None else _task_title(sweep, task),
                    designs=sweep.spec.design_names if task is None else None)
        return
    buffer = io.BytesIO()
    if format == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, buffer)
    elif format == "json":
        buffer.write((json.dumps(table.to_pylist(), indent=2) + "\n").encode())
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, buffer)
    if output is None:
        sys.stdout.buffer.write(buffer.getvalue())
        sys.stdout.flush()
    else:
        _guarded(lambda: _write_file(output, buffer.getvalue()))


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


@app.command()
def fit(
    sweep_dir: str = typer.Argument(..., help="a sweep directory, <storage>/<name>, or a .csv/.parquet table"),
    form: str = typer.Option("power", help="power (the paper's), saturating (E + A*N^-alpha), sigmoid, m4 "
                                          "(Alabdulmohsin et al. 2022) or auto (chosen by backtest)"),
    y: Optional[str] = typer.Option(None, "--y", "--metric", help="the loss, lower is better: a numeric trials "
                                                                 "column of a sweep (default eval_loss), or a "
                                                                 "table's column"),
    bootstrap: int = typer.Option(1000, help="hierarchical bootstrap replicates"),
    holdout: Optional[int] = typer.Option(None, help="largest sizes held out for the backtest (default: 2, fewer "
                                                      "if the sweep has fewer than 4 sizes)"),
    level: float = typer.Option(0.95, help="interval coverage"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    x: Optional[str] = typer.Option(None, "--x", help="table: column of the scale (N, tokens, FLOPs)"),
    group: Optional[str] = typer.Option(None, "--group", help="table: column separating curves, one law each"),
    seed_column: Optional[str] = typer.Option(None, "--seed-column", help="table: column naming each row's seed"),
    task: Optional[str] = typer.Option(None, "--task", help="sweep: a finetuning task (y = 1 - its metric), or "
                                                            "'all' (pretraining and every task; the default "
                                                            "once finetuning ran)"),
    design: Optional[str] = typer.Option(None, "--design", help="sweep: one design of a sweep with designs "
                                                                "(default: each design)"),
) -> None:
    """Fit a scaling law to a sweep or a table: parameters with CIs, backtest, reliability, off-law sizes;
    for a sweep, per task and design with the paper's verdict (R^2 >= 0.95: predictions hold)."""
    import warnings

    import raylaws
    from raylaws.fit import fit_table

    if form not in ("power", "saturating", "sigmoid", "m4", "auto"):
        _error(f"--form: {form!r} is not one of power, saturating, sigmoid, m4, auto")
        raise typer.Exit(EXIT_INPUT)
    is_table = Path(sweep_dir).suffix.lower() in (".csv", ".parquet") and "://" not in sweep_dir
    if is_table and (x is None or y is None):
        _error(f"{sweep_dir}: a table needs --x COL and --y COL")
        raise typer.Exit(EXIT_INPUT)
    if not 0.0 < level < 1.0:
        _error(f"--level: {level:g} is not a coverage between 0 and 1 (e.g. 0.95)")
        raise typer.Exit(EXIT_INPUT)
    if holdout is not None and holdout < 1:
        _error(f"--holdout: {holdout} sizes; hold out at least 1 (the largest) for the backtest")
        raise typer.Exit(EXIT_INPUT)
    if bootstrap < 0:
        _error(f"--bootstrap: {bootstrap} replicates; give 0 (none) or more")
        raise typer.Exit(EXIT_INPUT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if is_table:
                fits = [(f"{Path(sweep_dir).name}" + (f" [{group}={g.group}]" if group else ""), g.law)
                        for g in fit_table(Path(sweep_dir), x=x, y=y, group=group, seed=seed_column,  # type: ignore[arg-type]
                                           form=form, n_bootstrap=bootstrap, random_state=seed)]
                what = f"{y} against {x}"
            else:
                sweep = _guarded(lambda: raylaws.open(sweep_dir))
                metric = y or "eval_loss"
                targets = _guarded(lambda: sweep.laws(task=None if task == "all" else task,
                                                      all_tasks=task == "all" or (task is None and _has_tasks(sweep)),
                                                      design=design, form=form, n_bootstrap=bootstrap,
                                                      random_state=seed, metric=metric))
                for target in targets:
                    if target.fallback:
                        warnings.warn(f"{_target_name(sweep.name, target)}: no completed seed re-runs for "
                                      f"{', '.join(target.fallback)}; using the best search trial instead")
                fits = [(_target_name(sweep.name, t), t.law) for t in targets if t.law is not None]
                what = f"{metric} against N (non-embedding, 12*L*H^2)"
        except ValueError as error:
            _error(str(error))
            raise typer.Exit(EXIT_INPUT) from None
    for _, law in fits:  # before any output: a bad --holdout is one line
        _check_holdout(law, holdout)
    for warning in caught:
        err.print(f"warning: {warning.message}", markup=False, highlight=False)
    for name, law in fits:
        _print_fit(law, title=f"{name}: {law.form_} law of {what}", bootstrap=bootstrap, holdout=holdout, level=level)
    if not is_table:
        _print_verdicts(sweep.name, targets)


def _has_tasks(sweep: Any) -> bool:
    from raylaws.views import tasks_of

    return bool(tasks_of(sweep.trials()))


def _target_name(sweep: str, target: Any) -> str:
    design = f" [{target.design}]" if target.design is not None else ""
    return f"{sweep}{design}: {target.target}"


def _print_verdicts(sweep: str, targets: list[Any]) -> None:
    """One row per law: R^2, backtest MRE and the paper's verdict (R^2 >= 0.95: predictions hold)."""
    from raylaws.laws import R2_THRESHOLD

    table = Table(title=f"{sweep}: laws and the paper's verdict (R^2 >= {R2_THRESHOLD}: predictions hold)")
    for column in ("design", "target", "sizes", "R^2", "backtest MRE", "verdict"):
        table.add_column(column, justify="right" if column in ("sizes", "R^2", "backtest MRE") else "left")
    for t in targets:
        sizes = str(t.law.n_sizes_) if t.law is not None else "-"
        mre = f"{t.mre:.4f} (largest {t.holdout} held out)" if t.mre is not None else "-"
        verdict = t.verdict if t.law is not None else f"no law ({t.note})"
        table.add_row(t.design or "-", t.target, sizes, f"{t.r2:.4f}" if t.r2 is not None else "-", mre, verdict)
    out.print(table)


@app.command()
def compare(
    sweep_dir: str = typer.Argument(..., help="a sweep directory or URI with designs, <storage>/<name>"),
    at: float = typer.Option(..., "--at", help="N (non-embedding parameters, 12*L*H^2) to compare the designs at"),
    design_a: Optional[str] = typer.Option(None, "--a", help="first design (default: the spec's first)"),
    design_b: Optional[str] = typer.Option(None, "--b", help="second design (default: the spec's next)"),
    bootstrap: int = typer.Option(1000, help="hierarchical bootstrap replicates (matched between the designs)"),
    level: float = typer.Option(0.95, help="interval coverage"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    form: str = typer.Option("power", help="law form of both fits"),
) -> None:
    """Compare two designs at N: the predicted gap (a - b, lower is better) of the pretraining loss
    and of each task, its CI and P(a better); flags comparisons whose laws have R^2 < 0.95."""
    import raylaws
    from raylaws.laws import R2_THRESHOLD

    if not at > 0 or not math.isfinite(at):
        _error(f"--at: {at:g} is not a parameter count; give N > 0 (e.g. 1e8)")
        raise typer.Exit(EXIT_INPUT)
    if bootstrap < 1 or not 0.0 < level < 1.0:
        _error("--bootstrap must be >= 1 and --level between 0 and 1")
        raise typer.Exit(EXIT_INPUT)
    if form not in ("power", "saturating", "sigmoid", "m4", "auto"):
        _error(f"--form: {form!r} is not one of power, saturating, sigmoid, m4, auto")
        raise typer.Exit(EXIT_INPUT)
    sweep = _guarded(lambda: raylaws.open(sweep_dir))
    try:
        rows = sweep.compare(at=at, design_a=design_a, design_b=design_b, level=level, n_bootstrap=bootstrap,
                             random_state=seed, form=form)
    except ValueError as error:
        _error(str(error))
        raise typer.Exit(EXIT_INPUT) from None
    if not rows:
        _error("no target has a law for both designs yet (each needs 2 or more sizes with a completed trial)")
        raise typer.Exit(EXIT_PROBLEMS)
    first = rows[0]
    table = Table(title=f"{sweep.name}: {first.design_a} - {first.design_b} predicted at N={at:,.0f} "
                        f"(lower is better; B={bootstrap} matched hierarchical bootstrap draws)")
    for column in ("target", "gap a - b", f"{level:.0%} CI", f"P({first.design_a} better)", "R^2 a", "R^2 b", "flag"):
        table.add_column(column, justify="left" if column in ("target", "flag") else "right")
    for row in rows:
        flag = f"law too weak (R^2 < {R2_THRESHOLD}): do not trust the sign" if row.weak else ""
        flag += ("" if row.paired else ("; " if flag else "") + "unpaired draws (the designs' sizes differ)")
        table.add_row("pretraining loss" if row.task is None else f"task {row.task}", f"{row.difference:+.4g}",
                      f"{row.ci[0]:+.4g} .. {row.ci[1]:+.4g}", f"{row.p_a_better:.3f}", f"{row.r2_a:.4f}",
                      f"{row.r2_b:.4f}", flag)
    out.print(table)


def _check_holdout(law: Any, holdout: Optional[int]) -> None:
    """An explicit --holdout must leave at least 2 sizes to fit."""
    if holdout is not None and holdout > law.n_sizes_ - 2:
        _error(f"--holdout: {holdout} of {law.n_sizes_} sizes leaves fewer than 2 to fit; hold out at most "
               f"{max(0, law.n_sizes_ - 2)}" + (" (fit more sizes to backtest)" if law.n_sizes_ < 3 else ""))
        raise typer.Exit(EXIT_INPUT)


def _print_fit(law: Any, *, title: str, bootstrap: int, holdout: Optional[int], level: float) -> None:
    from raylaws.fit import PowerLaw, backtest, off_law, reliability

    intervals = law.confidence_intervals(level) if bootstrap else {}
    table = Table(title=f"{title}, {law.n_sizes_} sizes, {len(law.y_)} runs")
    table.add_column("parameter")
    table.add_column("estimate", justify="right")
    table.add_column(f"{level:.0%} CI (hierarchical bootstrap, B={bootstrap})", justify="right")
    for key, value in law.params_.items():
        low_high = intervals.get(key)
        table.add_row(key, f"{value:.6g}", f"{low_high[0]:.6g} .. {low_high[1]:.6g}" if low_high else "-")
    out.print(table)
    if law.selection_ is not None:
        out.print(f"form: {law.form_} (auto); runner-up {law.selection_.runner_up}: {law.selection_.reason}",
                  highlight=False)
    verdict = reliability(law)
    out.print(f"R^2 (log-log) {law.r2_:.4f}; rolling backtest RMSE of ln y {verdict.backtest_rmse:.4f}; "
              f"95% interval at 4x the largest size spans {verdict.width:.1%}: "
              + ("reliable" if verdict.reliable else f"unreliable ({'; '.join(verdict.reasons)})"), highlight=False)
    for problem in law.problems_:
        out.print(f"degenerate fit: {problem}", highlight=False)
    holdout = holdout if holdout is not None else min(2, law.n_sizes_ - 2)
    try:
        if holdout < 1:
            raise ValueError(f"{law.n_sizes_} sizes: a backtest needs 3 or more")
        result = backtest(PowerLaw(law.form_, n_bootstrap=0), law.x_, law.y_, holdout=holdout)
        label = "N" if law.x_name == "n_params" else law.x_name
        held = ", ".join(f"{label}={row['n_params']:,.0f} RE {row['re']:+.4f}" for row in result.table.to_pylist())
        out.print(f"backtest: fit without the {holdout} largest sizes, MRE {result.mre:.4f} ({held})", highlight=False)
    except ValueError as error:
        out.print(f"backtest: skipped ({error})", highlight=False)
    if bootstrap:
        try:
            flagged = [row for row in off_law(law, level=level).to_pylist() if row["flagged"]]
        except ValueError as error:  # too few sizes to refit without one
            out.print(f"off-law sizes: not checked ({error})", highlight=False)
            return
        if not flagged:
            out.print(f"off-law sizes: none (every size inside the {level:.0%} interval of the others' fit)",
                      highlight=False)
        for row in flagged:
            hint = "likely under-trained or stopped too early" if row["direction"] == "above" else "better than the law"
            label = "N" if law.x_name == "n_params" else law.x_name
            out.print(f"off-law: {label}={row['n_params']:,.0f} is {row['direction']} the line by "
                      f"{row['rel_deviation']:+.1%} ({hint})", highlight=False)


@app.command()
def debug(
    sweep_dir: str = typer.Argument(..., help="a sweep directory, <storage>/<name>"),
    rerun: bool = typer.Option(False, "--rerun", help="re-run the flagged sizes (or --size) as a new round with "
                                                      "the suggested changes (or --set); old records are kept"),
    assignments: list[str] = typer.Option([], "--set", help="FIELD=VALUE to change for the re-run, e.g. "
                                                            "training.patience=600 (repeatable)"),
    only: list[str] = typer.Option([], "--size", help="re-run this size (repeatable; default: every flagged size)"),
    proceed: bool = typer.Option(False, "--continue", help="continue an interrupted re-run round"),
    bootstrap: int = typer.Option(200, help="bootstrap replicates of the off-law check"),
    level: float = typer.Option(0.95, help="coverage of the off-law intervals"),
    address: Optional[str] = typer.Option(None, help="Ray cluster address for --rerun; default: a local Ray"),
    quiet: bool = typer.Option(False, help="no live progress during --rerun"),
) -> None:
    """Say why sizes sit off the law, naming the spec field to change (best learning rate or batch size
    on an edge of the search space, stopped by patience while still improving, seeds spread far above
    the neighbours'); with --rerun, re-run them with the change and print the fit before and after."""
    import raylaws
    from raylaws.spec import parse_overrides

    if bootstrap < 1 or not 0.0 < level < 1.0:
        _error("--bootstrap must be >= 1 and --level between 0 and 1")
        raise typer.Exit(EXIT_INPUT)
    if (assignments or only or proceed) and not rerun:
        _error("--set, --size and --continue go with --rerun")
        raise typer.Exit(EXIT_INPUT)
    overrides = _guarded(lambda: parse_overrides(assignments))
    sweep = _guarded(lambda: raylaws.open(sweep_dir))
    findings = _guarded(lambda: sweep.findings(n_bootstrap=bootstrap, level=level))
    _print_findings(sweep.name, findings)
    if not rerun:
        return
    changes = None if proceed else _rerun_changes(findings, only, overrides)
    if changes is not None and not changes:
        out.print("nothing to re-run: no size flagged (name one with --size)", highlight=False)
        return
    for size, fields in (changes or {}).items():
        what = ", ".join(f"{k}={v}" for k, v in fields.items()) or "unchanged (to check it)"
        out.print(f"re-run {size}: {what}", highlight=False)
    before = sweep.trials()
    _quiet_libraries(local=address is None)
    display = _Progress(enabled=not quiet)
    with display:
        _guarded(lambda: raylaws.rerun(sweep.path, changes, address=address, on_event=display.event,
                                       on_start=display.start))
    _print_before_after(sweep, before, sweep.trials())


def _print_findings(name: str, findings: list[Any]) -> None:
    if not findings:
        out.print(f"{name}: no findings (every size on its law, best configs inside the search space, no patience "
                  "stop while improving, no seed spread far above the neighbours')", highlight=False)
        return
    for finding in findings:
        where = f"[{finding.design}] " if finding.design else ""
        out.print(f"{finding.kind}: {where}{finding.message}", highlight=False)
        if finding.field:
            change = f"{finding.field}={finding.value}" if finding.value is not None else finding.field
            out.print(f"  change: {change}", highlight=False)


def _rerun_changes(findings: list[Any], only: list[str], overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Size -> fields to set: ``--set`` for every size re-run, else each size's suggested changes."""
    flagged = list(dict.fromkeys(f.size for f in findings if f.size and f.task is None and f.kind != "fallback"))
    sizes = list(dict.fromkeys(only)) or flagged
    changes = {}
    for size in sizes:
        suggested = {f.field: f.value for f in findings if f.size == size and f.task is None and f.field
                     and f.value is not None}
        changes[size] = dict(overrides) if overrides else suggested
    return changes


def _print_before_after(sweep: Any, before: Any, after: Any) -> None:
    """Each design's pretraining law and every re-run size's deviation from the law of the other
    sizes, before and after the re-run."""
    from raylaws.diagnose import size_deviations
    from raylaws.laws import fit_law
    from raylaws.views import designs_of, latest_rounds

    table = Table(title=f"{sweep.name}: before and after the re-run (pretraining loss)")
    for column in ("design", "law", "before", "after"):
        table.add_column(column, justify="left" if column in ("design", "law") else "right")
    current = {r["size"]: r.get("round") or 0 for r in latest_rounds(after)}
    for design in designs_of(after) or [None]:
        laws = [fit_law(trials, design=design, n_bootstrap=0) for trials in (before, after)]
        table.add_row(design or "-", "R^2", *(f"{law.r2:.4f}" if law.r2 is not None else "-" for law in laws))
        table.add_row(design or "-", "exponent alpha",
                      *(f"{law.law.exponent_:.4f}" if law.law is not None else "-" for law in laws))
        table.add_row(design or "-", "backtest MRE", *(f"{law.mre:.4f}" if law.mre is not None else "-" for law in laws))
        deviations = [size_deviations(trials, design=design) for trials in (before, after)]
        for size in deviations[1]:
            if current.get(size, 0) > 0:
                table.add_row(design or "-", f"{size} vs the law of the others (round {current[size]})",
                              *(f"{d[size]:+.2%}" if size in d else "-" for d in deviations))
    out.print(table)


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


def _loss(value: Optional[float]) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _span(values: list[float], pattern: str) -> str:
    low, high = values[0], values[-1]
    return pattern.format(low) if low == high else f"{pattern.format(low)}-{pattern.format(high)}"


def _quiet_libraries(*, local: bool = False) -> None:
    import os

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if local:
        # The local Ray keeps token authentication on (other users of the machine cannot reach
        # it); saying so explicitly keeps Ray from printing its notice as if something were wrong.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    for name in ("ray", "ray.tune", "ray.train", "optuna"):
        logging.getLogger(name).setLevel(logging.WARNING)


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


@app.command()
def report(
    sweep_dir: str = typer.Argument(..., help="a sweep directory or URI, <storage>/<name>"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default: <sweep>/report.html)"),
    bootstrap: int = typer.Option(1000, help="hierarchical bootstrap replicates of the law's band"),
    level: float = typer.Option(0.95, help="coverage of the band and of the off-law check"),
    seed: int = typer.Option(0, help="bootstrap seed"),
) -> None:
    """Write one self-contained HTML report of a sweep: loss vs N with the law, each size's trials
    against learning rate, lr*(N) and bs*(N), eval curves, findings, compute. Works while it runs."""
    import raylaws
    from raylaws.report import write_report

    if bootstrap < 0 or not 0.0 < level < 1.0:
        _error("--bootstrap must be >= 0 and --level between 0 and 1")
        raise typer.Exit(EXIT_INPUT)
    sweep = _guarded(lambda: raylaws.open(sweep_dir))
    try:
        path = write_report(sweep, output, n_bootstrap=bootstrap, level=level, random_state=seed)
    except OSError as error:
        _error(f"cannot write the report ({error.strerror or error}); give -o a writable file")
        raise typer.Exit(EXIT_INPUT) from None
    out.print(f"report: {path}", highlight=False)


if __name__ == "__main__":  # pragma: no cover
    main()
