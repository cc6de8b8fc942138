"""The report's figures, drawn with matplotlib's Agg canvas into PNG bytes.

matplotlib is imported inside each function (it is a heavy import), and through
:class:`matplotlib.figure.Figure` rather than pyplot, so drawing a report neither switches the
caller's backend nor leaves figures open. N is the paper's non-embedding count 12*L*H^2.
"""

from __future__ import annotations

import io
import math
from typing import Any, Optional

import numpy as np

from raylaws.report._analysis import Analysis, TaskLaw, band
from raylaws.trial import Phase, Status

DPI = 110
N_LABEL = "N (non-embedding parameters, 12·L·H²)"
# How each status is drawn in the per-size panels (completed trials are coloured by batch size).
_MARKERS = {
    Status.COMPLETED: dict(marker="o", filled=True, label="completed"),
    Status.PRUNED: dict(marker="o", filled=False, label="pruned (loss when stopped)"),
    Status.DIVERGED: dict(marker="^", filled=False, label="diverged"),
    Status.FAILED: dict(marker="x", filled=True, label="failed"),
}


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _n_range(analysis: Analysis, extra: tuple[float, ...] = ()) -> tuple[float, float]:
    """The N axis: every ladder size (recorded or not), with a margin."""
    values = [n for _, n in analysis.ladder] + [r["n_params"] for r in analysis.trials] + list(extra)
    values = [float(v) for v in values if v and v > 0] or [1e3, 1e6]
    return min(values) / 1.5, max(values) * 1.5


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def loss_against_n(analysis: Analysis) -> bytes:
    """Per-seed losses against N on log-log axes, the fitted law, its bootstrap band and the
    backtest (the law fitted without the largest sizes, and its predictions of them)."""
    figure = _figure(8.0, 5.0)
    ax = figure.add_subplot()
    rows = analysis.fit_rows
    n = np.array(rows.n_params, dtype=float)
    y = np.array(rows.values, dtype=float)
    seed_marks = [size not in rows.fallback for size in rows.sizes]
    if n.size:
        kept = np.array(seed_marks, dtype=bool)
        if kept.any():
            ax.scatter(n[kept], y[kept], s=22, color="C0", alpha=0.75, zorder=3,
                       label="seed re-runs of the best config")
        if (~kept).any():
            ax.scatter(n[~kept], y[~kept], s=30, facecolors="none", edgecolors="C0", zorder=3,
                       label="best search trial (no seeds yet)")
    summary = analysis.law
    if summary is not None:
        grid = np.geomspace(n.min() / 1.5, n.max() * 3.0, 120)
        ax.plot(grid, summary.law.predict(grid), color="C1", lw=2, zorder=2,
                label=f"law: α = {summary.law.exponent_:.3f}, R² = {summary.r2:.3f}")
        one_run = band(summary.law, grid, analysis.level, n_seeds=1)
        curve = band(summary.law, grid, analysis.level, n_seeds=None)
        if one_run is not None:
            ax.fill_between(grid, *one_run, color="C1", alpha=0.12, lw=0,
                            label=f"{analysis.level:.0%} interval of one run (bootstrap)")
        if curve is not None:
            ax.fill_between(grid, *curve, color="C1", alpha=0.3, lw=0,
                            label=f"{analysis.level:.0%} interval of the law")
        result = summary.backtest
        if result is not None:
            held = result.table.to_pylist()
            first_held = min(r["n_params"] for r in held)
            small = grid[grid <= max(grid.min(), first_held * 1.5)]
            ax.plot(small, result.law.predict(small), color="C2", lw=1.5, ls="--", zorder=2,
                    label=f"backtest: fit without the {len(held)} largest, MRE {result.mre:.2%}")
            ax.scatter([r["n_params"] for r in held], [r["predicted"] for r in held], marker="D", s=60,
                       facecolors="none", edgecolors="C2", lw=1.5, zorder=4, label="backtest prediction")
    else:
        ax.set_title("no law: " + analysis.no_fit_reason, fontsize=9)
        if n.size:
            ax.set_ylim(y.min() / 1.15, y.max() * 1.15)
    ax.set_xscale("log")
    low_n, high_n = _n_range(analysis)
    ax.set_xlim(low_n, high_n * (2.0 if summary is not None else 1.0))
    _log_loss_axis(ax)
    if not n.size:
        ax.set_ylim(1.0, 10.0)
    ax.set_xlabel(N_LABEL)
    ax.set_ylabel("best eval loss (nats/token)")
    ax.grid(True, which="both", alpha=0.25)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper right")
    return _png(figure)


