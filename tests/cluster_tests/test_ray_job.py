"""A sweep submitted as a Ray job to a running two-node cluster, as cluster/README.md runs it:
``ray job submit --working-dir . -- raylaws run SPEC --address auto --storage DIR``.

The cluster is two ``ray start`` nodes on this machine, each with its own ports and temp dir.
The job's driver is SIGKILLed mid-sweep; the same command submitted again resumes the sweep,
which ends with every trial recorded exactly once. Every process the test started is found by a
marker in its environment (Ray renames its workers' command lines, ``ray::IDLE``) and killed:
``ray stop`` would also stop other Ray instances on the machine.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import psutil
import pytest
import yaml

import raylaws
from tests.conftest import REPO, tiny_spec_dict

pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).parent / "ray")
MARKER = "RAYLAWS_TEST_RAY_JOB"  # set in the environment of every process the test starts
# Not uploaded with --working-dir (Ray also skips what .gitignore lists).
EXCLUDES = [".git", ".venv", "results", "build", "dist", "benchmarks", "tests"]
SIZES, TRIALS_PER_SIZE, SEEDS = 2, 2, 1


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    with ExitStack() as stack:
        for s in sockets:
            stack.enter_context(s)
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _free_range(width: int, avoid: set[int]) -> tuple[int, int]:
    """``width`` consecutive free ports, away from Ray's default worker ports (10002-19999)."""
    for _ in range(50):
        low = random.randrange(20_000, 30_000 - width)
        ports = range(low, low + width)
        if avoid.intersection(ports):
            continue
        try:
            with ExitStack() as stack:
                for port in ports:
                    s = stack.enter_context(socket.socket())
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return low, low + width - 1
    raise RuntimeError("no free port range")


