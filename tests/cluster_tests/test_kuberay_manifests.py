"""cluster/kuberay/*.yaml satisfy the KubeRay CRDs' schema (kuberay_schema.py) and the operator's own checks."""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
import yaml

from tests.cluster_tests.kuberay_schema import RAY_CLUSTER, RAY_JOB

KUBERAY = Path(__file__).resolve().parents[2] / "cluster" / "kuberay"
DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
VALIDATORS = {kind: (jsonschema.Draft202012Validator(schema), max_name)
              for kind, schema, max_name in [("RayCluster", RAY_CLUSTER, 53), ("RayJob", RAY_JOB, 47)]}


def test_schemas_are_valid_json_schemas() -> None:
    for schema in (RAY_CLUSTER, RAY_JOB):
        jsonschema.Draft202012Validator.check_schema(schema)


class ManifestError(ValueError):
    pass


def cluster_spec_problems(spec: dict[str, Any]) -> list[str]:
    """What KubeRay's ValidateRayClusterSpec refuses, for the fields raylaws uses, plus two rules of
    our own: replicas within [minReplicas, maxReplicas] (the operator would clamp it silently) and
    unique group names."""
    problems = []
    groups = [("head", spec["headGroupSpec"])] + [(g["groupName"], g) for g in spec.get("workerGroupSpecs", [])]
    for name, group in groups:
        if not group["template"]["spec"]["containers"]:
            problems.append(f"{name}: a group needs at least one container")
    for g in spec.get("workerGroupSpecs", []):
        lo, hi = g["minReplicas"], g["maxReplicas"]
        if lo < 0 or hi < 0 or lo > hi:
            problems.append(f"{g['groupName']}: need 0 <= minReplicas <= maxReplicas (got {lo}, {hi})")
        if "replicas" in g and not lo <= g["replicas"] <= hi:
            problems.append(f"{g['groupName']}: replicas {g['replicas']} outside [{lo}, {hi}]")
    names = [g["groupName"] for g in spec.get("workerGroupSpecs", [])]
    if len(set(names)) != len(names):
        problems.append(f"duplicate worker groupName in {names}")
    return problems


