"""Why a target shows no law: the likely causes where a law's R^2 falls below the paper's bar.

Ivgi et al. (2022) call a law usable at R^2 >= 0.95 (:data:`raylaws.laws.R2_THRESHOLD`). Below
it, each rule here checks one cause on the rows the law was fitted to (one per seed of each
size's best config, y = 1 - metric for a task) and the target's records; every threshold is a
constant of this module:

* ``few_examples`` (tasks): the task has fewer than :data:`FEW_EXAMPLES` training examples;
  the paper found no task under 10,000 whose law reached R^2 0.85. The count is the records'
  ``task_train_examples`` (schema 5); for older records, a built-in task's known size, else
  ``steps / epochs * batch_size`` of a trial that ran its whole budget (an upper bound, within
  one batch).
* ``saturated``: y does not move with N: the fitted power law (least squares of ln y on ln N,
  the paper's fit) changes by at most :data:`SATURATED_TREND` seed standard deviations from
  the smallest to the largest size, and the standard deviation of the size means is at most
  :data:`SATURATED_SPREAD` seed standard deviations.
* ``seed_spread`` (when not saturated): the seeds scatter so much within sizes that no
  function of N could reach the bar: R^2 of ln y is at most 1 - SS_within / SS_total (the
  share of the variance between sizes), and that ceiling is below the bar. The message gives
  the pooled seed standard deviation against the standard deviation of the size means.
* ``lack_of_fit`` (when not saturated): the size means lie off the law: the share of the
  variance of ln y between sizes that the law leaves unexplained (ceiling - R^2) is more than
  the bar allows (1 - bar), or the seeds do not cap R^2 below the bar (then the law would hold
  with its sizes on the line). The two split R^2's shortfall, 1 - R^2 = (1 - ceiling) +
  (ceiling - R^2), and one of them always holds for a weak law whose sizes have seeds. The
  usual sources are per size (a size stopped early, a search that missed); ``raylaws debug``
  (:func:`raylaws.diagnose.diagnose`) names them.
* ``search_edge`` (tasks): the finetuning search's best config of a size (the one its seeds
  re-ran) sits on an edge of its box: a learning rate within
  :data:`raylaws.diagnose.EDGE_FRACTION` of the box's log-width from ``finetune.learning_rate``'s
  low or high bound, or the largest of two or more ``finetune.epochs`` choices, at
  :data:`EDGE_SIZES` or more sizes. The box is the one each trial ran with (its ``config_json``).

Several causes may hold; they are listed strongest first, where a cause's strength is its
measure as a ratio to its threshold (10,000 / examples; the seed std over the larger of the
trend and the spread of the size means; (1 - ceiling) / (1 - bar); (ceiling - R^2) / (1 - bar);
the sizes at an edge).
Seed standard deviations are pooled over sizes with two or more rows (ddof 1 per size).
N is the paper's non-embedding count 12*L*H^2. Pure pyarrow/numpy: no Ray, no torch.
"""

from __future__ import annotations

import enum
import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np
import pyarrow as pa

from raylaws import views
from raylaws.diagnose import lr_edge
from raylaws.spec import BUILTIN_TASKS
from raylaws.tasks import builtin_counts
from raylaws.trial import Phase, Status, StopReason

FEW_EXAMPLES = 10_000  # the paper: every task with fewer training examples had a law of R^2 < 0.85
FEW_EXAMPLES_R2 = 0.85
SATURATED_TREND = 1.0  # the fitted change of y across the ladder, in seed standard deviations
SATURATED_SPREAD = 1.0  # the standard deviation of the size means, in seed standard deviations
EDGE_SIZES = 1  # sizes whose best finetuning config sits on an edge of the box
_MAX_STRENGTH = 1000.0  # a flat line or a tiny spread divides by ~0: cap the ratio
_METRIC_NAMES = {"accuracy": "accuracy", "f1": "F1", "mcc": "MCC"}


class CauseKind(str, enum.Enum):
    """Which rule found a cause (see the module docstring)."""

    FEW_EXAMPLES = "few_examples"
    SATURATED = "saturated"
    SEED_SPREAD = "seed_spread"
    LACK_OF_FIT = "lack_of_fit"
    SEARCH_EDGE = "search_edge"

    def __str__(self) -> str:
        return str(self.value)


