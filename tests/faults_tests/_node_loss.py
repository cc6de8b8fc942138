"""Run by test_node_loss.py in a fresh process: a real multi-node Ray cluster on this machine.

A one-trial sweep runs on a worker node; once the trial has checkpointed, a second worker node
joins and the first is removed. Prints one JSON line with what the store holds.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import ray  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

import raylaws  # noqa: E402
from raylaws.spec import spec_from_dict  # noqa: E402
from tests.conftest import tiny_spec_dict  # noqa: E402


def main(storage: Path) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # trials only on workers
    doomed = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    spec = spec_from_dict(tiny_spec_dict(
        name="nodeloss",
        ladder={"aspect_ratio": 8, "layers": [2], "n_heads": 2},
        search={"learning_rate": {"low": 3e-3, "high": 1e-2}, "batch_size": [8], "trials_per_size": 1,
                "pruning": {"enabled": False}},
        seeds=0,
        # 1,200 steps (~15 s): long enough that the node swap (~5 s) always lands inside the trial
        training={"max_steps": 1200, "eval_interval": 20, "warmup_steps": 5, "checkpoint_every": 40},
        resources={"cpus_per_trial": 1, "max_retries": 3},
    ))
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("sweep", raylaws.run(spec, storage=storage,
                                                                                    address=cluster.address)))
    runner.start()
    tune_dir = storage / "nodeloss" / "tune"
    deadline = time.monotonic() + 180
    while not list(tune_dir.glob("*/checkpoint_*")) and time.monotonic() < deadline:
        time.sleep(0.2)
    checkpointed = bool(list(tune_dir.glob("*/checkpoint_*")))
    cluster.add_node(num_cpus=1)
    cluster.remove_node(doomed)
    runner.join(timeout=300)
    rows = raylaws.open(storage / "nodeloss").trials().to_pylist()
    print(json.dumps({"checkpointed_before_loss": checkpointed, "finished": not runner.is_alive(),
                      "rows": [{k: r[k] for k in ("trial_id", "status", "steps", "resumed_from_step")} for r in rows]}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
