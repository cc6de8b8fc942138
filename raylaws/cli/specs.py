"""Commands on a spec, before any sweep: ``init``, ``validate``, ``ladder``, ``data``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from raylaws.cli._app import EXIT_INPUT, _error, _guarded, _span, _spec_file, command, err, out
from raylaws.examples import EXAMPLES

SPEC_HELP = f"spec YAML file, or an example's name ({', '.join(EXAMPLES)})"


INIT_HELP = ("Write an example spec to FILE, to edit and run.\n\nThe examples ship with raylaws (any command taking "
             "a spec takes their names too, e.g. `raylaws run demo`):\n\n\b\n" + "\n".join(
                 f"{name:9} {filename}: {what}" for name, (filename, what) in EXAMPLES.items()))


@command(doc=INIT_HELP)
def init(
    file: Optional[Path] = typer.Argument(None, help="spec YAML file to write"),
    example: str = typer.Option("demo", "--example", help=f"which example: {', '.join(EXAMPLES)}"),
    force: bool = typer.Option(False, "--force", help="overwrite FILE if it exists"),
    list_: bool = typer.Option(False, "--list", help="list the examples, one line each, and exit"),
) -> None:
    """Write an example spec to FILE (``INIT_HELP``)."""
    from raylaws.examples import example_path

    if list_:
        for name, (filename, what) in EXAMPLES.items():
            out.print(f"{name:9} {filename}: {what}", highlight=False, markup=False)
        return
    if example not in EXAMPLES:
        _error(f"--example: {example!r} is not one of {', '.join(EXAMPLES)} (see `raylaws init --list`)")
        raise typer.Exit(EXIT_INPUT)
    if file is None:
        _error("give the FILE to write, e.g. `raylaws init --example demo spec.yaml`")
        raise typer.Exit(EXIT_INPUT)
    if file.is_dir():
        _error(f"{file} is a directory; give a FILE to write")
        raise typer.Exit(EXIT_INPUT)
    if file.exists() and not force:
        _error(f"{file} exists; give --force to overwrite it, or another FILE")
        raise typer.Exit(EXIT_INPUT)
    text = _guarded(lambda: example_path(example).read_bytes())
    _guarded(lambda: file.write_bytes(text))
    out.print(f"wrote {file} (example {example}); check it with `raylaws ladder {file}`", highlight=False,
              markup=False)


@command
def validate(specs: list[Path] = typer.Argument(..., help=f"{SPEC_HELP}; several may be given")) -> None:
    """Check spec files without running anything."""
    from raylaws.ladder import build_ladder
    from raylaws.spec import load_spec

    failed = False
    for path in specs:
        try:
            _guarded(lambda: build_ladder(load_spec(_spec_file(path))))
            out.print(f"ok: {path}", highlight=False)
        except typer.Exit:
            failed = True
    if failed:
        raise typer.Exit(EXIT_INPUT)


@command
def ladder(spec: Path = typer.Argument(..., help=SPEC_HELP)) -> None:
    """Print a spec's model sizes and what one trial of each costs.

    Per size: its shape, N, tokens and training FLOPs (6*N*D) per trial, and what one trial
    asks of the cluster (resources and backend).
    """
    from raylaws.ladder import build_ladder
    from raylaws.spec import load_spec

    loaded = _guarded(lambda: load_spec(_spec_file(spec)))
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


@command
def data(
    spec: Path = typer.Argument(..., help=SPEC_HELP),
    verify: bool = typer.Option(False, help="check every shard of an already prepared corpus against its hash"),
    quiet: bool = typer.Option(False, help="no progress lines"),
) -> None:
    """Prepare the spec's corpus once (or find it prepared) and print where it is and what it holds.

    A sweep prepares its data itself; run this first for a large corpus to watch it (tokens/s,
    time left) and to resume it if it is stopped: finished shards are kept."""
    import raylaws.data
    from raylaws.spec import load_spec

    loaded = _guarded(lambda: load_spec(_spec_file(spec)))

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


@command
def plan(
    target: str = typer.Argument(..., help=f"{SPEC_HELP}; or a sweep directory, to take trial times from its records"),
    cluster: Optional[Path] = typer.Option(None, help="a `ray up` config or KubeRay RayCluster (like those in "
                                                      "cluster/): plan for its nodes; default: this machine"),
    nodes: list[str] = typer.Option([], "--nodes", help="TYPE=COUNT: run on COUNT worker nodes of the config's TYPE "
                                                        "instead of its maximum (repeatable)"),
    prices: list[str] = typer.Option([], "--price", help="TYPE=USD: an hour of a node of this instance type or "
                                                         "node-type name (repeatable; over the list prices raylaws "
                                                         "ships)"),
    steps: int = typer.Option(4, min=1, help="optimizer steps timed per size and batch size"),
) -> None:
    """Time each size here (or read a sweep's records) and print what the sweep would cost.

    Per size: one pretraining trial's expected time at the full step budget, how many trials
    it runs (fewest to most: a size-aware box may widen, a seeds rule may add seeds), and its
    CPU- and GPU-hours. Then the sweep's wall time on the cluster (every trial started as soon
    as its size and a node allow; no start-up overhead) and, with --cluster, what its nodes
    cost for that time at on-demand list prices.
    """
    import raylaws.plan
    from raylaws.spec import SpecError, SpecProblem, load_spec, parse_overrides

    records = None
    if Path(target).is_dir() or "://" in target:
        import raylaws

        sweep = _guarded(lambda: raylaws.open(target))
        loaded, records = sweep.spec, sweep.trials().to_pylist()
    else:
        loaded = _guarded(lambda: load_spec(_spec_file(Path(target))))
    counts = _guarded(lambda: parse_overrides(nodes, field="--nodes"))
    rates = _guarded(lambda: parse_overrides(prices, field="--price"))
    bad = [SpecProblem("--nodes", f"{name}={value!r}: give a whole number of nodes, 0 or more")
           for name, value in counts.items() if not isinstance(value, int) or isinstance(value, bool) or value < 0]
    bad += [SpecProblem("--price", f"{name}={value!r}: give USD per hour, a number above 0")
            for name, value in rates.items()
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0]
    if (counts or rates) and cluster is None:
        bad.append(SpecProblem("--nodes/--price", "go with --cluster (this machine has no node types or price)"))
    if bad:
        def refuse() -> None:
            raise SpecError(bad, source="command line")

        _guarded(refuse)
    where = (_guarded(lambda: raylaws.plan.cluster_from_config(cluster, nodes=counts, prices=rates)) if cluster
             else raylaws.plan.this_machine())

    def timing(size: Any) -> None:
        err.print(f"timing {size.name} ...", highlight=False, markup=False)

    estimate = _guarded(lambda: raylaws.plan.plan(loaded, cluster=where, records=records, steps=steps,
                                                  on_size=timing))
    _print_plan(estimate)


def _print_plan(estimate: Any) -> None:
    from raylaws.plan import LIST_PRICES_READ

    table = Table(title=f"{estimate.name}: pretraining trials (fewest-most)")
    for column in ("size", "N", "timed on", "trial", "trials", "CPU-hours", "GPU-hours"):
        table.add_column(column, justify="left" if column in ("size", "timed on") else "right")
    for size in estimate.sizes:
        table.add_row(size.size.name, f"{size.size.n_params:,}", size.trial.device,
                      " - ".join(dict.fromkeys(_duration(s) for s in (size.trial.fastest, size.trial.slowest))),
                      _span(list(size.trials), "{}"), _span(list(size.hours(size.cpus_per_trial)), "{:.2f}"),
                      _span(list(size.hours(size.gpus_per_trial)), "{:.2f}"))
    out.print(table)
    if any(size.trial.source == "timed" for size in estimate.sizes):
        out.print("note: a timed trial runs its whole step budget (patience and pruning only shorten it) at the "
                  "fastest and the slowest batch size (the search decides the mix); a finished sweep gives real "
                  "times (raylaws plan SWEEP)", highlight=False, markup=False)
    notes: dict[str, list[str]] = {}
    for size in estimate.sizes:
        if size.trial.note:
            notes.setdefault(size.trial.note, []).append(size.size.name)
    for note, names in notes.items():
        out.print(f"note: {', '.join(names)} {note}", highlight=False, markup=False)
    lines = [("cluster", f"{estimate.cluster.name}: {estimate.cluster.describe()}"),
             ("trials", _span(list(estimate.trials), "{}")),
             ("CPU-hours", _span(list(estimate.cpu_hours), "{:.2f}")),
             ("GPU-hours", _span(list(estimate.gpu_hours), "{:.2f}")),
             ("wall time", " - ".join(dict.fromkeys(_duration(s) for s in estimate.wall_seconds)))]
    if estimate.usd is not None and estimate.cluster.usd_per_hour:
        lines.append(("cost", f"${_span(list(estimate.usd), '{:,.2f}')} (${estimate.cluster.usd_per_hour:,.2f}/h "
                              f"for every node over the wall time; on-demand list prices read in {LIST_PRICES_READ}, "
                              "or --price)"))
    elif estimate.cluster.name != "this machine":
        unpriced = [t.name for t in estimate.cluster.node_types if t.count and t.usd_per_hour is None]
        lines.append(("cost", f"unknown: no price for {', '.join(unpriced)} (give --price TYPE=USD)"))
    finetune = estimate.sizes[0].finetune_trials if estimate.sizes else 0
    if finetune:
        lines.append(("finetuning", f"{finetune} trials per size, not timed and not in these figures"))
    for label, value in lines:
        out.print(f"{label + ':':11} {value}", highlight=False, markup=False)


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"
