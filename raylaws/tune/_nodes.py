"""Where trials can run: every size's trial worker must fit on some node of the Ray cluster
(:func:`wait_for_nodes`), and how many trials Tune keeps in flight (:func:`concurrency`)."""

from __future__ import annotations

import logging
import os

import ray

from raylaws.errors import SweepError
from raylaws.ladder import Size
from raylaws.spec import ExperimentSpec

logger = logging.getLogger(__name__)


def worker_bundle(size: Size) -> dict[str, float]:
    """What one trial worker of ``size`` asks of a node (the cluster check and Ray Train's workers)."""
    resources = size.resources
    bundle = {"CPU": float(resources.cpus)}
    if resources.gpus:
        bundle["GPU"] = float(resources.gpus)
    return bundle


def unplaceable_sizes(sizes: tuple[Size, ...], nodes: list[dict[str, float]]) -> list[Size]:
    """The sizes one of whose trial workers fits on no node (``nodes``: each alive node's
    total resources). Tune would queue their trials and wait for them forever."""
    return [size for size in sizes
            if not any(all(node.get(k, 0.0) >= v for k, v in worker_bundle(size).items()) for node in nodes)]


def _alive_nodes() -> list[dict[str, float]]:
    return [dict(node["Resources"]) for node in ray.nodes() if node.get("Alive")]


def wait_for_nodes(sizes: tuple[Size, ...], *, autoscaling: bool, timeout_seconds: float,
                   poll_seconds: float = 5.0) -> None:
    """Before any trial is queued: every size's trial worker must fit on some node.

    Without an autoscaler, a size that fits nowhere is refused at once, in one line. With one
    (``resources.autoscaling``), the sweep says it waits for such a node and gives up after
    ``timeout_seconds``.

    Raises:
        SweepError: a size fits no node (and none appeared in time).
    """
    import time

    deadline = time.monotonic() + timeout_seconds
    warned = False
    while True:
        nodes = _alive_nodes()
        missing = unplaceable_sizes(sizes, nodes)
        if not missing:
            return
        size = missing[0]
        biggest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
        need = size.resources
        what = (f"size {size.name} asks for {need.cpus} CPU" + (f" and {need.gpus:g} GPU" if need.gpus else "")
                + f" per trial worker, but no node of the Ray cluster has that (largest node: "
                f"{biggest.get('CPU', 0):g} CPU, {biggest.get('GPU', 0):g} GPU)")
        if not autoscaling:
            raise SweepError(f"{what}; lower resources.gpus_per_trial / cpus_per_trial (or a resources.by_size "
                             "entry), or add such a node (with an autoscaler, set resources.autoscaling: true)")
        if time.monotonic() >= deadline:
            raise SweepError(f"{what}, and the autoscaler added none in {timeout_seconds:g} s "
                             "(resources.node_wait_seconds); check the cluster's node types")
        if not warned:
            from ray.autoscaler.sdk import request_resources

            # Tune's trials are not queued yet, so ask the autoscaler for the nodes directly.
            request_resources(bundles=[worker_bundle(s) for s in missing])
            logger.warning("%s; waiting up to %g s for the autoscaler to add one", what, timeout_seconds)
            warned = True
        time.sleep(poll_seconds)


def concurrency(spec: ExperimentSpec, sizes: tuple[Size, ...]) -> int:
    """Trials Tune keeps in flight: the spec's cap, or as many trials of the size with the
    smallest footprint as the cluster's CPUs (and GPUs) fit. Ray's own scheduling then runs
    each pending trial when its size's resources free up, so large sizes take fewer slots."""
    if spec.resources.max_concurrent_trials is not None:
        return spec.resources.max_concurrent_trials
    cluster = ray.cluster_resources() if ray.is_initialized() else {"CPU": os.cpu_count() or 1}
    best = 1
    for size in sizes:
        resources = size.resources
        slots = int(cluster.get("CPU", 1) // (resources.cpus * resources.workers))
        if resources.gpus:
            slots = min(slots, int(cluster.get("GPU", 0) // (resources.gpus * resources.workers)))
        best = max(best, slots)
    return best
