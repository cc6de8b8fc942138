"""Run in a fresh process (it starts its own multi-node Ray): a sweep on a cluster whose nodes
declare GPUs, trials training on the CPU (``RAYLAWS_TRAIN_ON_CPU``), each trial holding its
resources a few seconds and saying when (``RAYLAWS_FAULTS`` hold). Prints JSON."""

from __future__ import annotations

import json
import os
import sys
import tempfile
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
    # One 2-GPU node: a tiny size (0.125 GPU) beside a large one (1 GPU per trial).
    "mixed": {"node": {"num_cpus": 10, "num_gpus": 2}, "layers": [1, 2], "trials": 4,
              "resources": {"cpus_per_trial": 1, "gpus_per_trial": 0.125,
                            "by_size": [{"sizes": ["L2-H16"], "gpus_per_trial": 1}]}},
}


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
                "trials_per_size": scenario["trials"], "pruning": {"enabled": False}},
        seeds=0,
        training={"max_steps": 10, "eval_interval": 10, "warmup_steps": 2, "checkpoint_every": None},
        resources=scenario["resources"],
    ))
    sweep = raylaws.run(spec, storage=storage, address=cluster.address)
    holds = {}
    for path in markers.glob("*.hold"):
        start, end = (float(x) for x in path.read_text().split())
        holds[path.stem] = [start, end]
    rows = sweep.trials().to_pylist()
    print(json.dumps({"holds": holds, "statuses": {r["trial_id"]: r["status"] for r in rows}}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
