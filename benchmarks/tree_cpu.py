"""Run a command and measure what it cost on a machine that others share.

On a shared machine a run's wall time says how busy the machine was as much as what the run
needs. This runs the command, samples every second the CPU seconds (user + system, from
``/proc/<pid>/stat``) of every process descended from it (a ``raylaws run``: the driver, Ray's
processes and every trial), and prints, as ``key=value`` lines:

* ``wall_s``: the command's wall time;
* ``tree_cpu_s``: the CPU seconds of its process tree (the last sample of each process; what
  a process spends after its last sample, or a process that lives under ``--interval``, is
  missed, so this is a lower bound);
* ``load_mean``, ``load_max``: the 1-minute load average during the run;
* ``alone_wall_s_at_least``: ``tree_cpu_s`` over ``--cores``: the wall time the same work needs
  alone, at best (every core busy all the time).

Linux only. Usage::

    python benchmarks/tree_cpu.py [--cores 2] [--log FILE] [--interval 1] -- raylaws run SPEC --storage DIR
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> dict[int, float]:
    """CPU seconds of ``root`` and every process descended from it, by pid, now."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (name) ": state, ppid, ...
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime
    out = {}
    for pid, seconds in cpu.items():
        ancestor = pid
        while ancestor not in (0, 1) and ancestor != root:
            ancestor = parents.get(ancestor, 0)
        if ancestor == root:
            out[pid] = seconds
    return out


def measure(command: list[str], *, cores: int, log: str | None, interval: float = 1.0) -> dict[str, float]:
    """Run ``command`` to its end; its wall time, process-tree CPU seconds and the load."""
    output = open(log, "w") if log else subprocess.DEVNULL
    start = time.time()
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    seen: dict[int, float] = {}
    loads: list[float] = []
    while process.poll() is None:
        for pid, seconds in tree_cpu_seconds(process.pid).items():
            seen[pid] = max(seen.get(pid, 0.0), seconds)
        loads.append(os.getloadavg()[0])
        time.sleep(interval)
    wall = time.time() - start
    total = sum(seen.values())
    return {"returncode": float(process.returncode), "wall_s": wall, "tree_cpu_s": total,
            "load_mean": sum(loads) / max(1, len(loads)), "load_max": max(loads, default=0.0),
            "alone_wall_s_at_least": total / cores}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores the work may use alone")
    parser.add_argument("--log", help="file for the command's output (default: discarded)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between samples")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    result = measure(command, cores=args.cores, log=args.log, interval=args.interval)
    for key, value in result.items():
        print(f"{key}={value:.1f}")
    return int(result["returncode"])


if __name__ == "__main__":
    sys.exit(main())
