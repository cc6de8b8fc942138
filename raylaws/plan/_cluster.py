"""Where a planned sweep would run: this machine, or the nodes a cluster config can start.

A :class:`Cluster` is its node types with how many of each and what one costs an hour. It
comes from this machine (:func:`this_machine`), or from a ``ray up`` config or a KubeRay
``RayCluster`` (:func:`cluster_from_config`: every worker type at its ``max_workers``, or
``maxReplicas``, within the config's overall ``max_workers``). Prices are on-demand list
prices (:data:`LIST_PRICES`, with the date they were read); ``prices`` overrides them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Optional

from raylaws.spec import SpecError, SpecProblem

# On-demand Linux list prices in USD per hour of the instance types the shipped configs in
# cluster/ name: AWS (us-east-1 and us-west-2 charge the same for these) and GCP us-central1,
# as the providers' pricing pages listed them in 2025 (P4d after AWS's June 2025 cut). Spot and
# committed-use prices are lower; give your own with --price TYPE=USD.
LIST_PRICES: dict[str, float] = {
    "m5.2xlarge": 0.384,  # 8 vCPU
    "g5.2xlarge": 1.212,  # 1x A10G 24 GB, 8 vCPU
    "p4d.24xlarge": 21.96,  # 8x A100 40 GB, 96 vCPU
    "n2-standard-8": 0.3885,  # 8 vCPU
    "g2-standard-8": 0.8536,  # 1x L4 24 GB, 8 vCPU
    "a2-highgpu-8g": 29.3879,  # 8x A100 40 GB, 96 vCPU
}
LIST_PRICES_READ = "2025"


@dataclass(frozen=True)
class NodeType:
    """One kind of node: its Ray resources, how many the plan counts, its price.

    Attributes:
        name: the config's name for it (``head``, ``gpu_1x``), or ``this machine``.
        cpus: Ray CPUs of one node.
        gpus: Ray GPUs of one node.
        count: nodes of this type the plan runs on.
        instance: the cloud instance or machine type, where the config names one.
        usd_per_hour: the price of one node for an hour, where known.
    """

    name: str
    cpus: float
    gpus: float
    count: int
    instance: Optional[str] = None
    usd_per_hour: Optional[float] = None


@dataclass(frozen=True)
class Cluster:
    """The nodes a plan schedules its trials on."""

    name: str
    node_types: tuple[NodeType, ...]

    @property
    def cpus(self) -> float:
        return sum(t.cpus * t.count for t in self.node_types)

    @property
    def gpus(self) -> float:
        return sum(t.gpus * t.count for t in self.node_types)

    @property
    def usd_per_hour(self) -> Optional[float]:
        """What every node together costs an hour; None if a node's price is unknown."""
        used = [t for t in self.node_types if t.count]
        if any(t.usd_per_hour is None for t in used):
            return None
        return sum(t.usd_per_hour * t.count for t in used)  # type: ignore[operator]

    def describe(self) -> str:
        return ", ".join(f"{t.count} x {t.name}" + (f" ({t.instance})" if t.instance else "")
                         + f" [{t.cpus:g} CPU" + (f", {t.gpus:g} GPU" if t.gpus else "") + "]"
                         for t in self.node_types if t.count)


def this_machine() -> Cluster:
    """This machine as a local Ray sees it: every core, and every GPU torch sees."""
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Cluster("this machine", (NodeType("this machine", float(os.cpu_count() or 1), float(gpus), 1),))


