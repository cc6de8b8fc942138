"""Where the demo's time goes.

Runs ``raylaws run <spec>`` as a user would (default: the demo) and splits its wall time into:

* **startup**: from launch to the first trial's first step (imports, Ray start, data, studies);
* **training**: trial slot-seconds per size and phase (the records' ``wall_seconds``);
* **idle slots**: slot-seconds no trial used between the first start and the last finish
  (slots = the CPUs raylaws gave Ray / ``resources.cpus_per_trial``), mostly the tail;
* **wrap-up**: from the last trial's end to exit (fit, report, Ray shutdown).

Then, per size at its best config, one trial's cost on one core split into optimizer steps,
evaluations and checkpoint saves (steps x ms/step, evaluations x ms each, saves x ms each),
and one step split by torch's profiler into matmuls, attention, softmax/loss, other ops,
optimizer and framework (Python and dispatch: the step's wall time less its ops).

Usage:
    python benchmarks/demo_time.py                        # runs the demo, then profiles
    python benchmarks/demo_time.py --sweep /tmp/x/demo    # profiles a finished sweep
    python benchmarks/demo_time.py --spec other.yaml --cores 2

Run it alone: a shared machine inflates every figure. The per-step figures are medians over
``--repeats`` (default 5) alternating timed blocks of 20 steps per size.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

CATEGORIES = {
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul"),
    "attention": ("scaled_dot_product", "flash_attention"),
    "softmax/loss": ("softmax", "nll_loss", "cross_entropy"),
}


def run_sweep(spec: Path, storage: Path) -> tuple[Path, float, float]:
    """``raylaws run`` in a subprocess; returns (sweep folder, launch time, exit time) as epoch seconds."""
    import yaml

    name = yaml.safe_load(spec.read_text())["name"]
    command = [sys.executable, "-m", "raylaws.cli", "run", str(spec), "--storage", str(storage), "--quiet"]
    launched = time.time()
    process = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    ended = time.time()
    if process.returncode:
        raise SystemExit(f"raylaws run failed ({process.returncode}):\n{process.stderr[-2000:]}")
    print(process.stdout.strip())
    return storage / name, launched, ended


def split_wall(sweep: Path, launched: float, ended: float, slots: int) -> None:
    import raylaws

    rows = raylaws.open(sweep).trials().to_pylist()
    starts = [r["started_at"].timestamp() for r in rows if r["started_at"] is not None]
    finishes = [r["finished_at"].timestamp() for r in rows]
    first, last = min(starts), max(finishes)
    training = sum(r["wall_seconds"] for r in rows)
    idle = slots * (last - first) - training
    wall = ended - launched
    print(f"\nwall {wall:.1f} s  ({len(rows)} trials, {slots} slots)")
    print(f"  startup (launch -> first step)       {first - launched:7.1f} s")
    print(f"  trials running (first -> last)        {last - first:7.1f} s  = {training:.0f} slot-s training "
          f"+ {idle:.0f} slot-s idle ({100 * idle / (slots * (last - first)):.0f}%)")
    print(f"  wrap-up (last trial -> exit)          {ended - last:7.1f} s")
    by: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        by.setdefault((r["size"], r["phase"]), []).append(r["wall_seconds"])
    print("  training slot-seconds by size and phase:")
    for (size, phase), walls in sorted(by.items()):
        print(f"    {size:10s} {phase:8s} {len(walls):3d} trials {sum(walls):7.1f} s")


def profile_sizes(sweep: Path, repeats: int) -> None:
    import torch

    import raylaws
    from raylaws.data import prepare
    from raylaws.ladder import build_ladder
    from raylaws.train import _checkpoint
    from raylaws.train._loop import _build, _Trial
    from raylaws.trial import Hyperparameters, TrialHooks, TrialSettings

    opened = raylaws.open(sweep)
    spec = opened.spec
    best = {r["size"]: r for r in opened.best_per_size().to_pylist()}
    rows = opened.trials().to_pylist()
    data = prepare(spec.data)
    trials: dict[str, Any] = {}
    for size in build_ladder(spec):
        if size.name not in best:
            continue
        hparams = Hyperparameters(best[size.name]["learning_rate"], int(best[size.name]["batch_size"]))
        settings = TrialSettings.for_size(spec, size)
        torch.set_num_threads(1)
        engine = _build(size, hparams, data, settings, 1, torch.device("cpu"))
        trials[size.name] = _Trial(engine, hparams, data, settings, 1, TrialHooks())

    def steps(trial: Any, count: int) -> None:
        for _ in range(count):
            inputs, labels = trial.batches.next()
            from raylaws.train._batches import split
            trial.engine.train_step(split(inputs, labels, rank=0, world=1, micro_batch_size=None,
                                          device=trial.engine.device))

    per_step: dict[str, list[float]] = {name: [] for name in trials}
    for trial in trials.values():
        steps(trial, 5)  # warm-up
    for _ in range(repeats):  # alternate sizes so a noisy spell hits all alike
        for name, trial in trials.items():
            started = time.perf_counter()
            steps(trial, 20)
            per_step[name].append((time.perf_counter() - started) / 20)
    print(f"\none trial per size at its best config, 1 core (median of {repeats} blocks of 20 steps):")
    print(f"  {'size':10s} {'ms/step':>8s} {'eval ms':>8s} {'save ms':>8s} {'steps':>6s} {'evals':>5s} "
          f"{'saves':>5s} {'train s':>8s} {'eval s':>7s} {'save s':>7s}")
    with tempfile.TemporaryDirectory() as scratch:
        for name, trial in trials.items():
            step_ms = 1000 * statistics.median(per_step[name])
            started = time.perf_counter()
            trial._evaluate()
            eval_ms = 1000 * (time.perf_counter() - started)
            started = time.perf_counter()
            trial._save(os.path.join(scratch, name))
            save_ms = 1000 * (time.perf_counter() - started)
            mine = [r for r in rows if r["size"] == name]
            n_steps = sum(r["steps"] for r in mine)
            n_evals = sum(len(r["eval_steps"] or []) for r in mine)
            every = spec.training.checkpoint_every
            n_saves = sum(r["steps"] // every for r in mine) if every else 0
            print(f"  {name:10s} {step_ms:8.1f} {eval_ms:8.1f} {save_ms:8.1f} {n_steps:6d} {n_evals:5d} {n_saves:5d} "
                  f"{n_steps * step_ms / 1000:8.1f} {n_evals * eval_ms / 1000:7.1f} {n_saves * save_ms / 1000:7.1f}")
    print("\none step by torch's profiler (share of the step's wall time):")
    for name, trial in trials.items():
        started = time.perf_counter()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
            steps(trial, 10)
        wall_us = (time.perf_counter() - started) * 1e6
        shares = _categorise(profiler.key_averages(), wall_us)
        print(f"  {name:10s} " + "  ".join(f"{key} {100 * value:4.1f}%" for key, value in shares.items()))


def _categorise(averages: Any, wall_us: float) -> dict[str, float]:
    """Self CPU time of the step's ops by category, and the rest of the wall time as framework."""
    totals = {key: 0.0 for key in (*CATEGORIES, "other ops", "optimizer")}
    for event in averages:
        name = event.key
        if name.startswith("Optimizer.step"):
            totals["optimizer"] += event.self_cpu_time_total
            continue
        if not name.startswith("aten::"):
            continue
        key = next((k for k, needles in CATEGORIES.items() if any(n in name for n in needles)), "other ops")
        totals[key] += event.self_cpu_time_total
    totals["framework"] = max(0.0, wall_us - sum(totals.values()))
    return {key: value / wall_us for key, value in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=REPO / "search_spaces" / "demo.yaml")
    parser.add_argument("--sweep", type=Path, help="profile this finished sweep instead of running the spec")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="CPUs raylaws gives Ray (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.sweep is None:
        import yaml

        cpus_per_trial = yaml.safe_load(args.spec.read_text()).get("resources", {}).get("cpus_per_trial", 1)
        storage = Path(tempfile.mkdtemp(prefix="raylaws-demo-time-"))
        sweep, launched, ended = run_sweep(args.spec, storage)
        split_wall(sweep, launched, ended, max(1, math.floor(args.cores / cpus_per_trial)))
    else:
        sweep = args.sweep
    profile_sizes(sweep, args.repeats)


if __name__ == "__main__":
    main()
