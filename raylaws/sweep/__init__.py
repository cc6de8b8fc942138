"""A sweep: one directory holding what ran and what came out, and the public ``run``/``open``.

* :mod:`._run`: :func:`run` (locally or in object storage): every input checked once, the
  data and tasks prepared once, the trials handed to :mod:`raylaws.tune`;
* :mod:`._rerun`: :func:`resume`, and :func:`rerun` of sizes as a new round;
* :mod:`._read`: :func:`open` and the :class:`Sweep` it returns;
* :mod:`._check`: :func:`check` of a sweep directory (:class:`Finding`) and :func:`check_address`;
* :mod:`._stored`: what a sweep folder holds: where it is (a folder or a store URI), and its
  stored spec (``spec.yaml``, ``sweep.json``), checked and written;
* :mod:`._lock`: one driver per sweep.
"""

from raylaws.errors import SweepError, SweepInterrupted
from raylaws.sweep._check import Finding, check, check_address
from raylaws.sweep._read import Sweep, open
from raylaws.sweep._rerun import rerun, resume
from raylaws.sweep._run import run

__all__ = ["Finding", "Sweep", "SweepError", "SweepInterrupted", "check", "check_address", "open", "rerun",
           "resume", "run"]
