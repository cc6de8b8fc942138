"""Tuning matters: the demo's law when each size is tuned, against one setting for all sizes.

Ivgi et al. (2022) find that a scaling law shows only when every size is tuned: on SQuAD 1.1,
R² 0.998 with learning rate and batch size tuned per size, 0.830 with one setting for all
sizes. This benchmark measures the same on raylaws' demo ladder (``search_spaces/demo.yaml``:
a causal LM on the Python standard library's sources, L1..L4) in three arms over the same
seeds:

1. ``tuned``: tuned per size, as raylaws does. The demo sweep runs (``raylaws run``, kept
   under ``--storage``; a second run resumes, i.e. reuses, it) or ``--sweep DIR`` names a
   finished one; each size's chosen config and its seed re-runs (the seed phase, the search
   trial itself left out, as ``raylaws fit`` does) are the arm.
2. ``smallest``: "one setting for all": every size trained with the smallest size's chosen
   learning rate and batch size.
3. ``middle``: every size trained with the middle size's chosen config. The middle size is the
   one whose ln N is nearest the middle of the ladder's ln N range (the smaller on a tie): a
   law is a line in ln N, so the middle of that line is the setting a user tuning one size
   would most likely pick. On the demo (N = 1,728 .. 110,592) it is L2 exactly:
   13,824 = sqrt(1,728 x 110,592). Of 4 sizes, L2 and L3 are both "middle" by rank.

Arms 2 and 3 train every size over the seeds the sweep's seed phase ran at that size (its seeds
rule may stop a size at fewer seeds than another), so every arm's mean at a size averages the
same seeds. They train with the sweep's stored spec, in a process pool (``--workers``, default
2) calling :func:`raylaws.train.train_trial` with
:meth:`raylaws.trial.TrialSettings.for_size`, as a sweep's trial does inside Ray, so the arms
differ by the config only. The runs that repeat one of the sweep's (a size trained with its own
config) are compared with its records: the ``retrained`` line (0 when training is deterministic).

Per arm, from ``raylaws.fit.PowerLaw`` as ``raylaws fit`` fits it (power form, least squares
over every (size, seed) row, B = 1000, seed 0): R² of ln loss, the exponent alpha (loss ~
N^-alpha; the log-log slope is -alpha) with its 95% bootstrap interval, and any problem the fit
finds (a law that rises with N fits as well as one that falls: read alpha's sign); the backtest
of the largest size (``raylaws.fit.backtest``, holdout 1: relative error of its seed mean); each
size's seed-mean loss. A diverged run counts with the best loss it reached (the model a user
would keep), marked ``!``; one never evaluated is left out. The figure (``--out``, PNG) draws
loss against N, log-log, each arm's runs, seed means and line; the runs go beside it as CSV.

Usage:
    python benchmarks/tuning_matters.py                       # the demo sweep + 16 trainings
    python benchmarks/tuning_matters.py --sweep /tmp/demo/demo  # reuse a finished demo sweep
    python benchmarks/tuning_matters.py --smoke-test          # 3 tiny sizes: about a minute
    python benchmarks/tuning_matters.py --runs /tmp/raylaws-tuning-matters/tuning_matters.csv  # refit, redraw
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import textwrap
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import search_efficiency  # noqa: E402  (benchmarks/search_efficiency.py: the pool trainer)

DEFAULT_SPEC = REPO / "search_spaces" / "demo.yaml"
DEFAULT_OUT = Path("/tmp/raylaws-tuning-matters/tuning_matters.png")
ARMS = ("tuned", "smallest", "middle")
# --smoke-test: the demo with 3 tiny sizes and budgets (3 sizes: the backtest fits 2, predicts 1).
SMOKE_OVERRIDES: dict[str, Any] = {
    "data": {"tokenizer": {"kind": "bpe", "vocab_size": 300}, "seq_len": 32, "eval_tokens": 1024,
             "max_tokens": 40_000},
    "ladder": {"aspect_ratio": 8, "layers": [1, 2, 3], "n_heads": 2},
    "training": {"max_steps": 30, "warmup_steps": 3, "eval_interval": 10, "patience": None},
    "search": {"trials_per_size": 2, "size_aware": {"trials_after_first": 1}},
}


@dataclass(frozen=True)
class Run:
    """One training of one arm: a size, a config, a seed and how it ended."""

    arm: str
    size: str
    n_params: int  # the paper's non-embedding N = 12 L H^2
    learning_rate: float
    batch_size: int  # sequences per optimizer step
    seed: int
    status: str
    eval_loss: Optional[float]  # the best eval loss reached (before diverging, for a diverged run)
    steps: int

    @property
    def loss(self) -> Optional[float]:
        """What the run counts as in its arm's fit (None: no evaluation, left out)."""
        ok = self.eval_loss is not None and math.isfinite(self.eval_loss)
        return self.eval_loss if ok and self.status in ("completed", "diverged") else None