def _marked(token: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(MARKER) == token \
                    and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except psutil.Error:
            continue
    return found


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class _LocalCluster:
    """A head and a second node, started with ``ray start`` as separate processes."""

    def __init__(self, temp: Path) -> None:
        self.token = uuid.uuid4().hex
        self.env = {**os.environ, MARKER: self.token, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
                    # a job's entrypoint runs with the PATH of the `ray start` that started the head
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.gcs, self.dashboard, client, agent_head, agent_node = _free_ports(5)
        taken = {self.gcs, self.dashboard, client, agent_head, agent_node}
        head_workers = _free_range(100, taken)
        node_workers = _free_range(100, taken | set(range(head_workers[0], head_workers[1] + 1)))
        self._head = ["--head", f"--port={self.gcs}", f"--dashboard-port={self.dashboard}",
                      "--dashboard-host=127.0.0.1", f"--ray-client-server-port={client}",
                      f"--dashboard-agent-listen-port={agent_head}", f"--min-worker-port={head_workers[0]}",
                      f"--max-worker-port={head_workers[1]}", "--num-cpus=1", "--num-gpus=0",
                      f"--temp-dir={temp / 'head'}", "--disable-usage-stats"]
        # Ray 2.60 lets the second node on the same machine keep a temp dir of its own.
        self._node = [f"--address=127.0.0.1:{self.gcs}", f"--dashboard-agent-listen-port={agent_node}",
                      f"--min-worker-port={node_workers[0]}", f"--max-worker-port={node_workers[1]}",
                      "--num-cpus=1", "--num-gpus=0", '--resources={"second_node": 1}',
                      f"--temp-dir={temp / 'node'}", "--disable-usage-stats"]

    def start(self) -> None:
        self._ray("start", *self._head)
        self._ray("start", *self._node)
        _wait(lambda: self.alive_nodes() == 2, 60, "two alive nodes")

    @property
    def jobs_address(self) -> str:
        return f"http://127.0.0.1:{self.dashboard}"

    def _ray(self, *args: str) -> str:
        done = subprocess.run([RAY, *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"ray {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout

    def alive_nodes(self) -> int:
        from ray.util.state import list_nodes

        nodes = list_nodes(address=self.jobs_address, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
        return len(nodes)

    def submit(self, job_id: str, *entrypoint: str) -> None:
        self._ray("job", "submit", "--address", self.jobs_address, "--no-wait", "--submission-id", job_id,
                  "--working-dir", str(REPO), "--runtime-env-json", json.dumps({"excludes": EXCLUDES}),
                  "--", *entrypoint)

    def job_status(self, job_id: str) -> str:
        from ray.job_submission import JobSubmissionClient

        return str(JobSubmissionClient(self.jobs_address).get_job_status(job_id).value)

    def job_logs(self, job_id: str) -> str:
        from ray.job_submission import JobSubmissionClient

        return JobSubmissionClient(self.jobs_address).get_job_logs(job_id)[-3000:]

    def stop(self) -> None:
        """Kill every process this cluster started (never `ray stop`: other Rays run here)."""
        for _ in range(3):  # a dying raylet may still start a worker
            processes = _marked(self.token)
            for process in processes:
                try:
                    process.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(processes, timeout=10)


def _driver(storage: Path) -> psutil.Process | None:
    """The job's driver: the python running raylaws.cli, not the `/bin/sh -c` Ray's job supervisor
    runs it under (dash does not exec its command; killing the shell leaves the driver running,
    holding the sweep's lock, until the supervisor's watcher kills the group)."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if cmdline[:3] == [sys.executable, "-m", "raylaws.cli"] and str(storage) in cmdline:
            return process
    return None


def _record_count(sweep_dir: Path) -> int:
    return len(list((sweep_dir / "trials").glob("[!.]*.parquet")))


def test_a_sweep_submitted_as_a_ray_job_survives_its_driver_being_killed(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(tiny_spec_dict(
        search={"trials_per_size": TRIALS_PER_SIZE}, seeds=SEEDS,
        training={"max_steps": 60, "warmup_steps": 5, "eval_interval": 10, "schedule": "cosine",
                  "checkpoint_every": 20})))
    storage = tmp_path / "results"
    sweep_dir = storage / "tiny"
    budget = SIZES * (TRIALS_PER_SIZE + SEEDS)
    # sys.executable: the cluster's PATH need not lead to a python that has raylaws' dependencies
    entrypoint = (sys.executable, "-m", "raylaws.cli", "run", str(spec_path), "--address", "auto",
                  "--storage", str(storage), "--quiet")
    # Ray's socket paths (<temp>/session_<time>_<pid>/sockets/plasma_store) must stay under 108 bytes
    ray_temp = Path(tempfile.mkdtemp(prefix="rl-job-"))
    cluster = _LocalCluster(ray_temp)
    try:
        cluster.start()
        cluster.submit("first", *entrypoint)
        _wait(lambda: _record_count(sweep_dir) >= 1 or cluster.job_status("first") in ("FAILED", "SUCCEEDED"),
              240, "the first record")
        driver = _driver(storage)
        assert driver is not None and _record_count(sweep_dir) < budget, cluster.job_logs("first")
        driver.send_signal(signal.SIGKILL)
        _wait(lambda: cluster.job_status("first") in ("FAILED", "STOPPED"), 60, "the killed job to end")
        killed_with = _record_count(sweep_dir)
        assert 1 <= killed_with < budget

        cluster.submit("again", *entrypoint)
        _wait(lambda: cluster.job_status("again") in ("SUCCEEDED", "FAILED", "STOPPED"), 300, "the resumed job")
        assert cluster.job_status("again") == "SUCCEEDED", cluster.job_logs("again")
    finally:
        cluster.stop()
        shutil.rmtree(ray_temp, ignore_errors=True)
        assert _marked(cluster.token) == [], "processes of the test's cluster still run"

    rows = raylaws.open(sweep_dir).trials().to_pylist()
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)) == budget, ids
    sizes = {r["size"] for r in rows}
    assert len(sizes) == SIZES
    for size in sizes:
        assert sorted(r["trial_id"] for r in rows if r["size"] == size and r["phase"] == "search") == \
            [f"{size}.s{n:03d}" for n in range(TRIALS_PER_SIZE)]
        assert sorted(r["seed"] for r in rows if r["size"] == size and r["phase"] == "seed") == \
            list(range(1, SEEDS + 1))
