"""The processes of a driver's local Ray, recorded in the sweep (``ray-processes.json``) so
that the next driver kills those a hard-killed one left behind."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from ray.tune import Callback

from raylaws.layout import SweepLayout

logger = logging.getLogger(__name__)


class RayProcessLog(Callback):
    """Keeps ``ray-processes.json`` up to date as trial workers start (local Ray only)."""

    def __init__(self, layout: SweepLayout) -> None:
        self.layout = layout

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        record_ray_processes(self.layout)


def record_ray_processes(layout: SweepLayout) -> None:
    """Write the pids (with start times) of every process this driver's local Ray started."""
    import psutil

    processes = []
    for child in psutil.Process().children(recursive=True):
        try:
            processes.append({"pid": child.pid, "create_time": child.create_time(), "name": child.name()})
        except psutil.Error:
            continue
    path = layout.ray_processes
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps({"driver": os.getpid(), "processes": processes}))
    os.replace(temp, path)


def kill_stale_ray_processes(layout: SweepLayout) -> list[int]:
    """Kill the Ray processes a hard-killed driver of this sweep left behind; return their pids.

    Only processes whose pid *and* start time match the record are touched, so a reused pid
    is never killed. Call it while holding the sweep's lock (the old driver is then gone).
    """
    import psutil

    path = layout.ray_processes
    if not path.exists():
        return []
    try:
        recorded = json.loads(path.read_text())["processes"]
    except (OSError, ValueError, KeyError):
        recorded = []
    killed = []
    for entry in recorded:
        try:
            process = psutil.Process(entry["pid"])
            if abs(process.create_time() - entry["create_time"]) > 0.01:
                continue
            process.kill()
            killed.append(entry["pid"])
        except psutil.Error:
            continue
    psutil.wait_procs([psutil.Process(pid) for pid in killed if psutil.pid_exists(pid)], timeout=10)
    path.unlink(missing_ok=True)
    if killed:
        logger.warning("killed %d Ray process(es) left by a previous driver of %s", len(killed), layout.root)
    return killed