@dataclass
class ArmResult:
    """One arm's law and per-size seed means."""

    arm: str
    label: str
    runs: list[Run]
    r2: float = math.nan
    exponent: float = math.nan  # alpha: loss ~ N^-alpha
    exponent_interval: tuple[float, float] = (math.nan, math.nan)
    backtest_re: float = math.nan  # (predicted - observed) / observed of the largest size's seed mean
    law: Any = None
    seed_means: dict[str, float] = field(default_factory=dict)
    marked: set[str] = field(default_factory=set)  # sizes with a seed that did not complete


# ---- the sweep (arm 1) --------------------------------------------------------------------


def write_smoke_spec(folder: Path) -> Path:
    """The demo spec with :data:`SMOKE_OVERRIDES`, written to ``folder/demo-smoke.yaml``."""
    import yaml

    raw = yaml.safe_load(DEFAULT_SPEC.read_text())
    raw["name"] = "demo-smoke"
    for section, values in SMOKE_OVERRIDES.items():
        raw[section] = {**raw[section], **values}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "demo-smoke.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder / "demo-smoke.yaml"


def run_sweep(spec_path: Path, storage: Path) -> Path:
    """``raylaws run SPEC --storage STORAGE`` in its own process (a finished sweep there is
    resumed: nothing to do); the sweep's folder."""
    from raylaws.spec import load_spec

    name = load_spec(spec_path).name
    command = [str(Path(sys.executable).parent / "raylaws"), "run", str(spec_path), "--storage", str(storage),
               "--quiet"]
    print(f"running the sweep: {' '.join(command)}", flush=True)
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return storage / name


def tuned_arm(sweep_dir: Path) -> tuple[Any, list[Run], list[Any]]:
    """The sweep's stored spec, its seed re-runs as arm 1's runs, and its ladder.

    Raises:
        SystemExit: one line naming the problem and the fix, when the folder is not a finished
            sweep of one ladder (no designs, no debug re-runs) with seed re-runs for every size.
    """
    import raylaws
    from raylaws.errors import SweepError
    from raylaws.ladder import build_ladder

    try:
        sweep = raylaws.open(sweep_dir)
        spec, rows = sweep.spec, sweep.trials().to_pylist()
    except (SweepError, OSError) as error:
        raise SystemExit(f"--sweep: {sweep_dir} is not a readable sweep ({error}); give the folder "
                         "`raylaws run` wrote (STORAGE/NAME)") from None
    rows = [r for r in rows if r.get("task") is None]
    if spec.designs or any(int(r.get("round") or 0) for r in rows):
        raise SystemExit(f"--sweep: {sweep_dir} has designs or debug re-runs; give a plain sweep, whose trials "
                         "all trained with its stored spec")
    sizes = list(build_ladder(spec))
    runs = [Run("tuned", r["size"], int(r["n_params"]), float(r["learning_rate"]), int(r["batch_size"]),
                int(r["seed"]), r["status"], r["eval_loss"], int(r["steps"] or 0))
            for r in rows if r["phase"] == "seed"]
    missing = [s.name for s in sizes if not any(run.size == s.name and run.loss is not None for run in runs)]
    if missing:
        raise SystemExit(f"--sweep: {sweep_dir} has no finished seed re-run of {', '.join(missing)}; finish it "
                         f"with `raylaws resume {sweep_dir}`")
    return spec, sorted(runs, key=lambda r: (r.n_params, r.seed)), sizes


