"""Kill a real `raylaws run` (SIGKILL to its process group) at each of three points, resume it,
and print what the resume kept and what it cost.

Points (see tests/faults_tests/_sweeps.py): ``search`` (trials running in the search phase),
``record`` (just after a trial's record was written, before Optuna was told), ``seed`` (in the
seed phase). For each: records lost / rewritten / retrained (all must be 0), the Ray processes
the kill left alive and how many survive the resume, and ``resume_to_first_trial_seconds``
(from launching ``raylaws resume`` to the first trial it starts, Ray start included).

Usage:
    python benchmarks/resume.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

from tests.faults_tests._sweeps import KILL_POINTS, kill_and_resume  # noqa: E402


def main() -> None:
    for point in KILL_POINTS:
        with tempfile.TemporaryDirectory() as scratch:
            report = kill_and_resume(Path(scratch), point)
        lost = sum(trial_id not in report.after for trial_id in report.before)
        rewritten = sum(report.after.get(t) != r for t, r in report.before.items())
        duplicated = report.rows_after - len(report.after)
        print(f"{point}: records_at_kill={len(report.before)} lost={lost} duplicated={duplicated} rewritten={rewritten} "
              f"retrained={len(report.retrained)} reattached={len(report.count('reattached'))} "
              f"told={len(report.count('told'))} ray_processes_left_by_kill={len(report.left_alive_by_kill)} "
              f"alive_after_resume={len(report.alive_after_resume)} "
              f"resume_to_first_trial_seconds={report.resume_to_first_trial_seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