def trials_per_size(analysis: Analysis) -> bytes:
    """One panel per size: each search trial's loss against its learning rate (log x), coloured by
    batch size, the search box as vertical lines; pruned, diverged and failed trials marked."""
    sizes = _panel_sizes(analysis)
    columns = min(2, max(1, len(sizes)))
    panel_rows = max(1, math.ceil(len(sizes) / columns))
    figure = _figure(max(8.0, 5.0 * columns), 3.4 * panel_rows + 0.6)  # 8 in: room for the legend
    colours = _batch_colours(analysis.batch_sizes + [r["batch_size"] for r in analysis.trials])
    span_low, span_high = analysis.lr_span()
    best_of = {row["size"]: row for row in analysis.best}
    for index, size in enumerate(sizes):
        ax = figure.add_subplot(panel_rows, columns, index + 1)
        mine = [r for r in analysis.trials if r["size"] == size and r["phase"] == Phase.SEARCH]
        measured = [r["eval_loss"] for r in mine if _finite(r["eval_loss"])]
        top = _top(measured)
        for status, style in _MARKERS.items():
            of_status = [r for r in mine if r["status"] == status]
            if not of_status:
                continue
            xs = [r["learning_rate"] for r in of_status]
            ys = [r["eval_loss"] if _finite(r["eval_loss"]) and r["eval_loss"] <= top else top for r in of_status]
            cs = [colours[r["batch_size"]] for r in of_status]
            if style["marker"] == "x":
                ax.scatter(xs, ys, marker="x", color="crimson", s=40, zorder=4)
            elif style["filled"]:
                ax.scatter(xs, ys, marker=style["marker"], c=cs, s=36, zorder=3, edgecolors="black", linewidths=0.4)
            else:
                ax.scatter(xs, ys, marker=style["marker"], facecolors="none", edgecolors=cs, s=40, linewidths=1.3,
                           zorder=3)
        best = best_of.get(size)
        if best and best["learning_rate"] and best["search_loss"] is not None:
            ax.scatter([best["learning_rate"]], [best["search_loss"]], marker="*", s=180, color="gold",
                       edgecolors="black", linewidths=0.6, zorder=5)
        for edge in analysis.box_of(size):
            ax.axvline(edge, color="grey", ls="--", lw=1)
        if analysis.size_boxes:  # the sizes searched their own boxes: the spec's range, faintly
            for edge in analysis.lr_box:
                ax.axvline(edge, color="grey", ls=":", lw=0.8, alpha=0.6)
        ax.set_xscale("log")
        ax.set_xlim(span_low / 2.0, span_high * 2.0)
        if measured:
            ax.set_ylim(min(measured) - 0.05 * (top - min(measured) + 1e-3), top + 0.06 * (top - min(measured) + 1e-3))
        n_params = dict(analysis.ladder).get(size) or (mine[0]["n_params"] if mine else None)
        ax.set_title(f"{size}  (N = {n_params:,})" if n_params else size, fontsize=10)
        ax.set_xlabel("peak learning rate", fontsize=9)
        ax.set_ylabel("best eval loss", fontsize=9)
        ax.grid(True, which="both", alpha=0.2)
        if not mine:
            ax.text(0.5, 0.5, "no search trials recorded yet", transform=ax.transAxes, ha="center")
    figure.legend(handles=_legend_handles(colours, bool(analysis.size_boxes)), loc="outside lower center", ncol=4,
                  fontsize=8, frameon=False)
    return _png(figure)


