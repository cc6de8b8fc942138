"""Commands that look for what is wrong: ``check`` (a sweep's files) and ``debug`` (sizes off
the law, and re-running them)."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.table import Table

from raylaws.cli._app import EXIT_INPUT, EXIT_PROBLEMS, _error, _guarded, _quiet_libraries, command, out
from raylaws.cli.sweeps import _Progress


@command
def check(sweep_dir: str = typer.Argument(..., help="a sweep directory or URI, <storage>/<name>")) -> None:
    """List what is inconsistent in a sweep's files; exit 0 if nothing is, 1 if anything is.

    It checks for unreadable record files, staged leftovers, the Optuna journal against the
    records, and an edited spec.yaml.
    """
    import raylaws

    findings = _guarded(lambda: raylaws.check(sweep_dir))
    for finding in findings:
        print(finding)
    if findings:
        raise typer.Exit(EXIT_PROBLEMS)
    out.print(f"ok: {sweep_dir}", highlight=False)


@command
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
    """Say why sizes sit off the law and which spec field to change; --rerun re-runs them.

    A size is flagged for its best learning rate or batch size on an edge of the search space,
    for being stopped by patience while still improving, or for seeds spread far above the
    neighbours'. With --rerun, the flagged sizes (or --size) are re-run with the change (or
    --set) and the fit is printed before and after.
    """
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
        table.add_row(design or "-", "backtest MRE",
                      *(f"{law.mre:.4f}" if law.mre is not None else "-" for law in laws))
        deviations = [size_deviations(trials, design=design) for trials in (before, after)]
        for size in deviations[1]:
            if current.get(size, 0) > 0:
                table.add_row(design or "-", f"{size} vs the law of the others (round {current[size]})",
                              *(f"{d[size]:+.2%}" if size in d else "-" for d in deviations))
    out.print(table)