@dataclass(frozen=True)
class Cause:
    """One likely cause of a weak law.

    Attributes:
        kind: the rule that found it.
        message: one line with the numbers that triggered it.
        strength: its measure as a ratio to its threshold (1: at the threshold); causes sort by it.
        field: the spec field to change, where changing one helps (None otherwise).
    """

    kind: CauseKind
    message: str
    strength: float
    field: Optional[str] = None


@dataclass(frozen=True)
class Spread:
    """How the fitted rows of a target scatter: in y, and in ln y for R^2 (the paper's R^2 is of
    ln y over every row), against the least-squares power law (the paper's fit).

    Attributes:
        sizes: the sizes, ascending N; ``means`` each one's mean y, ``deviations`` its mean
            ln y's distance from the line as a relative deviation of y.
        seed_std: pooled standard deviation of y within a size.
        size_std: standard deviation (ddof 1) of the size means.
        trend: |change| of the line from the smallest to the largest N, in y.
        ceiling: the largest R^2 any function of N reaches on these rows, 1 - SS_within/SS_total.
        r2: the line's R^2 (the power law's).
        n_min, n_max: the smallest and largest N.
    """

    sizes: list[str]
    means: list[float]
    deviations: list[float]
    seed_std: float
    size_std: float
    trend: float
    ceiling: float
    r2: float
    n_min: float
    n_max: float


def spread_of(rows: views.FitRows) -> Optional[Spread]:
    """The :class:`Spread` of ``rows``; None with fewer than 2 sizes, no size with 2 or more
    rows, or a y that is not positive (no logarithm)."""
    y = np.asarray(rows.values, dtype=float)
    n = np.asarray(rows.n_params, dtype=float)
    sizes = sorted(set(n.tolist()))
    groups = [y[n == size] for size in sizes]
    dof = sum(len(g) - 1 for g in groups)
    if len(sizes) < 2 or dof < 1 or not np.all(y > 0):
        return None
    ln_y, ln_n = np.log(y), np.log(n)
    slope, intercept = np.polyfit(ln_n, ln_y, 1)
    line = intercept + slope * np.log(sizes)
    total = float(np.sum((ln_y - ln_y.mean()) ** 2))
    within = sum(float(np.sum((np.log(g) - np.log(g).mean()) ** 2)) for g in groups)
    residual = float(np.sum((ln_y - (intercept + slope * ln_n)) ** 2))
    means = [float(g.mean()) for g in groups]
    name_of = dict(zip(rows.n_params, rows.sizes))
    return Spread(sizes=[name_of.get(size, f"N={size:,.0f}") for size in sizes], means=means,
                  deviations=[float(np.expm1(np.log(g).mean() - at)) for g, at in zip(groups, line)],
                  seed_std=math.sqrt(sum(float(np.sum((g - g.mean()) ** 2)) for g in groups) / dof),
                  size_std=float(np.std(means, ddof=1)), trend=float(abs(np.exp(line[-1]) - np.exp(line[0]))),
                  ceiling=1.0 - within / total if total > 0 else 0.0,
                  r2=1.0 - residual / total if total > 0 else 0.0, n_min=sizes[0], n_max=sizes[-1])


def likely_causes(trials: pa.Table, rows: views.FitRows, *, r2: float, bar: float, task: Optional[str] = None,
                  design: Optional[str] = None, metric: str = "eval_loss") -> tuple[Cause, ...]:
    """The likely causes of a weak law of ``task`` (None: pretraining) of ``design``, strongest
    first; empty when none of the rules holds.

    Args:
        trials: the sweep's trials table (each size's latest round is judged).
        rows: the rows the law was fitted to (:func:`raylaws.views.fit_rows`).
        r2: the law's R^2.
        bar: the R^2 a law needs (:data:`raylaws.laws.R2_THRESHOLD`).
        task, design: the target.
        metric: the trials column fitted (``eval_loss``: y = 1 - metric for a task).
    """
    records = [r for r in views.latest_rounds(trials) if r.get("task") == task and r.get("design") == design]
    label = _label(records, task, metric)
    found: list[Optional[Cause]] = []
    if task is not None:
        found += [few_examples(records, task), search_edge(records, rows)]
    spread = spread_of(rows)
    if spread is not None:
        saturated = saturation(spread, label)
        found.append(saturated)
        if saturated is None:  # with no size effect, the shortfall is all "flat": nothing else to split
            found += [seed_spread(spread, label, bar=bar, task=task), lack_of_fit(spread, label, bar=bar, r2=r2)]
    order = list(CauseKind)
    return tuple(sorted((c for c in found if c is not None), key=lambda c: (-c.strength, order.index(c.kind))))


