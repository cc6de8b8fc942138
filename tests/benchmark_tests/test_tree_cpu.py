"""benchmarks/tree_cpu.py counts the CPU seconds of a command's children, not only its own."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

# A parent that sleeps while a child spins for about 1.5 s of CPU.
BUSY_CHILD = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
              "'import time\\nend = time.process_time() + 1.5\\nwhile time.process_time() < end: pass'])")


def test_the_cpu_seconds_of_a_child_process_are_counted() -> None:
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "tree_cpu.py"), "--cores", "2", "--interval", "0.1", "--",
                             sys.executable, "-c", BUSY_CHILD], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = {key: float(value) for key, value in (line.split("=", 1) for line in result.stdout.splitlines())}
    assert 1.0 <= figures["tree_cpu_s"] <= figures["wall_s"] + 1.0, result.stdout
    assert abs(figures["alone_wall_s_at_least"] - figures["tree_cpu_s"] / 2) <= 0.1
    assert {"load_mean", "load_max", "returncode"} <= set(figures)