def middle_size(sizes: Sequence[Any]) -> Any:
    """The size whose ln N is nearest the middle of the ladder's ln N range (the smaller on a
    tie): the middle of the law's line."""
    ordered = sorted(sizes, key=lambda s: s.n_params)
    centre = (math.log(ordered[0].n_params) + math.log(ordered[-1].n_params)) / 2
    return min(ordered, key=lambda s: (round(abs(math.log(s.n_params) - centre), 9), s.n_params))


# ---- the fixed arms (2 and 3) -------------------------------------------------------------


def train_fixed(spec: Any, sizes: Sequence[Any], arms: dict[str, Any], seeds: dict[str, Sequence[int]],
                workers: int) -> list[Run]:
    """Every size with each arm's config (a :class:`raylaws.trial.Hyperparameters`) over its
    seeds (``seeds[size name]``), in a pool of ``workers`` processes (largest sizes first; a job
    two arms share trains once)."""
    jobs = {(size.name, config.learning_rate, config.batch_size, seed): None
            for size in sorted(sizes, key=lambda s: -s.n_params) for config in arms.values()
            for seed in seeds[size.name]}
    rows = dict(zip(jobs, search_efficiency.train_points(spec, list(jobs), workers)))
    runs = []
    for arm, config in arms.items():
        for size in sorted(sizes, key=lambda s: s.n_params):
            for seed in seeds[size.name]:
                row = rows[(size.name, config.learning_rate, config.batch_size, seed)]
                runs.append(Run(arm, size.name, size.n_params, config.learning_rate, config.batch_size, seed,
                                row["status"], row["eval_loss"], int(row["steps"])))
    return runs


def retrained_gap(tuned: Sequence[Run], fixed: Sequence[Run]) -> tuple[int, float]:
    """How many fixed-arm runs repeat a sweep run (size, config, seed) and the largest relative
    difference of their losses (0.0 when the training is deterministic)."""
    def key(run: Run) -> tuple[str, str, int, int]:  # a learning rate to 12 digits: the sweep stores a
        return run.size, f"{run.learning_rate:.12g}", run.batch_size, run.seed  # shared one 1 ulp apart

    sweep = {key(r): r.loss for r in tuned}
    pairs = [(sweep[key(r)], r.loss) for r in fixed if key(r) in sweep]
    gaps = [abs(b - a) / a if a is not None and b is not None else math.inf for a, b in pairs if a != b]
    return len(pairs), max(gaps, default=0.0)


# ---- the laws and the table ---------------------------------------------------------------


def fit_arm(arm: str, label: str, runs: Sequence[Run]) -> ArmResult:
    """The arm's law as ``raylaws fit`` fits it, its backtest of the largest size, seed means."""
    import warnings

    from raylaws.fit import DegenerateFitWarning, PowerLaw, backtest

    result = ArmResult(arm, label, list(runs))
    counted = [r for r in runs if r.loss is not None]
    result.marked = {r.size for r in runs if r.status != "completed"}
    for size in sorted({r.size for r in counted}, key=lambda s: next(r.n_params for r in counted if r.size == s)):
        result.seed_means[size] = statistics.fmean(r.loss for r in counted if r.size == size)  # type: ignore[misc]
    n_params = [float(r.n_params) for r in counted]
    losses = [float(r.loss) for r in counted]  # type: ignore[arg-type]
    if len(result.seed_means) < 2:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateFitWarning)  # a flat or rising law is the finding here
        law = PowerLaw("power", n_bootstrap=1000, random_state=0).fit(n_params, losses)
        result.law, result.r2, result.exponent = law, float(law.r2_), float(law.exponent_)
        result.exponent_interval = law.confidence_intervals()["alpha"]
        if len(result.seed_means) >= 3:
            held = backtest(PowerLaw("power", n_bootstrap=0), n_params, losses, holdout=1)
            result.backtest_re = float(held.table.column("re")[0].as_py())
    return result


def _cell(value: float, pattern: str) -> str:
    return "-" if math.isnan(value) else format(value, pattern)