def training_examples(records: list[Mapping[str, Any]], task: str) -> Optional[tuple[int, bool]]:
    """The task's training examples and whether the count is exact: as recorded (schema 5), a
    built-in task's, else estimated from a trial that ran its whole budget; None if unknown."""
    recorded = [r["task_train_examples"] for r in records if r.get("task_train_examples") is not None]
    if recorded:
        return int(recorded[0]), True
    for record in records:
        spec = next((t for t in (_config(record).get("finetune") or {}).get("tasks") or [] if t.get("name") == task),
                    None)
        if spec is not None and spec.get("data") is None and task in BUILTIN_TASKS:
            return builtin_counts(task).train, True
    for record in records:
        epochs = (_config(record).get("trial") or {}).get("epochs")
        if record["status"] == Status.COMPLETED and record.get("stop_reason") == StopReason.BUDGET and epochs:
            steps_per_epoch = int(record["steps"]) // int(epochs)
            if steps_per_epoch > 0:
                return steps_per_epoch * int(record["batch_size"]), False
    return None


def few_examples(records: list[Mapping[str, Any]], task: str) -> Optional[Cause]:
    """``few_examples``: fewer than :data:`FEW_EXAMPLES` training examples."""
    known = training_examples(records, task)
    if known is None or known[0] >= FEW_EXAMPLES:
        return None
    count, exact = known
    what = f"{count:,} training examples" if exact else (f"about {count:,} training examples (steps per epoch x "
                                                          "batch size of a finished trial)")
    return Cause(CauseKind.FEW_EXAMPLES, f"{what}: the paper found no task under {FEW_EXAMPLES:,} with R² >= "
                                         f"{FEW_EXAMPLES_R2}", min(FEW_EXAMPLES / max(count, 1), _MAX_STRENGTH))


def saturation(spread: Spread, label: str) -> Optional[Cause]:
    """``saturated``: the trend and the spread of the size means inside the seed noise."""
    trend_limit, spread_limit = SATURATED_TREND * spread.seed_std, SATURATED_SPREAD * spread.seed_std
    if spread.seed_std <= 0 or spread.trend > trend_limit or spread.size_std > spread_limit:
        return None
    strength = min(_ratio(trend_limit, spread.trend), _ratio(spread_limit, spread.size_std))
    message = (f"{label} is flat across sizes: size means {min(spread.means):.3g} to {max(spread.means):.3g} (std "
               f"{spread.size_std:.3g}), the fitted law moves {spread.trend:.3g} from N={spread.n_min:,.0f} to "
               f"N={spread.n_max:,.0f}, both inside the seed std {spread.seed_std:.3g}: the metric is saturated at "
               "every size (too easy or too hard for these sizes)")
    return Cause(CauseKind.SATURATED, message, strength)


def seed_spread(spread: Spread, label: str, *, bar: float, task: Optional[str] = None) -> Optional[Cause]:
    """``seed_spread``: the seeds' scatter alone keeps R^2 below ``bar``. More seeds do not lift
    that cap: the variance within sizes grows with them as fast as the variance between sizes."""
    if spread.ceiling >= bar:
        return None
    message = (f"seed std {spread.seed_std:.3g} of {label} is {_times(spread.seed_std, spread.size_std)} the spread "
               f"of size means {spread.size_std:.3g}: the seeds alone cap R² at {max(spread.ceiling, 0.0):.3f} "
               f"(< {bar}) however many run; a wider range of N or less noisy runs "
               f"({'more evaluation tokens' if task is None else 'a larger evaluation split'}) lift it")
    return Cause(CauseKind.SEED_SPREAD, message, min((1.0 - spread.ceiling) / (1.0 - bar), _MAX_STRENGTH))


