"""The report page: one self-contained HTML file (figures embedded as base64 PNG, inline CSS,
no scripts, no external URLs), so it can be mailed, archived or opened offline."""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from typing import Any, Callable, Optional

from raylaws.report import _figures
from raylaws.report._analysis import Analysis

# Section ids, in page order; `tasks` appears only when finetuning trials exist.
SECTIONS = ("loss-vs-n", "trials-per-size", "optima", "eval-curves", "findings", "tasks", "compute")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
img { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.8em 0; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; white-space: nowrap; }
tr.total td { font-weight: 600; border-top: 2px solid #999; }
ul.findings li { margin: 0.3em 0; } .kind { font-size: 0.8em; color: #fff; border-radius: 3px;
  padding: 0.05em 0.4em; margin-right: 0.4em; background: #888; }
.kind.off_law { background: #c0392b; } .kind.lr_edge { background: #d68910; }
.kind.still_improving { background: #2874a6; } .kind.batch_edge { background: #b9770e; }
.kind.seed_spread { background: #7d3c98; } .note { color: #555; font-style: italic; }
.kind.few_examples { background: #1e8449; } .kind.saturated { background: #5d6d7e; }
.kind.lack_of_fit { background: #c0392b; } .kind.search_edge { background: #d68910; }
"""


def render(analysis: Analysis) -> str:
    """The report page of ``analysis`` as one HTML string."""
    budget = f" of {analysis.budget}" if analysis.budget else ""
    partial = " (partial: the sweep is not finished)" if analysis.budget and analysis.recorded < analysis.budget else ""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>raylaws report: {_e(analysis.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Scaling report: {_e(analysis.name)}</h1>",
        f'<p class="meta">{analysis.recorded}{budget} trials recorded{partial}; N is the non-embedding parameter '
        f"count 12·L·H² throughout; generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by raylaws.</p>",
        _section("loss-vs-n", "Loss against N", _loss_vs_n(analysis)),
        _section("trials-per-size", "Each size's trials: loss against learning rate", _trials_per_size(analysis)),
        _section("optima", "Best learning rate and batch size against N", _optima(analysis)),
        _section("eval-curves", "Eval-loss curves", _eval_curves(analysis)),
        _section("findings", "Off-law and convergence findings", _findings(analysis)),
    ]
    if analysis.tasks:
        parts.append(_section("tasks", "Per-task laws (finetuning)", _tasks(analysis)))
    parts += [_section("compute", "Compute", _compute(analysis)), "</body></html>"]
    return "\n".join(parts)


def _section(section_id: str, heading: str, body: str) -> str:
    return f'<section id="{section_id}">\n<h2>{_e(heading)}</h2>\n{body}\n</section>'


def _e(text: Any) -> str:
    return html.escape(str(text))


def _image(draw: Callable[[], bytes], alt: str) -> str:
    data = base64.b64encode(draw()).decode("ascii")
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def _loss_vs_n(analysis: Analysis) -> str:
    body = [_image(lambda: _figures.loss_against_n(analysis), "best eval loss against N, log-log, with the law")]
    summary = analysis.law
    if summary is None:
        body.append(f'<p class="note">No law fitted: {_e(analysis.no_fit_reason)}.</p>')
        return "\n".join(body)
    law = summary.law
    rows = [[name, f"{value:.5g}", _interval(summary.intervals.get(name))] for name, value in summary.params.items()]
    body.append(f"<p>The paper's form, ln L = −α ln N + b, fitted to {len(analysis.fit_rows.values)} runs of "
                f"{summary.n_sizes} sizes: <b>α = {law.exponent_:.4f}</b>, R² (log-log) = {summary.r2:.4f}"
                + ("" if summary.r2 >= 0.95 else " (below 0.95: predictions unreliable)") + ".</p>")
    body.append(_table(["parameter", "estimate", f"{analysis.level:.0%} CI (hierarchical bootstrap)"], rows))
    result = summary.backtest
    if result is not None:
        held = result.table.to_pylist()
        body.append(f"<p>Backtest: fitted without the {len(held)} largest size(s), the law predicts them with "
                    f"mean relative error <b>{result.mre:.2%}</b>.</p>")
        body.append(_table(["N", "seeds", "observed", "predicted", "relative error"],
                           [[f"{r['n_params']:,.0f}", str(r["n_seeds"]), f"{r['observed']:.4f}",
                             f"{r['predicted']:.4f}", f"{r['re']:+.2%}"] for r in held]))
    if summary.backtest_note:
        note = summary.backtest_note
        body.append(f'<p class="note">{_e(note[:1].upper() + note[1:])}.</p>')
    return "\n".join(body)


def _interval(bounds: Optional[tuple[float, float]]) -> str:
    return "-" if bounds is None else f"{bounds[0]:.5g} .. {bounds[1]:.5g}"


def _trials_per_size(analysis: Analysis) -> str:
    low, high = analysis.lr_box
    if analysis.size_boxes:
        boxes = ("the learning-rate box each size searched last (size-aware search: centred on the optimum the "
                 f"smaller sizes predict, widened where its best hit an edge; search.learning_rate is "
                 f"[{low:.1e}, {high:.1e}])")
    else:
        boxes = f"the search box of the learning rate [{low:.1e}, {high:.1e}] (search.learning_rate)"
    return (f"<p>Every search trial of each size. Dashed lines: {boxes}; a best trial (star) on a line means the "
            f"optimum may lie outside it. Colour: batch size (sequences per step; searched: "
            f"{', '.join(str(b) for b in analysis.batch_sizes)}).</p>\n"
            + _image(lambda: _figures.trials_per_size(analysis), "loss against learning rate, one panel per size"))


def _optima(analysis: Analysis) -> str:
    rows = [[r["size"], f"{r['n_params']:,}", _num(r["learning_rate"], ".2e"), str(r["batch_size"] or "-"),
             str(r["n_seeds"]), _num(r["loss_mean"], ".4f"), _num(r["loss_std"], ".4f"), str(r["n_trials"])]
            for r in analysis.best]
    return (_image(lambda: _figures.optima_against_n(analysis), "best learning rate and batch size against N")
            + "\n" + _table(["size", "N", "lr*", "bs*", "seeds", "loss (mean over seeds)", "std", "search trials"],
                            rows))


def _eval_curves(analysis: Analysis) -> str:
    return ("<p>Eval loss against optimizer step for each size's seed re-runs (or its best search trial while "
            "no seed has finished).</p>\n"
            + _image(lambda: _figures.eval_curves(analysis), "eval loss against step, one panel per size"))


def _findings(analysis: Analysis) -> str:
    if not analysis.findings:
        checks = "no size off the law, " if analysis.law is not None else ""
        return (f"<p>None: {checks}no best learning rate or batch size at an edge of the search space, no trial "
                "stopped by patience while still improving, no size whose seeds spread far more than its "
                "neighbours'.</p>")
    items = [f'<li><span class="kind {f.kind}">{_e(f.kind.replace("_", " "))}</span>{_e(f.message)}'
             + (f' <span class="note">change: {_e(f.field)}</span>' if f.field else "") + "</li>"
             for f in analysis.findings]
    return '<ul class="findings">\n' + "\n".join(items) + "\n</ul>"


def _tasks(analysis: Analysis) -> str:
    from raylaws.laws import R2_THRESHOLD  # scipy: loaded by the analysis already

    rows = [[t.task, str(len(t.n_params)), _num(t.exponent, ".4f"), _num(t.r2, ".4f"), t.verdict]
            for t in analysis.tasks]
    parts = [_image(lambda: _figures.task_laws(analysis.tasks), "per-task loss against N"),
             _table(["task", "sizes", "α", "R²", f"verdict (R² >= {R2_THRESHOLD}: predictions hold)"], rows)]
    for t in analysis.tasks:
        if t.r2 is None or t.r2 >= R2_THRESHOLD:
            continue
        if not t.causes:
            parts.append(f'<p class="note">Task {_e(t.task)} (R² {t.r2:.3f}): no likely cause holds among few '
                         "training examples, a saturated metric, seed spread, sizes off the law and a search "
                         "edge.</p>")
            continue
        items = [f'<li><span class="kind {_e(c.kind.value)}">{_e(c.kind.value.replace("_", " "))}</span>'
                 f"{_e(c.message)}</li>" for c in t.causes]
        parts.append(f'<p id="why-{_e(t.task)}">Why task {_e(t.task)} shows no law (R² {t.r2:.3f} &lt; '
                     f'{R2_THRESHOLD}), likely causes, strongest first:</p>\n<ul class="findings causes">\n'
                     + "\n".join(items) + "\n</ul>")
    return "\n".join(parts)


def _compute(analysis: Analysis) -> str:
    rows = []
    for r in analysis.compute:
        recorded = f"{r['trials']}/{r['budget']}" if r["budget"] else str(r["trials"])
        rows.append([r["size"], f"{r['n_params']:,}" if r["n_params"] else "", recorded, str(r["completed"]),
                     str(r["pruned"]), str(r["diverged"]), str(r["failed"]), str(r["seeds"]),
                     f"{r['wall_seconds']:,.1f}", f"{r['flops']:.3e}", f"{r['tokens']:,}"])
    return ("<p>FLOPs are 6·N·tokens (the paper's N); wall seconds are training time summed over trials, not the "
            "sweep's elapsed time.</p>\n"
            + _table(["size", "N", "trials / budget", "completed", "pruned", "diverged", "failed", "seed runs",
                      "wall seconds", "FLOPs", "tokens"], rows, total_last=True))


def _table(header: list[str], rows: list[list[str]], *, total_last: bool = False) -> str:
    head = "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>"
    body = []
    for index, row in enumerate(rows):
        css = ' class="total"' if total_last and index == len(rows) - 1 else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>")
    return f"<table>\n<thead>{head}</thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def _num(value: Optional[float], pattern: str) -> str:
    return "-" if value is None else format(value, pattern)
