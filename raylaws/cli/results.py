"""Commands on a sweep's results: ``best``, ``fit``, ``compare``, ``report``."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from raylaws.cli._app import (EXIT_INPUT, EXIT_PROBLEMS, _error, _guarded, _print_best, _task_title, _write_file,
                              command, err, option_group, out)


@command
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


FORMS = ("power", "saturating", "sigmoid", "m4", "auto")


@dataclasses.dataclass(frozen=True)
class TableColumns:
    """``fit`` on a .csv/.parquet table: its columns beyond ``--y`` (the loss)."""

    x: Optional[str] = typer.Option(None, "--x", help="table: column of the scale (N, tokens, FLOPs)")
    group: Optional[str] = typer.Option(None, "--group", help="table: column separating curves, one law each")
    seed_column: Optional[str] = typer.Option(None, "--seed-column", help="table: column naming each row's seed")

    def fits(self, path: Path, y: str, *, form: str, bootstrap: int, seed: int) -> tuple[list[tuple[str, Any]], str]:
        """(title, law) per curve of the table, and what was fitted against what."""
        from raylaws.fit import fit_table

        assert self.x is not None
        fits = [(path.name + (f" [{self.group}={g.group}]" if self.group else ""), g.law)
                for g in fit_table(path, x=self.x, y=y, group=self.group, seed=self.seed_column, form=form,
                                   n_bootstrap=bootstrap, random_state=seed)]
        return fits, f"{y} against {self.x}"


@dataclasses.dataclass(frozen=True)
class SweepTargets:
    """``fit`` on a sweep: which laws (tasks, designs) to fit."""

    task: Optional[str] = typer.Option(None, "--task", help="sweep: a finetuning task (y = 1 - its metric), or "
                                                            "'all' (pretraining and every task; the default "
                                                            "once finetuning ran)")
    design: Optional[str] = typer.Option(None, "--design", help="sweep: one design of a sweep with designs "
                                                                "(default: each design)")

    def laws(self, sweep: Any, metric: str, *, form: str, bootstrap: int, seed: int) -> list[Any]:
        """The sweep's law targets (:meth:`raylaws.Sweep.laws`), warning where one falls back."""
        import warnings

        targets = _guarded(lambda: sweep.laws(task=None if self.task == "all" else self.task,
                                              all_tasks=self.task == "all" or (self.task is None and _has_tasks(sweep)),
                                              design=self.design, form=form, n_bootstrap=bootstrap,
                                              random_state=seed, metric=metric))
        for target in targets:
            if target.fallback:
                warnings.warn(f"{_target_name(sweep.name, target)}: no completed seed re-runs for "
                              f"{', '.join(target.fallback)}; using the best search trial instead")
        return targets


