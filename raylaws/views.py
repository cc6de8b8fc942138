"""Derived views of a trials table, computed in one place as Arrow tables.

* :func:`size_status`: per size, trials recorded of its budget, by phase and status (for
  ``raylaws status`` and the live progress display);
* :func:`best_per_size`: per size, the best config of its search and its loss over the seeds;
* :func:`fit_rows`: the rows a scaling-law fit takes (one per seed of each size's best config);
* :func:`remaining_seconds`: a rough time-left estimate from a status table;
* :func:`task_status`: per (size, finetuning task), trials recorded of its budget.

Finetuning records (a non-null ``task``) are views of their own: every pretraining view
leaves them out unless given ``task=``; with ``task=`` a view shows that task's records
(phases ``finetune_search``/``finetune_seed`` in the roles of ``search``/``seed``, and
``eval_loss = 1 - metric``).

Pure pyarrow: no Ray, no torch.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional, Union

import pyarrow as pa

from raylaws.trial import Phase, Status

Rows = Union[pa.Table, Iterable[Mapping[str, Any]]]

STATUS_SCHEMA = pa.schema([
    pa.field("size", pa.string()),
    pa.field("n_params", pa.int64(), metadata={"description": "paper's non-embedding count 12*L*H^2"}),
    pa.field("budget", pa.int32(), metadata={"description": "trials of the size: search trials + seeds"}),
    pa.field("done", pa.int32(), metadata={"description": "trials recorded"}),
    pa.field("running", pa.int32(), metadata={"description": "trials running now (live displays only)"}),
    pa.field("search_done", pa.int32()),
    pa.field("seeds_done", pa.int32(), metadata={"description": "seed re-runs recorded (any status)"}),
    pa.field("pruned", pa.int32()),
    pa.field("diverged", pa.int32()),
    pa.field("failed", pa.int32()),
    pa.field("best_loss", pa.float64(), metadata={"description": "best eval loss of any completed trial"}),
    pa.field("wall_seconds", pa.float64(), metadata={"description": "training seconds of the recorded trials"}),
])

BEST_SCHEMA = pa.schema([
    pa.field("size", pa.string(), metadata={"description": "size name"}),
    pa.field("n_layers", pa.int32()),
    pa.field("d_model", pa.int32()),
    pa.field("n_params", pa.int64(), metadata={"description": "paper's non-embedding count 12*L*H^2"}),
    pa.field("n_params_exact", pa.int64(), metadata={"description": "non-embedding parameters of the built model"}),
    pa.field("learning_rate", pa.float64(), metadata={"description": "best peak learning rate of the search"}),
    pa.field("batch_size", pa.int32(), metadata={"description": "best batch size, sequences per step"}),
    pa.field("n_seeds", pa.int32(), metadata={"description": "completed seed re-runs of the best config"}),
    pa.field("loss_mean", pa.float64(), metadata={"description": "mean best eval loss over the seeds (or the best "
                                                                "search trial's loss while n_seeds = 0)"}),
    pa.field("loss_std", pa.float64(), metadata={"description": "sample std (ddof=1) over seeds; null below 2"}),
    pa.field("search_loss", pa.float64(), metadata={"description": "best eval loss among completed search trials"}),
    pa.field("best_trial_id", pa.string()),
    pa.field("n_trials", pa.int32(), metadata={"description": "search trials recorded"}),
    pa.field("n_pruned", pa.int32()),
    pa.field("n_diverged", pa.int32()),
    pa.field("n_failed", pa.int32()),
])


def _rows(trials: Rows) -> list[Mapping[str, Any]]:
    return trials.to_pylist() if isinstance(trials, pa.Table) else list(trials)


def _completed(row: Mapping[str, Any], metric: str = "eval_loss") -> bool:
    return row["status"] == Status.COMPLETED and row[metric] is not None


def _of_task(rows: Iterable[Mapping[str, Any]], task: Optional[str]) -> list[Mapping[str, Any]]:
    """The rows of ``task`` (None: the pretraining rows); records before schema 4 have no task."""
    return [r for r in rows if r.get("task") == task]


def _phases(task: Optional[str]) -> tuple[Phase, Phase]:
    """The (search, seed) phases of pretraining or of a finetuning task."""
    return (Phase.SEARCH, Phase.SEED) if task is None else (Phase.FINETUNE_SEARCH, Phase.FINETUNE_SEED)


def size_status(trials: Rows, sizes: Iterable[Any], budget: Union[int, Mapping[str, int]],
                running: Optional[Mapping[str, int]] = None, *, task: Optional[str] = None) -> pa.Table:
    """Per size of ``sizes`` (ladder order), trials recorded of ``budget``, by phase and status.

    Args:
        trials: the trials table (or its rows).
        sizes: the ladder's sizes (:class:`raylaws.ladder.Size`).
        budget: trials per size (``spec.budget_per_size``; a task's ``finetune.budget_per_task``), or
            per size name (a size-aware search).
        running: trials running now per size name (live displays).
        task: a finetuning task's records instead of the pretraining ones.
    """
    rows = _of_task(latest_rounds(trials), task)
    search_phase, seed_phase = _phases(task)
    running = running or {}
    out = []
    for size in sizes:
        mine = [r for r in rows if r["size"] == size.name]
        losses = [r["eval_loss"] for r in mine if _completed(r)]
        out.append({
            "size": size.name,
            "n_params": size.n_params,
            "budget": budget if isinstance(budget, int) else budget[size.name],
            "done": len(mine),
            "running": running.get(size.name, 0),
            "search_done": sum(r["phase"] == search_phase for r in mine),
            "seeds_done": sum(r["phase"] == seed_phase for r in mine),
            "pruned": sum(r["status"] == Status.PRUNED for r in mine),
            "diverged": sum(r["status"] == Status.DIVERGED for r in mine),
            "failed": sum(r["status"] == Status.FAILED for r in mine),
            "best_loss": min(losses) if losses else None,
            "wall_seconds": sum(float(r["wall_seconds"] or 0.0) for r in mine),
        })
    return pa.Table.from_pylist(out, schema=STATUS_SCHEMA)


def best_per_size(trials: Rows, *, task: Optional[str] = None) -> pa.Table:
    """One row per size: the best config of its search and its loss over the seed re-runs
    (of the size's latest round, see :func:`latest_rounds`); with ``task``, of that finetuning
    task (losses ``1 - metric``).

    ``loss_mean``/``loss_std`` come from the seed phase; a size whose seeds are not done yet
    shows its best search trial's loss with ``n_seeds = 0``. Sorted by ``n_params`` (the
    paper's non-embedding count). With ``task``: the same for that finetuning task, whose
    losses are ``1 - metric``.
    """
    rows = _of_task(latest_rounds(trials), task)
    search_phase, seed_phase = _phases(task)
    out = []
    for size in sorted({r["size"] for r in rows}, key=lambda s: min(r["n_params"] for r in rows if r["size"] == s)):
        mine = [r for r in rows if r["size"] == size]
        search = [r for r in mine if r["phase"] == search_phase]
        completed = [r for r in search if _completed(r)]
        best = min(completed, key=lambda r: (r["eval_loss"], r["trial_id"])) if completed else None
        seeds = [r for r in mine if r["phase"] == seed_phase and _completed(r)]
        config_source = seeds[0] if seeds else best
        seed_losses = [r["eval_loss"] for r in seeds]
        if seed_losses:
            loss_mean = statistics.fmean(seed_losses)
            loss_std = statistics.stdev(seed_losses) if len(seed_losses) > 1 else None
        else:
            loss_mean, loss_std = (best["eval_loss"] if best else None), None
        first = mine[0]
        out.append({
            "size": size,
            "n_layers": first["n_layers"],
            "d_model": first["d_model"],
            "n_params": first["n_params"],
            "n_params_exact": first["n_params_exact"],
            "learning_rate": config_source["learning_rate"] if config_source else None,
            "batch_size": config_source["batch_size"] if config_source else None,
            "n_seeds": len(seed_losses),
            "loss_mean": loss_mean,
            "loss_std": loss_std,
            "search_loss": best["eval_loss"] if best else None,
            "best_trial_id": best["trial_id"] if best else None,
            "n_trials": len(search),
            "n_pruned": sum(r["status"] == Status.PRUNED for r in mine),
            "n_diverged": sum(r["status"] == Status.DIVERGED for r in mine),
            "n_failed": sum(r["status"] == Status.FAILED for r in mine),
        })
    return pa.Table.from_pylist(out, schema=BEST_SCHEMA)


@dataclass(frozen=True)
class FitRows:
    """The rows of a scaling-law fit: one per completed seed of each size's best config.

    ``fallback`` names the sizes with no completed seed re-run, whose best search trial stands
    in for them.
    """

    n_params: list[float]
    values: list[float]
    sizes: list[str]
    fallback: list[str]


def fit_rows(trials: pa.Table, metric: str = "eval_loss", *, task: Optional[str] = None,
             design: Optional[str] = None) -> FitRows:
    """Rows for a fit of ``metric`` (a numeric trials column, lower is better) against N.

    Each size's latest round counts (:func:`latest_rounds`). ``task`` None fits pretraining
    (rows without a task: seeds of phase ``seed``, else the best ``search`` trial); a task fits
    that task's finetuning rows, where ``eval_loss`` holds 1 - metric (seeds of phase
    ``finetune_seed``, else the best ``finetune_search`` trial). ``design`` keeps that design's
    rows only (None: every row; a sweep with designs is fitted one design at a time).

    Raises:
        ValueError: ``metric`` is not a numeric column of the trials table.
    """
    if metric not in trials.column_names or not pa.types.is_floating(trials.schema.field(metric).type):
        numeric = [f.name for f in trials.schema if pa.types.is_floating(f.type)]
        raise ValueError(f"metric: {metric!r} is not a numeric column of the trials table; "
                         f"choose one of {', '.join(numeric)}")
    seed_phase, search_phase = (Phase.SEED, Phase.SEARCH) if task is None else (Phase.FINETUNE_SEED,
                                                                                 Phase.FINETUNE_SEARCH)
    rows = [r for r in latest_rounds(trials) if _completed(r, metric) and r.get("task") == task
            and (design is None or r.get("design") == design)]
    result = FitRows([], [], [], [])
    for size in sorted({r["size"] for r in rows}, key=lambda s: next(r["n_params"] for r in rows if r["size"] == s)):
        mine = [r for r in rows if r["size"] == size]
        chosen = [r for r in mine if r["phase"] == seed_phase]
        if not chosen:
            search = [r for r in mine if r["phase"] == search_phase]
            if not search:
                continue
            chosen = [min(search, key=lambda r: (r[metric], r["trial_id"]))]
            result.fallback.append(size)
        for row in chosen:
            result.n_params.append(float(row["n_params"]))
            result.values.append(float(row[metric]))
            result.sizes.append(size)
    return result


def latest_rounds(trials: Rows) -> list[Mapping[str, Any]]:
    """The rows of each size's latest round (per task, too) that has a completed trial.

    A debug re-run (``raylaws debug --rerun``) trains a size again as round 1, 2, ...; the
    earlier rounds' records stay in the store, and views and fits use the latest round as soon
    as one of its trials has completed. Rows without a round (before schema 4) are round 0.
    """
    rows = _rows(trials)
    latest: dict[tuple[Any, Any], int] = {}
    for r in rows:
        if _completed(r):
            key = (r["size"], r.get("task"))
            latest[key] = max(latest.get(key, 0), int(r.get("round") or 0))
    return [r for r in rows if int(r.get("round") or 0) == latest.get((r["size"], r.get("task")), 0)]


def designs_of(trials: Rows) -> list[str]:
    """The designs recorded in a trials table, in order of first appearance (empty: none)."""
    return list(dict.fromkeys(r["design"] for r in _rows(trials) if r.get("design") is not None))


def tasks_of(trials: Rows) -> list[str]:
    """The finetuning tasks recorded in a trials table, sorted (empty: none)."""
    return sorted({r["task"] for r in _rows(trials) if r.get("task") is not None})
TASK_STATUS_SCHEMA = pa.schema([
    pa.field("size", pa.string()),
    pa.field("task", pa.string()),
    pa.field("n_params", pa.int64(), metadata={"description": "paper's non-embedding count 12*L*H^2"}),
    pa.field("budget", pa.int32(), metadata={"description": "trials of the (size, task): search trials + seeds"}),
    pa.field("done", pa.int32(), metadata={"description": "trials recorded"}),
    pa.field("running", pa.int32(), metadata={"description": "trials running now (live displays only)"}),
    pa.field("search_done", pa.int32()),
    pa.field("seeds_done", pa.int32()),
    pa.field("pruned", pa.int32()),
    pa.field("failed", pa.int32(), metadata={"description": "failed or diverged"}),
    pa.field("metric", pa.string()),
    pa.field("best_score", pa.float64(), metadata={"description": "best task metric of any completed trial"}),
    pa.field("wall_seconds", pa.float64()),
])


def task_status(trials: Rows, sizes: Iterable[Any], spec: Any,
                running: Optional[Mapping[tuple[str, str], int]] = None) -> pa.Table:
    """Per size (ladder order) and finetuning task of ``spec``, trials recorded of the task's
    budget (``finetune.budget_per_task``); empty without ``finetune``."""
    rows = [r for r in _rows(trials) if r.get("task") is not None]
    running = running or {}
    out = []
    for size in sizes:
        for task in spec.finetune.tasks if spec.finetune is not None else []:
            mine = [r for r in rows if r["size"] == size.name and r["task"] == task.name]
            scores = [r["task_score"] for r in mine if _completed(r, "task_score")]
            out.append({
                "size": size.name, "task": task.name, "n_params": size.n_params,
                "budget": spec.finetune.budget_per_task, "done": len(mine),
                "running": running.get((size.name, task.name), 0),
                "search_done": sum(r["phase"] == Phase.FINETUNE_SEARCH for r in mine),
                "seeds_done": sum(r["phase"] == Phase.FINETUNE_SEED for r in mine),
                "pruned": sum(r["status"] == Status.PRUNED for r in mine),
                "failed": sum(r["status"] in (Status.FAILED, Status.DIVERGED) for r in mine),
                "metric": task.metric, "best_score": max(scores) if scores else None,
                "wall_seconds": sum(float(r["wall_seconds"] or 0.0) for r in mine),
            })
    return pa.Table.from_pylist(out, schema=TASK_STATUS_SCHEMA)


def remaining_seconds(status: pa.Table, slots: int) -> Optional[float]:
    """Rough wall seconds left: each size's unfinished trials at that size's mean trial time so
    far (sizes with none yet: the mean of the others, scaled by the paper's N), over ``slots``
    trials at once. None until some trial has finished."""
    rows = status.to_pylist()
    known = {r["size"]: r["wall_seconds"] / r["done"] for r in rows if r["done"] and r["wall_seconds"]}
    if not known:
        return None
    n_params = {r["size"]: r["n_params"] for r in rows}
    reference = sum(n_params[size] for size in known) / len(known)
    mean_known = sum(known.values()) / len(known)
    work = 0.0
    for r in rows:
        per_trial = known.get(r["size"], mean_known * max(r["n_params"] / reference, 0.1))
        work += max(0, r["budget"] - r["done"] - r["running"] / 2) * per_trial
    return work / max(1, slots)


def loglog_line(n_params: list[float], losses: list[float]) -> Optional[tuple[float, float]]:
    """Slope and R^2 of ln(loss) against ln(n_params), or None with fewer than 2 sizes."""
    points = [(n, y) for n, y in zip(n_params, losses) if n and y and n > 0 and y > 0]
    if len({n for n, _ in points}) < 2:
        return None
    from raylaws.fit import PowerLaw

    law = PowerLaw(n_bootstrap=0).fit([n for n, _ in points], [y for _, y in points])
    return -law.exponent_, law.r2_


__all__ = ["BEST_SCHEMA", "STATUS_SCHEMA", "TASK_STATUS_SCHEMA", "FitRows", "best_per_size", "designs_of", "fit_rows",
           "latest_rounds", "loglog_line", "remaining_seconds", "size_status", "task_status", "tasks_of"]
