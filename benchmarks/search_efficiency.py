"""How much compute raylaws' search needs to find each size's optimum, against the paper's grid.

The baseline is the paper's protocol on the spec's ladder: a full grid per size, ``--grid-lrs``
learning rates (default 8) log-spaced over ``search.learning_rate`` times every
``search.batch_size``, no pruning, the spec's patience, every trial with the search phase's
fixed seed (:data:`raylaws.trial.SEARCH_SEED`), so a search trial and a grid trial of the same
config train alike; then the grid optimum's config (its best run) re-run over seeds 1..K, K the
spec's ``seeds`` (a rule's ``seeds.min``), as a sweep's seed phase re-runs its chosen config.
The grid runs in a process pool calling :func:`raylaws.train.train_trial` directly, and its
records are cached as Parquet (default ``benchmarks/data/search_grid.parquet``) stamped with the
code version (git commit, raylaws version) and the grid key: a hash of everything that decides
a grid trial (data, objective, ladder, training, learning-rate range, batch sizes, threads, grid
points, seeds). A cache made for another key is refused, naming both; ``--regenerate-grid`` rebuilds it.

Then each strategy runs the whole sweep, search and seed phases, through the shipped machinery
(:func:`raylaws.run` on one local Ray, so pruning, concurrency and the planner are the real
ones), once per sampler seed (``--seeds``, default 3: ``sampler_seed`` 0, 1, 2):

* ``independent``: TPE per size, the whole range (``search.strategy: independent``);
* ``size_aware``: ``search.strategy: size_aware`` with the spec's ``size_aware`` settings;
* ``random``: Optuna's ``RandomSampler`` per size, the whole range.

A size is **found** when the config the search chose, re-run over the sweep's own seeds (its
seed phase; the search trial itself left out, as ``best_per_size`` does), has a seed-mean loss
within ``--tolerance`` (0.5%) of the grid optimum's config re-run over the same seeds. One
training run at these sizes moves by 0.1-1.8% with another seed or a learning rate 2% away
(``--noise-floor``), so single runs cannot tell configs this close apart; seed means can. Each
size's gap is printed with its standard error (the seeds are the same for both configs, so from
the paired differences). Compute is FLOPs (6 N D, N the paper's non-embedding count): the whole
raylaws sweep (search and seeds) against the whole protocol (grid and its optimum's seeds).
Per strategy the table gives each sampler seed's gaps and the median FLOPs; the last line is
``search_compute_ratio=<median size-aware sweep FLOPs / protocol FLOPs>`` (goal <= 0.30),
``inf`` unless every size is found on every sampler seed. FLOPs, not core-seconds: those depend
on how loaded the machine was when the cached grid and each search ran.

``--noise-floor`` measures the noise instead of searching: each size's grid optimum retrained
with the learning rate 2% lower and higher (the grid's seed) and with seeds 1 and 2; per size
the relative change in loss, and on the last line ``noise_floor=<median over sizes of each
size's median |change|>``.

Usage:
    python benchmarks/search_efficiency.py                      # search_spaces/demo.yaml
    python benchmarks/search_efficiency.py SPEC.yaml --regenerate-grid
    python benchmarks/search_efficiency.py --quick --grid /tmp/grid.parquet   # tiny spec, ~1 minute
    python benchmarks/search_efficiency.py --noise-floor        # the demo's: 16 trials, ~7 minutes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

DEFAULT_SPEC = REPO / "search_spaces" / "demo.yaml"
DEFAULT_GRID = REPO / "benchmarks" / "data" / "search_grid.parquet"
STRATEGIES = ("independent", "size_aware", "random")
TOLERANCE = 0.005  # found: the chosen config's seed mean within 0.5% of the grid optimum's
# --noise-floor: each size's grid optimum retrained with its learning rate this much lower and
# higher (a search's steps are coarser), and with these seeds instead of the search's.
NOISE_LR_STEP = 0.02
NOISE_SEEDS = (1, 2)

# --quick: two tiny sizes, seconds per trial (the benchmark's own test runs it).
QUICK_SPEC: dict[str, Any] = {
    "name": "quick",
    "objective": "clm",
    "data": {"source": "stdlib", "tokenizer": {"kind": "bpe", "vocab_size": 300}, "seq_len": 32,
             "eval_tokens": 1024, "max_tokens": 40_000},
    "ladder": {"aspect_ratio": 8, "layers": [1, 2], "n_heads": 2},
    "training": {"max_steps": 30, "warmup_steps": 3, "eval_interval": 10, "schedule": "cosine", "patience": 20,
                 "checkpoint_every": None},
    "search": {"learning_rate": {"low": 2e-3, "high": 5e-2}, "batch_size": [8, 16], "trials_per_size": 3,
               "pruning": {"enabled": False}, "strategy": "size_aware", "size_aware": {"trials_after_first": 2}},
    "seeds": 1,
    "resources": {"cpus_per_trial": 1},
}


# ---- the grid -----------------------------------------------------------------------------


def grid_key(spec: Any, n_lrs: int) -> str:
    """A hash of everything that decides the grid's trials (not the search's own settings)."""
    decisive = {
        "data": spec.data.model_dump(mode="json"), "objective": spec.objective,
        "ladder": spec.ladder.model_dump(mode="json"), "training": spec.training.model_dump(mode="json"),
        "learning_rate": spec.search.learning_rate.model_dump(mode="json"),
        "batch_size": list(spec.search.batch_size), "resources": spec.resources.model_dump(mode="json"),
        "grid_lrs": n_lrs, "seeds": spec.min_seeds,  # a seeds rule: the seeds every size runs
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


def grid_points(spec: Any, n_lrs: int) -> list[tuple[float, int]]:
    """``n_lrs`` learning rates log-spaced over the spec's range (ends included) times its batch sizes."""
    low, high = spec.search.learning_rate.low, spec.search.learning_rate.high
    lrs = [low * (high / low) ** (i / (n_lrs - 1)) for i in range(n_lrs)] if n_lrs > 1 else [math.sqrt(low * high)]
    return [(lr, bs) for lr in lrs for bs in spec.search.batch_size]