def lack_of_fit(spread: Spread, label: str, *, bar: float, r2: float) -> Optional[Cause]:
    """``lack_of_fit``: the size means lie off the law (of R^2 ``r2``): their share of the
    variance alone sinks it, or the seeds do not (``ceiling >= bar``), so this is what does."""
    share = spread.ceiling - r2  # of the variance of ln y: between sizes, yet off the law
    if r2 >= bar or share <= 0 or (share <= 1.0 - bar and spread.ceiling < bar):
        return None
    worst = sorted(range(len(spread.sizes)), key=lambda i: -abs(spread.deviations[i]))[:2]
    off = ", ".join(f"{spread.sizes[i]} {spread.deviations[i]:+.1%}" for i in sorted(worst))
    message = (f"the size means of {label} lie off the law: they leave {share:.2f} of the variance of ln y "
               f"unexplained beyond the seeds' (R² {r2:.3f} against a ceiling of {max(spread.ceiling, 0.0):.3f}); "
               f"furthest off: {off}; `raylaws debug` names off-law sizes and why")
    return Cause(CauseKind.LACK_OF_FIT, message, min(share / (1.0 - bar), _MAX_STRENGTH))


def search_edge(records: list[Mapping[str, Any]], rows: views.FitRows) -> Optional[Cause]:
    """``search_edge``: the best finetuning config on an edge of its box at :data:`EDGE_SIZES`+ sizes."""
    sizes = list(dict.fromkeys(rows.sizes))
    at_edge: dict[tuple[str, str], list[str]] = {}  # (what, field) -> sizes
    for size in sizes:
        best = _best_config(records, size)
        box = (_config(best).get("finetune") or {}) if best is not None else {}
        if best is None or not box:
            continue
        lr_box = box.get("learning_rate") or {}
        low, high = float(lr_box.get("low") or 0.0), float(lr_box.get("high") or 0.0)
        edge = lr_edge(float(best["learning_rate"]), (low, high)) if 0 < low < high else None
        if edge is not None:
            at_edge.setdefault((f"learning rate at the {edge} edge of [{low:.1e}, {high:.1e}]",
                                f"finetune.learning_rate.{edge}"), []).append(size)
        choices = sorted(int(e) for e in box.get("epochs") or [])
        epochs = (_config(best).get("trial") or {}).get("epochs")
        if len(choices) >= 2 and epochs is not None and int(epochs) == choices[-1]:
            at_edge.setdefault((f"epochs {choices[-1]}, the last of {choices}", "finetune.epochs"), []).append(size)
    edged = [size for size in sizes if any(size in found for found in at_edge.values())]
    if len(edged) < EDGE_SIZES:
        return None
    parts = "; ".join(f"{what} at {', '.join(found)}" for (what, _), found in at_edge.items())
    fields = list(dict.fromkeys(field for _, field in at_edge))
    message = (f"the finetuning search's best config sits on an edge of its box at {len(edged)} of {len(sizes)} "
               f"sizes: {parts}; the optimum may lie outside it: widen {', '.join(fields)}")
    return Cause(CauseKind.SEARCH_EDGE, message, len(edged) / EDGE_SIZES, fields[0])


def _best_config(records: list[Mapping[str, Any]], size: str) -> Optional[Mapping[str, Any]]:
    """The record of ``size``'s best finetuning config: a completed seed (the seeds re-run the
    study's best), else its best completed search trial."""
    mine = [r for r in records if r["size"] == size and r["status"] == Status.COMPLETED and r["eval_loss"] is not None]
    seeds = [r for r in mine if r["phase"] == Phase.FINETUNE_SEED]
    if seeds:
        return seeds[0]
    search = [r for r in mine if r["phase"] == Phase.FINETUNE_SEARCH]
    return min(search, key=lambda r: (r["eval_loss"], r["trial_id"])) if search else None


def _config(record: Mapping[str, Any]) -> dict[str, Any]:
    try:
        config = json.loads(record.get("config_json") or "{}")
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def _label(records: list[Mapping[str, Any]], task: Optional[str], metric: str) -> str:
    """What y is: ``1 - MCC`` for a task's eval_loss, ``eval loss`` for pretraining, else the column."""
    if metric != "eval_loss":
        return metric
    if task is None:
        return "eval loss"
    name = next((r["task_metric"] for r in records if r.get("task_metric")), None)
    return f"1 - {_METRIC_NAMES.get(name, name)}" if name else "1 - metric"


def _ratio(limit: float, value: float) -> float:
    return min(limit / value, _MAX_STRENGTH) if value > 0 else _MAX_STRENGTH


def _times(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "far above"


__all__ = ["EDGE_SIZES", "FEW_EXAMPLES", "FEW_EXAMPLES_R2", "SATURATED_SPREAD", "SATURATED_TREND", "Cause",
           "CauseKind", "Spread", "few_examples", "lack_of_fit", "likely_causes", "saturation", "search_edge", "seed_spread",
           "spread_of", "training_examples"]
