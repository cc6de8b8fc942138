"""The Ray Tune runner: the ONLY package that imports ``ray.tune`` or ``ray.train``.

Ray's reporting and restore APIs change between releases; keeping every call here means the
next change touches one package. The sweep's logic lives in the Ray-free
:class:`raylaws.search.SweepPlanner`; this package adapts it to Tune:

* :mod:`._adapter`: :class:`SizeSearcher` and :class:`PerSizePruner`, the searcher and
  scheduler that route Tune's calls to the planner, and their shared bookkeeping;
* :mod:`._trainable`: :func:`trial_function`, the function trainable around
  :func:`raylaws.train.train_trial` and :func:`raylaws.train.finetune_trial`, and
  data-parallel trials run by Ray Train inside it;
* :mod:`._run`: :func:`run_trials`, and attaching to Ray (:func:`connect_cluster`);
* :mod:`._nodes`: the node placement check (:func:`wait_for_nodes`) and :func:`concurrency`;
* :mod:`._processes`: the local Ray's processes, recorded and killed when stale.
"""

from raylaws.tune._adapter import PerSizePruner, SizeSearcher
from raylaws.tune._nodes import concurrency, unplaceable_sizes, wait_for_nodes
from raylaws.tune._processes import RayProcessLog, kill_stale_ray_processes, record_ray_processes
from raylaws.tune._run import connect, connect_cluster, run_trials
from raylaws.tune._trainable import TrialContext, TrialResources, trial_function

__all__ = ["PerSizePruner", "RayProcessLog", "SizeSearcher", "TrialContext", "TrialResources", "concurrency",
           "connect", "connect_cluster", "kill_stale_ray_processes", "record_ray_processes", "run_trials",
           "trial_function", "unplaceable_sizes", "wait_for_nodes"]