def cluster_from_config(path: Path, *, nodes: Optional[Mapping[str, int]] = None,
                        prices: Optional[Mapping[str, float]] = None) -> Cluster:
    """The cluster a ``ray up`` config or a KubeRay ``RayCluster`` can start, at its largest.

    Args:
        path: the config's YAML file.
        nodes: worker nodes of a type, by its name, instead of its maximum.
        prices: USD per hour by instance type or node-type name, over :data:`LIST_PRICES`.

    Raises:
        SpecError: not a cluster config, or ``nodes`` names a type it does not have.
    """
    import yaml

    field = f"--cluster {path}"
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as error:
        raise SpecError([SpecProblem(field, f"cannot read it ({error.strerror or error})")], source="plan") from None
    except yaml.YAMLError as error:
        reason = (str(error).splitlines() or [type(error).__name__])[0]
        raise SpecError([SpecProblem(field, f"not YAML ({reason})")], source="plan") from None
    if isinstance(config, dict) and isinstance(config.get("available_node_types"), dict):
        types = _ray_up_types(config)
        bare = [t.name for t in types if t.count and not (t.cpus or t.gpus)]
        if bare:
            raise SpecError([SpecProblem(field, f"node type {name} gives no resources: add resources: "
                                                "{CPU: n, GPU: m} (Ray reads them from the instance type; the plan "
                                                "cannot)")
                             for name in bare], source="plan")
    elif isinstance(config, dict) and config.get("kind") == "RayCluster":
        types = _kuberay_types(config)
    else:
        raise SpecError([SpecProblem(field, "not a cluster config: give a `ray up` YAML (available_node_types) or a "
                                            "KubeRay RayCluster, like those in cluster/")], source="plan")
    unknown = sorted(set(nodes or {}) - {t.name for t in types})
    if unknown:
        raise SpecError([SpecProblem("--nodes", f"{', '.join(unknown)}: no such node type in {path} (it has "
                                                f"{', '.join(t.name for t in types)})")], source="plan")
    if nodes:
        types = [replace(t, count=nodes[t.name] + (1 if t.name == types[0].name else 0)) if t.name in nodes else t
                 for t in types]
    table = {**LIST_PRICES, **(prices or {})}
    priced = tuple(replace(t, usd_per_hour=table.get(t.name, table.get(t.instance or "", None))) for t in types)
    return Cluster(path.name, priced)


def _ray_up_types(config: dict[str, Any]) -> list[NodeType]:
    """Head first (one node, plus its own workers), then each worker type at its
    ``max_workers`` (Ray's default: the config's), the total kept within the config's
    ``max_workers``."""
    head = config.get("head_node_type")
    budget = int(config.get("max_workers", 2))  # Ray's default
    per_type = budget
    types: list[NodeType] = []
    ordered = sorted(config["available_node_types"].items(), key=lambda item: item[0] != head)
    for name, node in ordered:
        resources = node.get("resources") or {}
        node_config = node.get("node_config") or {}
        workers = min(int(node.get("max_workers", per_type)), budget)
        budget -= workers
        types.append(NodeType(name, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)),
                              workers + (1 if name == head else 0),
                              node_config.get("InstanceType") or node_config.get("machineType")))
    return types


def _kuberay_types(config: dict[str, Any]) -> list[NodeType]:
    """The head group (one pod) and each worker group at ``maxReplicas``; a pod's Ray CPUs and
    GPUs are its first container's limits (``rayStartParams`` override them, as in KubeRay)."""
    spec = config.get("spec") or {}

    def group(name: str, group_spec: dict[str, Any], count: int) -> NodeType:
        container = ((group_spec.get("template") or {}).get("spec") or {}).get("containers", [{}])[0]
        limits = (container.get("resources") or {}).get("limits") or {}
        params = group_spec.get("rayStartParams") or {}
        cpus = params.get("num-cpus", limits.get("cpu", 0))
        gpus = params.get("num-gpus", limits.get("nvidia.com/gpu", 0))
        return NodeType(name, _quantity(cpus), float(gpus), count)

    types = [group("head", spec.get("headGroupSpec") or {}, 1)]
    for worker in spec.get("workerGroupSpecs") or []:
        types.append(group(worker.get("groupName", "workers"), worker,
                           int(worker.get("maxReplicas", worker.get("replicas", 0)))))
    return types


def _quantity(value: Any) -> float:
    """A Kubernetes CPU quantity (``"8"``, ``"7500m"``) in CPUs."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


__all__ = ["LIST_PRICES", "LIST_PRICES_READ", "Cluster", "NodeType", "cluster_from_config", "this_machine"]
