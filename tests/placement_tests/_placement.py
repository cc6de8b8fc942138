"""Run in a fresh process (it starts its own multi-node Ray): a sweep on a cluster whose nodes
declare GPUs, trials training on the CPU (``RAYLAWS_TRAIN_ON_CPU``), each trial holding its
resources a few seconds and saying when (``RAYLAWS_FAULTS`` hold). Prints JSON."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ["RAYLAWS_TRAIN_ON_CPU"] = "1"

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

import raylaws  # noqa: E402
from raylaws.spec import spec_from_dict  # noqa: E402
from tests.conftest import tiny_spec_dict  # noqa: E402

SCENARIOS = {
    # One 1-GPU node: eight trials of 0.125 GPU.
    "fractional": {"node": {"num_cpus": 8, "num_gpus": 1}, "layers": [1], "trials": 8,
                   "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0.125}},
    # One 3-GPU node: a tiny size (0.125 GPU) beside a large one (1 GPU per trial).
    "mixed": {"node": {"num_cpus": 8, "num_gpus": 3}, "layers": [1, 2], "trials": 2,
              "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0.125,
                            "by_size": [{"sizes": ["L2-H16"], "gpus_per_trial": 1}]}},
    # One 2-GPU node: a size trained data-parallel on 2 workers of 1 GPU each.
    "data_parallel": {"node": {"num_cpus": 4, "num_gpus": 2}, "layers": [1], "trials": 1,
                      "resources": {"cpus_per_trial": 1, "gpus_per_trial": 1, "workers": 2}},
}


def watch_placement_groups(seen: list, stop: threading.Event) -> None:
    """Record the bundles of every placement group Ray creates while the sweep runs."""
    from ray.util import placement_group_table

    while not stop.is_set():
        for group in placement_group_table().values():
            bundles = [dict(b) for b in group["bundles"].values()]
            if bundles not in seen:
                seen.append(bundles)
        time.sleep(0.2)


def main(name: str, storage: Path) -> None:
    scenario = SCENARIOS[name]
    markers = Path(tempfile.mkdtemp())
    os.environ["RAYLAWS_FAULTS"] = json.dumps({"hold_seconds": 12, "marker_dir": str(markers)})
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # trials only on the GPU node
    cluster.add_node(**scenario["node"])
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    spec = spec_from_dict(tiny_spec_dict(
        name=name,
        ladder={"aspect_ratio": 8, "layers": scenario["layers"], "n_heads": 2},
        search={"learning_rate": {"low": 3e-3, "high": 1e-2}, "batch_size": [8],
                "trials_per_size": scenario["trials"], "pruning": {"enabled": False},
                "parallel": scenario["trials"]},  # every trial of a size may run at once: placement decides
        seeds=0,
        training={"max_steps": 10, "eval_interval": 10, "warmup_steps": 2, "checkpoint_every": None},
        resources=scenario["resources"],
    ))
    groups: list = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_placement_groups, args=(groups, stop), daemon=True)
    watcher.start()
    sweep = raylaws.run(spec, storage=storage, address=cluster.address)
    stop.set()
    watcher.join()
    holds = {}
    for path in markers.glob("*.hold"):
        start, end = (float(x) for x in path.read_text().split())
        holds[path.stem] = [start, end]
    rows = sweep.trials().to_pylist()
    print(json.dumps({"holds": holds, "statuses": {r["trial_id"]: r["status"] for r in rows},
                      "placement_groups": groups, "workers": {r["trial_id"]: r["workers"] for r in rows}}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
