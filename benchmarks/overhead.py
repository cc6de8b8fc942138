"""What raylaws costs over the best a user could do by hand.

The same trainings (same sizes, configs, seeds, steps and threads per training) run twice:

(a) through ``raylaws.run`` on a local Ray that it starts in-process and shuts down, as a user
    gets it (Ray start included);
(b) by a bare ``concurrent.futures.ProcessPoolExecutor`` with as many workers as raylaws ran
    trials at once, given the trainings raylaws recorded, in the order raylaws started them.

Pruning and early stopping are switched off, so every training runs its full budget in both.
The two arms alternate over ``--repeats`` runs (default 3), so a noisy spell on a shared machine
hits both alike; prints each repeat, the median wall times and, as the last line,
``overhead_ratio=<median a / median b>`` (goal: <= 1.05 on 2 cores).

``--demo`` first runs ``raylaws run search_spaces/demo.yaml`` as a user would and reports its
wall time, the peak RSS of its whole process tree (driver, Ray's processes, trial workers)
sampled every 0.2 s, and the fitted log-log slope and R^2.

Usage:
    python benchmarks/overhead.py                 # 3 alternating repeats, ~20 minutes on 2 cores
    python benchmarks/overhead.py --demo          # plus the demo (~7 more minutes)
    python benchmarks/overhead.py --smoke-test    # seconds; checks the benchmark itself runs
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


def benchmark_spec(smoke: bool, trials_per_size: int, seeds: int) -> Any:
    """The demo's ladder, data and budget, with pruning and early stopping off."""
    import yaml

    from raylaws.spec import spec_from_dict

    raw = yaml.safe_load((REPO / "search_spaces" / "demo.yaml").read_text())
    raw["name"] = "overhead"
    raw["search"]["trials_per_size"] = trials_per_size
    raw["search"]["pruning"] = {"enabled": False}
    raw["seeds"] = seeds
    raw["training"]["patience"] = None
    if smoke:
        raw["ladder"]["layers"] = [1, 2]
        raw["training"]["max_steps"] = 60
        raw["search"]["trials_per_size"] = 2
        raw["seeds"] = 1
    return spec_from_dict(raw)


_WORKER: dict[str, Any] = {}


def _init_worker(spec: Any) -> None:
    from raylaws.data import prepare
    from raylaws.ladder import build_ladder

    _WORKER["spec"] = spec
    _WORKER["data"] = prepare(spec.data)
    _WORKER["rungs"] = {r.name: r for r in build_ladder(spec)}


def _train(job: dict[str, Any]) -> float:
    from raylaws.train import train_trial
    from raylaws.trial import Hyperparameters, TrialSettings

    spec, size = _WORKER["spec"], _WORKER["rungs"][job["size"]]
    outcome = train_trial(size, Hyperparameters(job["learning_rate"], job["batch_size"]), _WORKER["data"],
                          TrialSettings.for_size(spec, size), job["seed"])
    return outcome.wall_seconds


def run_demo(storage: Path) -> None:
    import psutil

    import raylaws
    from raylaws.views import loglog_line

    command = [str(Path(sys.executable).parent / "raylaws"), "run", str(REPO / "search_spaces" / "demo.yaml"),
               "--storage", str(storage), "--quiet"]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver = psutil.Process(process.pid)
    peak_tree, peak_driver = 0, 0
    while process.poll() is None:
        try:
            tree = [driver, *driver.children(recursive=True)]
            total = sum(p.memory_info().rss for p in tree if p.is_running())
            peak_tree = max(peak_tree, total)
            peak_driver = max(peak_driver, driver.memory_info().rss)
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"demo failed with exit code {process.returncode}")
    best = raylaws.open(storage / "demo").best_per_size().to_pylist()
    slope, r2 = loglog_line([b["n_params"] for b in best], [b["loss_mean"] for b in best])
    print(f"demo_wall_seconds={wall:.1f}")
    print(f"demo_peak_rss_tree_mib={peak_tree / 2**20:.0f}  (driver + Ray processes + trial workers)")
    print(f"demo_peak_rss_driver_mib={peak_driver / 2**20:.0f}")
    print(f"demo_loglog_slope={slope:.4f} demo_r2={r2:.4f} "
          f"losses={[round(b['loss_mean'], 4) for b in best]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke-test", action="store_true", help="tiny sizes and budgets: seconds, not minutes")
    parser.add_argument("--demo", action="store_true", help="also time the demo and sample its peak memory")
    parser.add_argument("--trials-per-size", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="alternating raylaws/pool repeats; medians reported")
    args = parser.parse_args()

    import raylaws
    from raylaws.data import prepare

    spec = benchmark_spec(args.smoke_test, args.trials_per_size, args.seeds)
    prepare(spec.data)  # warm the data cache for both arms alike
    raylaws_walls: list[float] = []
    pool_walls: list[float] = []
    jobs: list[dict[str, Any]] = []
    train_seconds: list[float] = []
    # raylaws on a local Ray runs as many trials at once as the machine's CPUs fit
    workers = spec.resources.max_concurrent_trials or max(1, (os.cpu_count() or 1) // spec.resources.cpus_per_trial)
    with tempfile.TemporaryDirectory() as scratch:
        if args.demo:
            run_demo(Path(scratch) / "demo-results")
        for repeat in range(args.repeats):  # alternate the arms, so a noisy spell hits both alike
            started = time.perf_counter()
            sweep = raylaws.run(spec, storage=Path(scratch) / f"results-{repeat}")
            raylaws_walls.append(time.perf_counter() - started)
            jobs = sorted(sweep.trials().to_pylist(), key=lambda r: r["started_at"])
            assert all(j["status"] == "completed" for j in jobs), [j["status"] for j in jobs]

            started = time.perf_counter()
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(spec,)) as pool:
                train_seconds = list(pool.map(_train, [{k: j[k] for k in ("size", "learning_rate", "batch_size",
                                                                          "seed")} for j in jobs]))
            pool_walls.append(time.perf_counter() - started)
            print(f"repeat {repeat + 1}/{args.repeats}: raylaws {raylaws_walls[-1]:.1f} s, pool {pool_walls[-1]:.1f} s, "
                  f"ratio {raylaws_walls[-1] / pool_walls[-1]:.3f}", flush=True)

    work = sum(j["wall_seconds"] for j in jobs)
    print(f"trainings={len(jobs)} concurrent={workers} steps_each={spec.training.max_steps} "
          f"threads_each={spec.resources.cpus_per_trial} repeats={args.repeats} (alternating)")
    print(f"training_seconds_raylaws={work:.1f} training_seconds_pool={sum(train_seconds):.1f}  (last repeat)")
    print(f"raylaws_wall_seconds_median={statistics.median(raylaws_walls):.1f}  (local Ray start and shutdown included)")
    print(f"pool_wall_seconds_median={statistics.median(pool_walls):.1f}  (ProcessPoolExecutor, {workers} workers)")
    print(f"overhead_ratio={statistics.median(raylaws_walls) / statistics.median(pool_walls):.3f}")


if __name__ == "__main__":
    main()