def _panel_sizes(analysis: Analysis) -> list[str]:
    """One panel per ladder size (a partial sweep shows its empty sizes), then any other recorded size."""
    sizes = [name for name, _ in analysis.ladder]
    return sizes + [row["size"] for row in analysis.best if row["size"] not in sizes]


def _legend_handles(colours: dict[int, Any], size_boxes: bool = False) -> list[Any]:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color=colour, markeredgecolor="black", label=f"batch {batch}")
               for batch, colour in colours.items()]
    handles += [
        Line2D([], [], ls="", marker="o", markerfacecolor="none", markeredgecolor="grey", label="pruned"),
        Line2D([], [], ls="", marker="^", markerfacecolor="none", markeredgecolor="grey",
               label="diverged (at top if no loss)"),
        Line2D([], [], ls="", marker="x", color="crimson", label="failed (at top)"),
        Line2D([], [], ls="", marker="*", color="gold", markeredgecolor="black", markersize=12, label="best"),
        Line2D([], [], ls="--", color="grey", label="search box of the size"),
    ]
    if size_boxes:
        handles.append(Line2D([], [], ls=":", color="grey", alpha=0.6, label="search.learning_rate"))
    return handles


def optima_against_n(analysis: Analysis) -> bytes:
    """The best learning rate and batch size of each size against N, with the search box."""
    from matplotlib.ticker import NullLocator

    figure = _figure(9.0, 3.6)
    lr_ax, bs_ax = figure.subplots(1, 2)
    best = [row for row in analysis.best if row["learning_rate"]]
    n = [row["n_params"] for row in best]
    lr_ax.plot(n, [row["learning_rate"] for row in best], "o-", color="C0")
    for edge in analysis.lr_box:
        lr_ax.axhline(edge, color="grey", ls="--", lw=1)
    n_of = dict(analysis.ladder)
    for size, (low, high) in analysis.size_boxes.items():  # a size-aware search's own box per size
        if n_of.get(size):
            lr_ax.plot([n_of[size]] * 2, [low, high], color="C0", alpha=0.35, lw=6, solid_capstyle="butt")
    span_low, span_high = analysis.lr_span()
    lr_ax.set_ylim(span_low / 2.0, span_high * 2.0)
    lr_ax.set_ylabel("best peak learning rate lr*")
    bs_ax.plot(n, [row["batch_size"] for row in best], "s-", color="C3")
    for edge in (min(analysis.batch_sizes), max(analysis.batch_sizes)):
        bs_ax.axhline(edge, color="grey", ls="--", lw=1)
    bs_ax.set_ylabel("best batch size bs* (sequences)")
    lr_ax.set_yscale("log")
    bs_ax.set_yscale("log", base=2)
    bs_ax.set_ylim(min(analysis.batch_sizes) / 1.6, max(analysis.batch_sizes) * 1.6)
    bs_ax.set_yticks(analysis.batch_sizes, [str(b) for b in analysis.batch_sizes])
    bs_ax.yaxis.set_minor_locator(NullLocator())
    lr_title = "lr*(N)  (bars: each size's own box)" if analysis.size_boxes else "lr*(N)"
    for ax, title in ((lr_ax, lr_title), (bs_ax, "bs*(N)")):
        ax.set_xscale("log")
        ax.set_xlim(*_n_range(analysis))
        ax.set_xlabel(N_LABEL, fontsize=9)
        ax.set_title(title + "  (dashed: search box)", fontsize=10)
        ax.grid(True, which="both", alpha=0.25)
        if not best:
            ax.text(0.5, 0.5, "no completed trial yet", transform=ax.transAxes, ha="center")
    return _png(figure)