def table(results: Sequence[ArmResult], sizes: Sequence[Any]) -> list[str]:
    """The printed table: one row per arm."""
    names = [s.name for s in sorted(sizes, key=lambda s: s.n_params)]
    width = max(len(r.label) for r in results) + 2
    lines = [f"{'arm':<{width}}{'R²':>7}{'alpha':>8}{'alpha 95%':>17}{'backtest ' + names[-1]:>17}"
             + "".join(f"{name:>10}" for name in names)]
    for r in results:
        low, high = r.exponent_interval
        interval = "-" if math.isnan(low) else f"[{low:.3f}, {high:.3f}]"
        means = "".join(f"{_cell(r.seed_means.get(n, math.nan), '.4f') + ('!' if n in r.marked else ' '):>10}"
                        for n in names)
        lines.append(f"{r.label:<{width}}{_cell(r.r2, '.4f'):>7}{_cell(r.exponent, '.4f'):>8}{interval:>17}"
                     f"{_cell(r.backtest_re, '+.2%'):>17}{means}")
    return lines


def plot(results: Sequence[ArmResult], path: Path, caption: str) -> None:
    """Loss against N, log-log: each arm's runs (small), seed means (large) and fitted line; the
    arms' points are dodged a few percent in N so that equal points stay visible."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator, NullLocator

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    styles = zip(results, ("tab:blue", "tab:red", "tab:green"), ("o", "s", "^"), (1.0, 0.95, 1.05))
    for r, colour, marker, dodge in styles:
        counted = [run for run in r.runs if run.loss is not None]
        ax.scatter([run.n_params * dodge for run in counted], [run.loss for run in counted], s=14, alpha=0.45,
                   color=colour, marker=marker)
        n_of = {run.size: run.n_params for run in counted}
        ax.scatter([n_of[s] * dodge for s in r.seed_means], list(r.seed_means.values()), s=60, color=colour,
                   marker=marker, edgecolor="black", linewidth=0.6, zorder=3,
                   label=f"{r.label}: R² {_cell(r.r2, '.3f')}, α {_cell(r.exponent, '.3f')}")
        if r.law is not None:
            grid = np.geomspace(min(n_of.values()), max(n_of.values()), 50)
            ax.plot(grid, r.law.predict(grid), color=colour, linewidth=1.3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(MaxNLocator(7))  # a loss spans well under a decade: plain ticks, not 10^k
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter("{x:g}")
    ax.set_xlabel("N (non-embedding parameters, 12 L H²)")
    ax.set_ylabel("eval loss (nats/token; seed means large, runs small)")
    ax.set_title("Tuning matters: tuned per size against one setting for all")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    fig.text(0.01, 0.01, textwrap.fill(caption, 150), fontsize=6.5, color="dimgray")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write_runs(results: Sequence[ArmResult], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f for f in Run.__dataclass_fields__])
        writer.writeheader()
        for r in results:
            writer.writerows(asdict(run) for run in r.runs)


def read_runs(path: Path) -> list[Run]:
    """The runs a previous run wrote beside its figure (``--runs``)."""
    with path.open(newline="") as handle:
        return [Run(row["arm"], row["size"], int(row["n_params"]), float(row["learning_rate"]), int(row["batch_size"]),
                    int(row["seed"]), row["status"], float(row["eval_loss"]) if row["eval_loss"] else None,
                    int(row["steps"])) for row in csv.DictReader(handle)]


def sweep_and_fixed_arms(args: argparse.Namespace, out: Path) -> tuple[list[Run], str]:
    """Arm 1 from the sweep (run now, or ``--sweep``), then arms 2 and 3 trained; every run."""
    if args.sweep is None:
        spec_path = write_smoke_spec(out.parent) if args.smoke_test else DEFAULT_SPEC
        args.sweep = run_sweep(spec_path, args.storage or out.parent / "sweeps")
    spec, tuned, sizes = tuned_arm(args.sweep)
    from raylaws.trial import Hyperparameters

    configs = {r.size: Hyperparameters(r.learning_rate, r.batch_size) for r in tuned}  # one per size: no re-runs
    smallest, middle = min(sizes, key=lambda s: s.n_params), middle_size(sizes)
    seeds = {s.name: sorted({r.seed for r in tuned if r.size == s.name}) for s in sizes}
    print(f"sweep {args.sweep} (spec {spec.name}): {len(sizes)} sizes, seeds "
          + "; ".join(f"{size} {', '.join(map(str, ran))}" for size, ran in seeds.items()))
    print("chosen configs: " + "; ".join(f"{size} lr {c.learning_rate:.4g} bs {c.batch_size}"
                                         for size, c in configs.items()))
    print(f"training every size with {smallest.name}'s config and with {middle.name}'s (middle: its ln N is "
          f"nearest the middle of the ladder's), {args.workers} at a time", flush=True)
    fixed = train_fixed(spec, sizes, {"smallest": configs[smallest.name], "middle": configs[middle.name]}, seeds,
                        args.workers)
    repeated, gap = retrained_gap(tuned, fixed)
    print(f"retrained: {repeated} runs repeat a sweep run (size, config, seed); largest relative loss "
          f"difference {gap:.2e}")
    return tuned + fixed, f"sweep {args.sweep.name}"


def notes(result: ArmResult) -> list[str]:
    """What the table's numbers alone do not say: a degenerate law, runs that stopped early."""
    lines = [f"{result.label}: {problem}" for problem in (result.law.problems_ if result.law is not None else [])]
    longest = max((r.steps for r in result.runs), default=0)
    early = [f"{r.size} seed {r.seed} at step {r.steps}" for r in result.runs
             if r.status == "completed" and r.steps < longest]
    if early:
        lines.append(f"{result.label}: stopped early by patience: {', '.join(early)}")
    return lines


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", type=Path, default=None, help="a finished demo sweep's folder to reuse as arm 1")
    parser.add_argument("--storage", type=Path, default=None, help="where the sweep runs without --sweep (default: "
                        "sweeps/ beside --out); a finished sweep there is reused")
    parser.add_argument("--runs", type=Path, default=None,
                        help="the runs CSV an earlier run wrote: fit, print and draw them again, training nothing")
    parser.add_argument("--out", type=Path, default=None, help=f"the figure (PNG; default {DEFAULT_OUT})")
    parser.add_argument("--workers", type=int, default=2, help="trainings at once for arms 2 and 3 (default 2)")
    parser.add_argument("--smoke-test", action="store_true", help="3 tiny sizes, 30 steps: about a minute")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.runs is not None and (args.sweep is not None or args.smoke_test):
        parser.error("--runs trains nothing: give it without --sweep and --smoke-test")
    out = args.out or (DEFAULT_OUT.with_name("tuning_matters_smoke.png") if args.smoke_test else DEFAULT_OUT)
    if args.runs is not None:
        runs, source = read_runs(args.runs), "refitted"
    else:
        runs, source = sweep_and_fixed_arms(args, out)
    n_of = {r.size: r.n_params for r in runs}
    sizes = [SimpleNamespace(name=name, n_params=n) for name, n in sorted(n_of.items(), key=lambda item: item[1])]
    seeds = sorted({r.seed for r in runs if r.arm == "tuned"})
    counts = sorted({sum(r.arm == "tuned" and r.size == s.name for r in runs) for s in sizes})
    per_size = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    labels = {"tuned": "tuned per size", "smallest": f"{sizes[0].name}'s config for all",
              "middle": f"{middle_size(sizes).name}'s config for all"}
    results = [fit_arm(arm, labels[arm], [r for r in runs if r.arm == arm]) for arm in ARMS]
    print(f"== loss ~ N^-alpha over each size's seeds ({per_size} per size, the same in every arm); backtest: "
          f"fit on the smaller sizes, predict {sizes[-1].name}'s seed mean (relative error); per size: seed-mean loss "
          "(! = a seed did not complete; a diverged run counts with its best loss before it diverged)")
    print("\n".join(table(results, sizes)))
    print("\n".join(line for r in results for line in notes(r)))
    commit = search_efficiency.code_version()
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    flags = " --smoke-test" if args.smoke_test else f" --runs {args.runs}" if args.runs else ""
    plot(results, out, f"python benchmarks/tuning_matters.py{flags}; {source}, seeds {seeds}; {commit}; {date}")
    write_runs(results, out.with_suffix(".csv"))
    print(f"figure: {out}  runs: {out.with_suffix('.csv')}  ({commit}, {date})")
    print(" ".join(f"{r.arm}_r2={_cell(r.r2, '.4f')}" for r in results))


if __name__ == "__main__":
    main()
