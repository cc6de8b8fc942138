"""Continuing a sweep: :func:`resume` it, or :func:`rerun` sizes of it as a new round."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Union

from raylaws.errors import SweepError
from raylaws.ladder import build_ladder, smaller_sizes
from raylaws.spec import ExperimentSpec, design_spec
from raylaws.sweep._read import Sweep, open
from raylaws.sweep._run import run_local, run


def rerun(
    path: Union[str, Path],
    changes: Optional[Mapping[str, Mapping[str, Any]]] = None,
    *,
    address: Optional[str] = None,
    on_event: Optional[Callable[[Any], None]] = None,
    on_start: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """Re-run sizes of a sweep as a new round, with spec fields set otherwise (debug re-runs).

    Each size's whole schedule (search, then seeds) trains again with its changes under its own
    studies and trial ids; its earlier rounds' records are kept (column ``round``), and views and
    fits use its latest round (see :mod:`raylaws.rounds`). The round is written down before any
    trial starts, so an interrupted re-run continues with ``changes`` None.

    Args:
        path: the sweep directory (local).
        changes: size name -> {dotted spec field: value}, e.g. ``{"L1-H12": {"training.patience":
            600}}`` (an empty mapping re-runs the size unchanged); None: continue the latest
            round, which must be unfinished.
        address, on_event, on_start: as for :func:`run`.

    Returns:
        The sweep, its new round recorded.

    Raises:
        SpecError: a change that does not validate (naming the field) or that changes the budget.
        SweepError: a remote sweep, an unknown size, nothing to continue, or an unfinished round
            when a new one is asked for.
    """
    from dataclasses import replace

    from raylaws.rounds import next_round, read_rounds, write_rounds
    from raylaws.spec import with_overrides

    sweep = open(path)
    if sweep.layout.is_remote:
        raise SweepError(f"{sweep.layout.location}: debug re-runs work on a local sweep directory")
    spec = sweep.spec
    ladder = {size.name: size for size in build_ladder(spec)}
    rounds = read_rounds(sweep.path)
    unfinished = rounds and not _round_finished(sweep, rounds[-1], spec)
    if changes is None:
        if not unfinished:
            raise SweepError(f"{sweep.path}: no unfinished re-run to continue; name sizes and changes to re-run")
        chosen = rounds[-1]
    elif unfinished:
        raise SweepError(f"{sweep.path}: re-run round {rounds[-1].number} of {', '.join(rounds[-1].sizes)} is "
                         "unfinished; continue it first (`raylaws debug SWEEP --rerun --continue`)")
    else:
        unknown = sorted(set(changes) - set(ladder))
        if unknown:
            raise SweepError(f"size {', '.join(unknown)}: not a size of this sweep ({', '.join(ladder)})")
        if not changes:
            raise SweepError(f"{sweep.path}: nothing to re-run (no size named)")
        chosen = next_round(rounds, changes)
    sizes = tuple(replace(ladder[name], round=chosen.number) for name in chosen.sizes)
    size_specs = {size.key: with_overrides(design_spec(spec, size.design), chosen.sizes[size.name],
                                           field=f"{size.name} --set") for size in sizes}
    if changes is not None:
        write_rounds(sweep.path, [*rounds, chosen])
    run_local(sweep.layout, spec, sizes, address=address, on_event=on_event, on_start=on_start,
               size_specs=size_specs)
    return sweep


def _round_finished(sweep: Sweep, chosen: Any, spec: ExperimentSpec) -> bool:
    """Whether every size of a re-run round has its whole budget recorded (or can go no further:
    a search that ended with no completed trial). A size's search budget is its latest box's in
    the round (a size-aware search: the round's smallest size searches ``trials_per_size``, the
    others fewer, a widened box more), else ``trials_per_size``."""
    from dataclasses import replace

    from raylaws import views
    from raylaws.search import journal_boxes, recorded_seed_counts
    from raylaws.spec import with_overrides

    every = sweep.trials().to_pylist()
    rows = [r for r in every if (r.get("round") or 0) == chosen.number]
    ladder = [size for size in build_ladder(spec) if size.name in chosen.sizes]
    boxes = journal_boxes(sweep.layout.journal) if sweep.layout.journal.exists() else {}
    search = {}
    for size in ladder:  # as the round's planner budgets it: with the round's changes
        rank = len(smaller_sizes(size, ladder))
        latest = boxes.get(replace(size, round=chosen.number).key)
        size_spec = with_overrides(design_spec(spec, size.design), chosen.sizes[size.name], field=f"{size.name} --set")
        search[size.name] = latest[-1].trials if latest else size_spec.search.trials_of(rank)
    # A seeds rule decides the round's seeds against the sweep's other sizes (their latest rounds).
    others = [r for r in every if (r.get("round") or 0) != chosen.number]
    seeds = recorded_seed_counts(spec, ladder, rows, search, outside=views.latest_rounds(others))
    for size in chosen.sizes:
        mine = [r for r in rows if r["size"] == size and r.get("task") is None]
        searched = [r for r in mine if r["phase"] == "search"]
        if len(mine) >= search[size] + seeds.get(size, spec.min_seeds):
            continue
        if len(searched) >= search[size] and not any(r["status"] == "completed" for r in searched):
            continue
        return False
    return True


def resume(
    path: Union[str, Path],
    *,
    address: Optional[str] = None,
    on_event: Optional[Callable[[Any], None]] = None,
    on_start: Optional[Callable[[Any], None]] = None,
    on_data: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """Resume an interrupted sweep from its directory alone (see :func:`run`).

    Finished trials keep their one record and are not trained again; trials that were running
    are run again under the same ``trial_id``; the per-size budgets end exactly met.
    """
    sweep = open(path)
    return run(sweep.spec, storage=sweep.layout.storage, name=sweep.name, address=address,
               on_event=on_event, on_start=on_start, on_data=on_data)