_WORKER: dict[str, Any] = {}


def _init_worker(spec: Any) -> None:
    from raylaws.data import prepare
    from raylaws.ladder import build_ladder

    _WORKER["spec"] = spec
    _WORKER["data"] = prepare(spec.data)
    _WORKER["sizes"] = {size.name: size for size in build_ladder(spec)}


def _train_grid_point(job: tuple[str, float, int, int]) -> dict[str, Any]:
    """One grid trial (size, lr, batch size, seed) trained to the end: no pruning."""
    from raylaws.train import train_trial
    from raylaws.trial import Hyperparameters, TrialSettings

    name, lr, bs, seed = job
    spec, size = _WORKER["spec"], _WORKER["sizes"][name]
    outcome = train_trial(size, Hyperparameters(lr, bs), _WORKER["data"], TrialSettings.for_size(spec, size), seed)
    return {"size": name, "n_params": size.n_params, "learning_rate": lr, "batch_size": bs, "seed": seed,
            "status": outcome.status.value, "stop_reason": outcome.stop_reason.value,
            "eval_loss": outcome.eval_loss if outcome.eval_loss is not None and math.isfinite(outcome.eval_loss)
            else None, "steps": outcome.steps, "tokens": outcome.tokens, "flops": size.flops(outcome.tokens),
            "wall_seconds": outcome.wall_seconds,
            "core_seconds": outcome.wall_seconds * size.resources.cpus * size.resources.workers}


def run_grid(spec: Any, n_lrs: int, workers: int) -> list[dict[str, Any]]:
    """Train the whole grid with the search phase's seed, as a search trial of the same config
    would train (largest sizes first, so the pool's tail is short), then each size's grid
    optimum over seeds 1..``spec.min_seeds`` (``seeds``, or a rule's ``seeds.min``: the seeds
    every sweep size runs, which the gaps compare over). Rows carry ``phase``: ``grid`` or ``seed``."""
    from raylaws.ladder import build_ladder
    from raylaws.trial import SEARCH_SEED

    jobs = [(size.name, lr, bs, SEARCH_SEED) for size in sorted(build_ladder(spec), key=lambda s: -s.n_params)
            for lr, bs in grid_points(spec, n_lrs)]
    grid = [{**row, "phase": "grid"} for row in train_points(spec, jobs, workers)]
    seeds = [(best.size, best.learning_rate, best.batch_size, seed) for best in grid_optimum_configs(grid)
             for seed in range(1, spec.min_seeds + 1)]
    return grid + [{**row, "phase": "seed"} for row in train_points(spec, seeds, workers)]