@command
@option_group
def fit(
    sweep_dir: str = typer.Argument(..., help="a sweep directory, <storage>/<name>, or a .csv/.parquet table"),
    form: str = typer.Option("power", help="power (the paper's), saturating (E + A*N^-alpha), sigmoid, m4 "
                                          "(Alabdulmohsin et al. 2022) or auto (the average of the forms that "
                                          "backtest within 40% of the best)"),
    y: Optional[str] = typer.Option(None, "--y", "--metric", help="the loss, lower is better: a numeric trials "
                                                                 "column of a sweep (default eval_loss), or a "
                                                                 "table's column"),
    bootstrap: int = typer.Option(1000, help="hierarchical bootstrap replicates"),
    holdout: Optional[int] = typer.Option(None, help="largest sizes held out for the backtest (default: 2, fewer "
                                                      "if the sweep has fewer than 4 sizes)"),
    level: float = typer.Option(0.95, help="interval coverage"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    table: TableColumns = TableColumns(),
    targets: SweepTargets = SweepTargets(),
) -> None:
    """Fit a scaling law to a sweep or a table, with CIs, backtest and off-law sizes.

    Prints the parameters with their CIs, a backtest, the law's reliability and the sizes off
    the law; for a sweep, one law per task and design, with the paper's verdict (R^2 >= 0.95:
    predictions hold) and, below it, the likely causes of each weaker law.
    """
    import warnings

    import raylaws

    if form not in FORMS:
        _error(f"--form: {form!r} is not one of {', '.join(FORMS)}")
        raise typer.Exit(EXIT_INPUT)
    is_table = Path(sweep_dir).suffix.lower() in (".csv", ".parquet") and "://" not in sweep_dir
    if is_table and (table.x is None or y is None):
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
                fits, what = table.fits(Path(sweep_dir), y, form=form, bootstrap=bootstrap,  # type: ignore[arg-type]
                                        seed=seed)
            else:
                sweep = _guarded(lambda: raylaws.open(sweep_dir))
                metric = y or "eval_loss"
                laws = targets.laws(sweep, metric, form=form, bootstrap=bootstrap, seed=seed)
                fits = [(_target_name(sweep.name, t), t.law) for t in laws if t.law is not None]
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
        _print_verdicts(sweep.name, laws)


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
    _print_causes(sweep, targets)


def _print_causes(sweep: str, targets: list[Any]) -> None:
    """Under the verdicts: per law with R^2 < 0.95, its likely causes, strongest first."""
    from raylaws.causes import CauseKind
    from raylaws.laws import R2_THRESHOLD

    for t in targets:
        if t.r2 is None or t.r2 >= R2_THRESHOLD:
            continue
        name = _target_name(sweep, t)
        if not t.causes:
            checked = ", ".join(kind.value for kind in CauseKind)
            out.print(f"{name}: R² {t.r2:.3f} < {R2_THRESHOLD}, and no likely cause holds (checked: {checked}); "
                      "`raylaws debug` names off-law sizes", highlight=False, markup=False, soft_wrap=True)
            continue
        out.print(f"{name}: R² {t.r2:.3f} < {R2_THRESHOLD}; likely causes, strongest first:", highlight=False,
                  markup=False, soft_wrap=True)
        for number, cause in enumerate(t.causes, start=1):
            out.print(f"  {number}. [{cause.kind.value}] {cause.message}", highlight=False, markup=False, soft_wrap=True)


@command
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
    """Compare two designs at N: the predicted loss gap, its CI and P(a better), per target.

    The gap (a - b, lower is better) is predicted for the pretraining loss and for each task;
    comparisons whose laws have R^2 < 0.95 are flagged.
    """
    import raylaws
    from raylaws.laws import R2_THRESHOLD

    if not at > 0 or not math.isfinite(at):
        _error(f"--at: {at:g} is not a parameter count; give N > 0 (e.g. 1e8)")
        raise typer.Exit(EXIT_INPUT)
    if bootstrap < 1 or not 0.0 < level < 1.0:
        _error("--bootstrap must be >= 1 and --level between 0 and 1")
        raise typer.Exit(EXIT_INPUT)
    if form not in FORMS:
        _error(f"--form: {form!r} is not one of {', '.join(FORMS)}")
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
        weights = law.selection_.weights
        blend = " + ".join(f"{weight:.2g} {name}" for name, weight in weights.items())
        shown = f" (parameters shown: {law.form_}'s)" if len(weights) > 1 else ""
        out.print(f"form: auto = {blend}{shown}; {law.selection_.reason}", highlight=False)
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
        result = backtest(PowerLaw(law.form, n_bootstrap=0), law.x_, law.y_, holdout=holdout)
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


@command
def report(
    sweep_dir: str = typer.Argument(..., help="a sweep directory or URI, <storage>/<name>"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default: <sweep>/report.html)"),
    bootstrap: int = typer.Option(1000, help="hierarchical bootstrap replicates of the law's band"),
    level: float = typer.Option(0.95, help="coverage of the band and of the off-law check"),
    seed: int = typer.Option(0, help="bootstrap seed"),
) -> None:
    """Write one self-contained HTML report of a sweep (also while it runs).

    It shows loss vs N with the law, each size's trials against learning rate, lr*(N) and
    bs*(N), eval curves, findings and compute.
    """
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