def check(manifest: dict[str, Any]) -> None:
    """Raise if the manifest would be refused by the API server (CRD schema) or the operator."""
    validator, max_name = VALIDATORS[manifest.get("kind")]
    error = jsonschema.exceptions.best_match(validator.iter_errors(manifest))
    if error is not None:
        raise error
    name = manifest["metadata"]["name"]
    problems = []
    if len(name) > max_name or not DNS1035.match(name):
        problems.append(f"metadata.name {name!r}: must be a DNS-1035 label of at most {max_name} characters")
    spec = manifest["spec"]
    if manifest["kind"] == "RayJob":
        if "rayClusterSpec" not in spec and not spec.get("clusterSelector"):
            problems.append("a RayJob needs spec.rayClusterSpec or spec.clusterSelector")
        spec = spec.get("rayClusterSpec")
    if spec is not None:
        problems += cluster_spec_problems(spec)
    if problems:
        raise ManifestError("; ".join(problems))


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> dict[str, Any]:
    (doc,) = list(yaml.load_all((KUBERAY / name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    return doc


def load(name: str) -> dict[str, Any]:
    """A fresh copy of the manifest (tests mutate it)."""
    return copy.deepcopy(_parse(name))


def cluster_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["rayClusterSpec"] if manifest["kind"] == "RayJob" else manifest["spec"]


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
def test_manifest_is_valid(name: str) -> None:
    manifest = load(name)
    check(manifest)
    spec = cluster_spec(manifest)
    assert spec["enableInTreeAutoscaling"] is True
    gpus = []
    for group in spec["workerGroupSpecs"]:
        assert group["minReplicas"] == 0 and group["maxReplicas"] >= 1
        (container,) = group["template"]["spec"]["containers"]
        limits = container["resources"]["limits"]
        assert "nvidia.com/gpu" in limits, f"{group['groupName']}: GPU workers need an nvidia.com/gpu limit"
        gpus.append(int(limits["nvidia.com/gpu"]))
    assert sorted(gpus) == [1, 8]


def test_rayjob_runs_the_paper_sweep_on_object_storage() -> None:
    job = load("rayjob.yaml")
    entrypoint = job["spec"]["entrypoint"].split()
    assert entrypoint[:3] == ["raylaws", "run", "search_spaces/paper_mlm_ar32.yaml"]
    assert entrypoint[entrypoint.index("--address") + 1] == "auto"
    assert entrypoint[entrypoint.index("--storage") + 1].startswith("s3://")
    assert (Path(__file__).resolve().parents[2] / entrypoint[2]).is_file()
    assert job["spec"]["shutdownAfterJobFinishes"] is True
    assert yaml.safe_load(job["spec"]["runtimeEnvYAML"])["working_dir"] == "/home/ray/raylaws"


def test_rayjob_cluster_is_the_raycluster() -> None:
    """One cluster shape: the RayJob's cluster and the long-lived RayCluster stay in step."""
    assert load("rayjob.yaml")["spec"]["rayClusterSpec"] == load("raycluster.yaml")["spec"]


def _worker(m: dict[str, Any]) -> dict[str, Any]:
    return cluster_spec(m)["workerGroupSpecs"][0]


BREAKAGES: dict[str, tuple[Callable[[dict[str, Any]], Any], type[Exception]]] = {
    "wrong-api-version": (lambda m: m.update(apiVersion="ray.io/v1alpha1"), jsonschema.ValidationError),
    "no-name": (lambda m: m["metadata"].pop("name"), jsonschema.ValidationError),
    "no-head-group": (lambda m: cluster_spec(m).pop("headGroupSpec"), jsonschema.ValidationError),
    "head-no-rayStartParams": (lambda m: cluster_spec(m)["headGroupSpec"].pop("rayStartParams"),
                               jsonschema.ValidationError),
    "head-no-containers": (lambda m: cluster_spec(m)["headGroupSpec"]["template"]["spec"].pop("containers"),
                           jsonschema.ValidationError),
    "container-no-name": (lambda m: _worker(m)["template"]["spec"]["containers"][0].pop("name"),
                          jsonschema.ValidationError),
    "worker-no-groupName": (lambda m: _worker(m).pop("groupName"), jsonschema.ValidationError),
    "worker-no-maxReplicas": (lambda m: _worker(m).pop("maxReplicas"), jsonschema.ValidationError),
    "worker-misspelt-field": (lambda m: _worker(m).update(minReplica=_worker(m).pop("minReplicas")),
                              jsonschema.ValidationError),
    "int-rayStartParam": (lambda m: _worker(m)["rayStartParams"].update({"num-gpus": 1}), jsonschema.ValidationError),
    "bad-gpu-quantity": (lambda m: _worker(m)["template"]["spec"]["containers"][0]["resources"]["limits"]
                         .update({"nvidia.com/gpu": "one"}), jsonschema.ValidationError),
    "empty-containers": (lambda m: cluster_spec(m)["headGroupSpec"]["template"]["spec"].update(containers=[]),
                         ManifestError),
    "min-over-max": (lambda m: _worker(m).update(minReplicas=5, maxReplicas=2), ManifestError),
    "negative-min": (lambda m: _worker(m).update(minReplicas=-1), ManifestError),
    "name-not-dns": (lambda m: m["metadata"].update(name="Raylaws_Sweep"), ManifestError),
}


@pytest.mark.parametrize("name", ["raycluster.yaml", "rayjob.yaml"])
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_manifest_is_rejected(name: str, breakage: str) -> None:
    manifest = load(name)
    mutate, error = BREAKAGES[breakage]
    mutate(manifest)
    with pytest.raises(error):
        check(manifest)


@pytest.mark.parametrize("mutate", [
    lambda m: m["spec"].pop("entrypoint"),
    lambda m: m["spec"].pop("rayClusterSpec"),
    lambda m: m["spec"].update(backoffLimit="2"),
], ids=["no-entrypoint", "no-cluster", "string-backoff"])
def test_broken_rayjob_is_rejected(mutate: Callable[[dict[str, Any]], Any]) -> None:
    job = load("rayjob.yaml")
    mutate(job)
    with pytest.raises((jsonschema.ValidationError, ManifestError)):
        check(job)
