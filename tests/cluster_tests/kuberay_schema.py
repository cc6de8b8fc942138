"""The parts of KubeRay's RayCluster and RayJob CRDs (apiVersion ray.io/v1) that raylaws' manifests use.

Derived by hand from the operator's CRDs, ray-project/kuberay
ray-operator/config/crd/bases/ray.io_rayclusters.yaml and ray.io_rayjobs.yaml, at tags v1.2.0 and
v1.7.0 (the `v1` version's openAPIV3Schema):

- `required` is the union over those versions. rayStartParams was required in headGroupSpec and
  in each workerGroupSpec up to v1.4 (optional from v1.5); spec.entrypoint was required in RayJob
  up to v1.2 (from v1.3 the operator defaults it for interactive submission).
- The allowed field names at each level are those present in both v1.2.0 and v1.7.0, so a
  manifest that passes works on operators 1.2 ... 1.7 (spec.backoffLimit, used by rayjob.yaml,
  appeared in v1.2.0). `kubectl apply` validates fields strictly by default, so an unknown or
  misspelt field is rejected by the API server; here it is rejected by additionalProperties.
- Types: rayStartParams values are strings (a common mistake is `num-gpus: 1`); replica counts
  are int32; container resource quantities are ints or quantity strings.
- The pod template is Kubernetes' PodTemplateSpec; only what the CRD requires of it is modelled
  (spec.containers, each with a name), plus the keys raylaws' manifests rely on.

SEMANTIC_CHECKS (in the test) add what the operator checks in Go before it creates pods
(ray-operator/controllers/ray/utils/validation.go: ValidateRayClusterSpec, ValidateRayJobSpec,
ValidateRayClusterMetadata): at least one container per group, 0 <= minReplicas <= maxReplicas,
names that are DNS-1035 labels of at most 53 (RayCluster) / 47 (RayJob) characters, and a RayJob
with a rayClusterSpec or a clusterSelector.
"""

from __future__ import annotations

from typing import Any

INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
QUANTITY = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^[+-]?[0-9.]+([eE][+-]?[0-9]+|[KMGTPE]i?|[numk])?$"}]}
QUANTITIES = {"type": "object", "additionalProperties": QUANTITY}

CONTAINER = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "image": {"type": "string"},
        "resources": {"type": "object", "properties": {"limits": QUANTITIES, "requests": QUANTITIES}},
        "ports": {"type": "array", "items": {"type": "object", "required": ["containerPort"]}},
        "volumeMounts": {"type": "array", "items": {"type": "object", "required": ["mountPath", "name"]}},
    },
}

POD_TEMPLATE = {
    "type": "object",
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {
                "containers": {"type": "array", "items": CONTAINER},
                "volumes": {"type": "array", "items": {"type": "object", "required": ["name"]}},
                "tolerations": {"type": "array", "items": {"type": "object"}},
                "serviceAccountName": {"type": "string"},
            },
        },
    },
}

HEAD_GROUP_SPEC = {
    "type": "object",
    "required": ["rayStartParams", "template"],
    "additionalProperties": False,
    "properties": {
        "enableIngress": {"type": "boolean"},
        "headService": {"type": "object"},
        "rayStartParams": STRING_MAP,
        "serviceType": {"type": "string"},
        "template": POD_TEMPLATE,
    },
}

WORKER_GROUP_SPEC = {
    "type": "object",
    "required": ["groupName", "maxReplicas", "minReplicas", "rayStartParams", "template"],
    "additionalProperties": False,
    "properties": {
        "groupName": {"type": "string"},
        "maxReplicas": INT32,
        "minReplicas": INT32,
        "numOfHosts": INT32,
        "rayStartParams": STRING_MAP,
        "replicas": INT32,
        "scaleStrategy": {"type": "object"},
        "template": POD_TEMPLATE,
    },
}

RAY_CLUSTER_SPEC = {
    "type": "object",
    "required": ["headGroupSpec"],
    "additionalProperties": False,
    "properties": {
        "autoscalerOptions": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "env": {"type": "array"},
                "envFrom": {"type": "array"},
                "idleTimeoutSeconds": INT32,
                "image": {"type": "string"},
                "imagePullPolicy": {"type": "string"},
                "resources": {"type": "object"},
                "securityContext": {"type": "object"},
                "upscalingMode": {"enum": ["Default", "Aggressive", "Conservative"]},
                "volumeMounts": {"type": "array"},
            },
        },
        "enableInTreeAutoscaling": {"type": "boolean"},
        "headGroupSpec": HEAD_GROUP_SPEC,
        "headServiceAnnotations": STRING_MAP,
        "rayVersion": {"type": "string"},
        "suspend": {"type": "boolean"},
        "workerGroupSpecs": {"type": "array", "items": WORKER_GROUP_SPEC},
    },
}

METADATA = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}

RAY_CLUSTER: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayCluster"},
        "metadata": METADATA,
        "spec": RAY_CLUSTER_SPEC,
    },
}

RAY_JOB: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "ray.io/v1"},
        "kind": {"const": "RayJob"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["entrypoint"],
            "additionalProperties": False,
            "properties": {
                "activeDeadlineSeconds": INT32,
                "backoffLimit": INT32,
                "clusterSelector": STRING_MAP,
                "entrypoint": {"type": "string", "minLength": 1},
                "entrypointNumCpus": {"type": "number"},
                "entrypointNumGpus": {"type": "number"},
                "entrypointResources": {"type": "string"},
                "jobId": {"type": "string"},
                "metadata": STRING_MAP,
                "rayClusterSpec": RAY_CLUSTER_SPEC,
                "runtimeEnvYAML": {"type": "string"},
                "shutdownAfterJobFinishes": {"type": "boolean"},
                "submissionMode": {"type": "string"},
                "submitterConfig": {"type": "object"},
                "submitterPodTemplate": POD_TEMPLATE,
                "suspend": {"type": "boolean"},
                "ttlSecondsAfterFinished": INT32,
            },
        },
    },
}