def pool_workers(spec: Any) -> int:
    """Trials at once on this machine, each with the CPUs the spec gives a trial."""
    return max(1, (os.cpu_count() or 1) // (spec.resources.cpus_per_trial * spec.resources.workers))


def train_points(spec: Any, jobs: Sequence[tuple[str, float, int, int]], workers: int) -> list[dict[str, Any]]:
    """Train each (size, lr, batch size, seed) in a pool of ``workers`` processes; rows in job order."""
    from raylaws.data import prepare

    prepare(spec.data)  # once here, so the workers read the cache
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(spec,)) as pool:
        return list(pool.map(_train_grid_point, jobs))


def code_version() -> str:
    """``<git commit>[-dirty] raylaws <version>`` of the code running now."""
    import raylaws

    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", ""
    return f"{commit}{'-dirty' if dirty else ''} raylaws {raylaws.__version__}"


class StaleGrid(SystemExit):
    """The cached grid was made for another spec (or other grid points)."""


def write_grid(path: Path, rows: list[dict[str, Any]], *, key: str, spec_path: str, n_lrs: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows).replace_schema_metadata({
        "grid_key": key, "code_version": code_version(), "spec": spec_path, "grid_lrs": str(n_lrs),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, staged)
    staged.replace(path)


def read_grid(path: Path, key: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The cached grid's rows and stamp; refuses a grid made for another key.

    Raises:
        StaleGrid: the cache's key is not ``key`` (its spec or grid points differ).
    """
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    stamp = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if stamp.get("grid_key") != key:
        raise StaleGrid(f"{path} is stale: made for grid key {stamp.get('grid_key')} (spec {stamp.get('spec')}, "
                        f"{stamp.get('grid_lrs')} learning rates, code {stamp.get('code_version')}), not this run's "
                        f"{key}; rerun with --regenerate-grid")
    return table.to_pylist(), stamp


# ---- the noise floor ----------------------------------------------------------------------


@dataclass(frozen=True)
class Optimum:
    """A size's best completed grid trial."""

    size: str
    n_params: int
    learning_rate: float
    batch_size: int
    loss: float


def grid_optimum_configs(rows: Sequence[dict[str, Any]]) -> list[Optimum]:
    """Each size's best completed grid trial, smallest size first."""
    best: dict[str, Optimum] = {}
    for row in rows:
        if row.get("phase", "grid") != "grid" or row["status"] != "completed" or row["eval_loss"] is None:
            continue
        if row["size"] not in best or row["eval_loss"] < best[row["size"]].loss:
            best[row["size"]] = Optimum(row["size"], row["n_params"], row["learning_rate"], row["batch_size"],
                                        row["eval_loss"])
    return sorted(best.values(), key=lambda optimum: optimum.n_params)


def noise_jobs(optima: Sequence[Optimum], lr_step: float, seeds: Sequence[int]) -> list[tuple[str, float, int, int]]:
    """Per size: its grid optimum with the learning rate moved by ``-lr_step`` and ``+lr_step``
    (relative; the grid's seed), then the optimum itself with each of ``seeds``."""
    from raylaws.trial import SEARCH_SEED

    jobs = []
    for best in optima:
        jobs += [(best.size, best.learning_rate * (1 + sign * lr_step), best.batch_size, SEARCH_SEED)
                 for sign in (-1, 1)]
        jobs += [(best.size, best.learning_rate, best.batch_size, seed) for seed in seeds]
    return jobs


def noise_table(optima: Sequence[Optimum], rows: Sequence[dict[str, Any]], lr_step: float,
                tolerance: float) -> tuple[list[str], float]:
    """Each size's relative loss change when its grid optimum is retrained a hair off (``rows``
    from :func:`noise_jobs`, in its order), the optimum config's mean loss over the grid's seed
    and the others (what a search's config, averaged over as many seeds, compares with), and
    the noise floor: the median over sizes of each size's median absolute change. Near its
    optimum a smooth loss would move by its curvature in ln lr times ~lr_step² (well under
    0.01% for the demo's 2%); what moves it more is noise."""
    per_size = len(rows) // len(optima)
    lines = [f"{'size':<12} {'optimum':>8} {'lr':>9} {'bs':>3}  "
             f"{'lr -' + format(lr_step, '.0%'):>8} {'lr +' + format(lr_step, '.0%'):>8}  {'seed mean':>9}  seeds"]
    medians = []
    for index, best in enumerate(optima):
        losses = [row["eval_loss"] if row["status"] == "completed" and row["eval_loss"] is not None else math.inf
                  for row in rows[index * per_size:(index + 1) * per_size]]
        changes = [(loss - best.loss) / best.loss for loss in losses]
        medians.append(statistics.median(abs(c) for c in changes))
        seed_mean = statistics.fmean([best.loss, *losses[2:]])
        lines.append(f"{best.size:<12} {best.loss:>8.4f} {best.learning_rate:>9.3g} {best.batch_size:>3}  "
                     f"{changes[0]:>+8.2%} {changes[1]:>+8.2%}  {seed_mean:>9.4f}  "
                     + " ".join(f"{c:+.2%}" for c in changes[2:]))
    floor = statistics.median(medians)
    lines.append(f"noise floor (median over sizes of the median |change|): {floor:.2%}; the target's tolerance "
                 f"{tolerance:.2%} is {'below' if tolerance < floor else 'above'} it")
    return lines, floor


# ---- the searches -------------------------------------------------------------------------


def search_spec(spec: Any, strategy: str, seed: int, trials_after_first: Optional[int] = None) -> Any:
    """The spec of one search run: the whole sweep (search and seeds), the strategy and sampler
    seed given (and, for ``size_aware``, ``trials_after_first`` instead of the spec's, if given)."""
    from raylaws.spec import spec_from_dict

    raw = spec.model_dump(mode="json")
    raw["name"] = f"{strategy}-{seed}"
    search = raw["search"]
    search["sampler_seed"] = seed
    search["sampler"] = "random" if strategy == "random" else "tpe"
    search["strategy"] = "size_aware" if strategy == "size_aware" else "independent"
    if strategy != "size_aware":
        search.pop("size_aware", None)
    elif trials_after_first is not None:
        search["size_aware"] = {**search.get("size_aware", {}), "trials_after_first": trials_after_first}
    return spec_from_dict(raw)


def seed_losses(rows: Sequence[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """Each size's seed re-runs of its chosen config: ``{size: {seed: loss}}`` (a seed that did
    not complete counts as infinite loss: the config failed it)."""
    losses: dict[str, dict[int, float]] = {}
    for row in rows:
        if row.get("phase") != "seed":
            continue
        ok = row["status"] == "completed" and row["eval_loss"] is not None and math.isfinite(row["eval_loss"])
        losses.setdefault(row["size"], {})[int(row["seed"])] = row["eval_loss"] if ok else math.inf
    return losses


@dataclass(frozen=True)
class Gap:
    """A size's seed-mean gap: (chosen config's mean - grid optimum's mean) / grid optimum's mean."""

    gap: float
    stderr: float  # of the gap, from the paired per-seed differences (nan with one seed)

    def found(self, tolerance: float) -> bool:
        return self.gap <= tolerance


def seed_mean_gap(search: dict[int, float], grid: dict[int, float]) -> Gap:
    """The gap between two configs' seed means over the seeds both ran (inf if none)."""
    seeds = sorted(set(search) & set(grid))
    if not seeds:
        return Gap(math.inf, math.nan)
    base = statistics.fmean(grid[s] for s in seeds)
    differences = [(search[s] - grid[s]) / base for s in seeds]
    gap = statistics.fmean(differences)
    if len(seeds) < 2 or not all(math.isfinite(d) for d in differences):
        return Gap(gap, math.nan)
    return Gap(gap, statistics.stdev(differences) / math.sqrt(len(seeds)))


@dataclass(frozen=True)
class RunResult:
    """One whole sweep measured against the grid optimum's seed mean."""

    strategy: str
    seed: int
    gaps: dict[str, Gap]  # per size
    flops: float  # the whole sweep: search and seeds
    core_seconds: float
    trials: int

    def found(self, tolerance: float) -> bool:
        return all(gap.found(tolerance) for gap in self.gaps.values())


def measure(strategy: str, seed: int, rows: Sequence[dict[str, Any]], grid_seeds: dict[str, dict[int, float]]) -> RunResult:
    """One sweep's records against the grid optimum's seed re-runs (``grid_seeds``, by size)."""
    chosen = seed_losses(rows)
    gaps = {size: seed_mean_gap(chosen.get(size, {}), losses) for size, losses in grid_seeds.items()}
    core = sum(float(r["wall_seconds"] or 0.0) * r["cpus_per_worker"] * r["workers"] for r in rows)
    return RunResult(strategy, seed, gaps, sum(float(r["flops"] or 0.0) for r in rows), core, len(rows))


def compute_ratio(results: Sequence[RunResult], protocol_flops: float, tolerance: float) -> float:
    """Median sweep FLOPs over sampler seeds / the protocol's, or inf unless every size was
    found on every sampler seed."""
    if not results or not all(r.found(tolerance) for r in results):
        return math.inf
    return statistics.median(r.flops for r in results) / protocol_flops


def run_searches(spec: Any, seeds: Sequence[int], storage: Path, *, trials_after_first: Optional[int] = None,
                 strategies: Sequence[str] = STRATEGIES) -> dict[str, list[list[dict[str, Any]]]]:
    """Every strategy over every sampler seed on one local Ray: each run's trial records."""
    import ray

    import raylaws

    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        runs: dict[str, list[list[dict[str, Any]]]] = {strategy: [] for strategy in strategies}
        for seed in seeds:  # seeds outermost: a noisy spell of the machine hits every strategy alike
            for strategy in strategies:
                started = time.perf_counter()
                sweep = raylaws.run(search_spec(spec, strategy, seed, trials_after_first), storage=storage)
                runs[strategy].append(sweep.trials().to_pylist())
                print(f"  {strategy} seed {seed}: {len(runs[strategy][-1])} trials, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
        return runs
    finally:
        ray.shutdown()


# ---- the tables ---------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def _fmt(value: float, pattern: str) -> str:
    return "inf" if math.isinf(value) else format(value, pattern)


def table(strategy: str, results: Sequence[RunResult], protocol_flops: float, tolerance: float) -> str:
    """Each sampler seed's seed-mean gap per size (with its standard error), and the compute."""
    sizes = list(results[0].gaps) if results else []
    lines = [f"== {strategy} ({len(results)} sampler seeds): seed-mean gap to the grid optimum's, +- its "
             f"standard error; * = not found (gap > {tolerance:.1%})",
             f"{'sampler seed':<13}" + "".join(f"{size:>20}" for size in sizes) + f"{'trials':>8}{'FLOPs':>10}"]
    for r in results:
        cells = "".join(f"{_fmt(r.gaps[size].gap, '+.2%') + ' +- ' + _fmt(r.gaps[size].stderr, '.2%'):>19}"
                        f"{' ' if r.gaps[size].found(tolerance) else '*'}" for size in sizes)
        lines.append(f"{r.seed:<13}{cells}{r.trials:>8}{r.flops:>10.3g}")
    found = sum(r.found(tolerance) for r in results)
    ratio = compute_ratio(results, protocol_flops, tolerance)
    lines.append(f"every size found on {found}/{len(results)} sampler seeds; median sweep FLOPs "
                 f"{_median([r.flops for r in results]):.3g} = {_median([r.flops for r in results]) / protocol_flops:.3f} "
                 f"of the protocol's; compute ratio {_fmt(ratio, '.3f')}; median core-seconds "
                 f"{_median([r.core_seconds for r in results]):.0f}")
    return "\n".join(lines)


def load_benchmark_spec(path: Optional[Path], quick: bool) -> Any:
    from raylaws.spec import load_spec, spec_from_dict

    if quick:
        return spec_from_dict(QUICK_SPEC)
    return load_spec(path or DEFAULT_SPEC)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", nargs="?", type=Path, default=None, help=f"the spec (default {DEFAULT_SPEC.name})")
    parser.add_argument("--quick", action="store_true", help="a tiny built-in spec (tests): about a minute")
    parser.add_argument("--grid", type=Path, default=None, help=f"the grid cache (default {DEFAULT_GRID})")
    parser.add_argument("--regenerate-grid", action="store_true", help="train the grid again and rewrite the cache")
    parser.add_argument("--grid-lrs", type=int, default=None, help="learning rates of the grid (default 8; quick 3)")
    parser.add_argument("--seeds", type=int, default=3, help="sampler seeds per strategy (0, 1, ...)")
    parser.add_argument("--tolerance", type=float, default=TOLERANCE,
                        help="relative seed-mean gap that counts as found (default 0.005)")
    parser.add_argument("--trials-after-first", type=int, default=None,
                        help="size-aware: search trials of every size but the smallest (default: the spec's)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"comma-separated subset of {', '.join(STRATEGIES)} (size_aware is always run)")
    parser.add_argument("--storage", type=Path, default=None, help="keep the search sweeps here (default: a temp dir)")
    parser.add_argument("--noise-floor", action="store_true",
                        help="instead of the searches: retrain each size's grid optimum with the learning rate "
                             f"{NOISE_LR_STEP * 100:g}%% lower and higher and with seeds "
                             f"{', '.join(map(str, NOISE_SEEDS))}, and print how far its loss moves")
    args = parser.parse_args(argv)
    if args.quick and args.spec is not None:
        parser.error("--quick uses its own tiny spec; give no spec with it")
    spec = load_benchmark_spec(args.spec, args.quick)
    n_lrs = args.grid_lrs or (3 if args.quick else 8)
    grid_path = args.grid or DEFAULT_GRID
    key = grid_key(spec, n_lrs)
    spec_name = "quick (built in)" if args.quick else str(args.spec or DEFAULT_SPEC.relative_to(REPO))
    if args.regenerate_grid or not grid_path.exists():
        workers = pool_workers(spec)
        print(f"training the grid: {len(grid_points(spec, n_lrs))} configs per size, {workers} at a time", flush=True)
        started = time.perf_counter()
        write_grid(grid_path, run_grid(spec, n_lrs, workers), key=key, spec_path=spec_name, n_lrs=n_lrs)
        print(f"  grid written to {grid_path} in {time.perf_counter() - started:.0f} s", flush=True)
    grid_rows, stamp = read_grid(grid_path, key)
    grid = [r for r in grid_rows if r.get("phase", "grid") == "grid"]
    grid_seeds = seed_losses(grid_rows)
    grid_flops = sum(r["flops"] for r in grid)
    protocol_flops = sum(r["flops"] for r in grid_rows)
    print(f"grid: {len(grid)} trials, {grid_flops:.3g} FLOPs; with its optimum's {spec.min_seeds} seeds the protocol "
          f"is {len(grid_rows)} trials, {protocol_flops:.3g} FLOPs (key {key}, code {stamp.get('code_version')}, "
          f"made {stamp.get('created_at')})")
    if args.noise_floor:
        workers = pool_workers(spec)
        best = grid_optimum_configs(grid)
        started = time.perf_counter()
        rows = train_points(spec, noise_jobs(best, NOISE_LR_STEP, NOISE_SEEDS), workers)
        print(f"== noise floor: each size's grid optimum retrained ({time.perf_counter() - started:.0f} s, "
              f"{workers} at a time); loss change against the optimum's")
        lines, floor = noise_table(best, rows, NOISE_LR_STEP, args.tolerance)
        print("\n".join(lines))
        print(f"noise_floor={floor:.4f}")
        return
    with tempfile.TemporaryDirectory(prefix="search-efficiency-") as scratch:
        storage = args.storage or Path(scratch)
        strategies = [s for s in STRATEGIES if s in set(args.strategies.split(",")) | {"size_aware"}]
        runs = run_searches(spec, range(args.seeds), storage, trials_after_first=args.trials_after_first,
                            strategies=strategies)
    results = {strategy: [measure(strategy, seed, rows, grid_seeds) for seed, rows in enumerate(found)]
               for strategy, found in runs.items()}
    for strategy in strategies:
        print(table(strategy, results[strategy], protocol_flops, args.tolerance))
    for strategy in strategies:
        ratio = compute_ratio(results[strategy], protocol_flops, args.tolerance)
        print(f"{strategy}: compute ratio {_fmt(ratio, '.3f')}")
    ratio = compute_ratio(results["size_aware"], protocol_flops, args.tolerance)
    print(f"search_compute_ratio={_fmt(ratio, '.3f')}")


if __name__ == "__main__":
    main()