def eval_curves(analysis: Analysis) -> bytes:
    """Per size, eval loss against step: the seed re-runs, or the best search trial until seeds exist."""
    best_of = {row["size"]: row for row in analysis.best}
    sizes = _panel_sizes(analysis)
    columns = min(2, max(1, len(sizes)))
    panel_rows = max(1, math.ceil(len(sizes) / columns))
    figure = _figure(5.0 * columns, 3.0 * panel_rows)
    for index, size in enumerate(sizes):
        ax = figure.add_subplot(panel_rows, columns, index + 1)
        seeds = [r for r in analysis.trials if r["size"] == size and r["phase"] == Phase.SEED and r["eval_steps"]]
        best_id = best_of[size]["best_trial_id"] if size in best_of else None
        shown = seeds or [r for r in analysis.trials if best_id is not None and r["trial_id"] == best_id]
        for k, row in enumerate(sorted(shown, key=lambda r: r["trial_id"])):
            label = f"seed {row['seed']}" if row["phase"] == Phase.SEED else f"best search trial {row['trial_id']}"
            if row["status"] != Status.COMPLETED or row.get("stop_reason") not in (None, "budget"):
                label += f" ({row['status']}, {row.get('stop_reason')})"
            ax.plot(row["eval_steps"] or [], row["eval_losses"] or [], lw=1.3, color=f"C{k % 10}", label=label)
        n_params = dict(analysis.ladder).get(size) or best_of.get(size, {}).get("n_params")
        ax.set_title(f"{size}  (N = {n_params:,})" if n_params else size, fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.set_ylabel("eval loss", fontsize=9)
        ax.grid(True, alpha=0.25)
        if shown:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no completed trial yet", transform=ax.transAxes, ha="center")
    return _png(figure)


def task_laws(tasks: list[TaskLaw]) -> bytes:
    """Per finetuning task: its loss per size (the mean of its fitted rows) against N, and its law."""
    figure = _figure(8.0, 4.5)
    ax = figure.add_subplot()
    for k, task in enumerate(tasks):
        colour = f"C{k % 10}"
        ax.scatter(task.n_params, task.losses, color=colour, zorder=3)
        if task.law is not None:
            grid = np.geomspace(min(task.n_params) / 1.5, max(task.n_params) * 2.0, 60)
            ax.plot(grid, task.law.predict(grid), color=colour,
                    label=f"{task.task}: α = {task.exponent:.3f}, R² = {task.r2:.3f}")
        else:
            ax.plot([], [], color=colour, label=f"{task.task}: too few sizes for a law")
    ax.set_xscale("log")
    _log_loss_axis(ax)
    ax.set_xlabel(N_LABEL)
    ax.set_ylabel("best eval loss")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)
    return _png(figure)


def _log_loss_axis(ax: Any) -> None:
    """A log y axis labelled in plain numbers (losses span less than a decade: 3.0, 4.0, ...)."""
    from matplotlib.ticker import FormatStrFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%.1f"))
    ax.yaxis.set_minor_formatter(FormatStrFormatter("%.1f"))


def _batch_colours(batch_sizes: list[int]) -> dict[int, Any]:
    from matplotlib import colormaps

    ordered = sorted(set(int(b) for b in batch_sizes if b))
    cmap = colormaps["viridis"]
    return {b: cmap(0.15 + 0.7 * i / max(1, len(ordered) - 1)) for i, b in enumerate(ordered)}


def _finite(value: Optional[float]) -> bool:
    return value is not None and math.isfinite(value)


def _top(measured: list[float]) -> float:
    """The top of a panel: diverged and failed trials without a usable loss are drawn here."""
    if not measured:
        return 1.0
    ordered = sorted(measured)
    low = ordered[0]
    typical = ordered[min(len(ordered) - 1, (3 * len(ordered)) // 4)]
    return max(typical + 2.0 * (typical - low), low * 1.02)  # far outliers (a diverging loss) clip to the top
