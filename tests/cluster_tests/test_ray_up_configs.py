"""The `ray up` configs in cluster/ pass the checks `ray up` itself applies, without cloud credentials.

`ray up` (ray.autoscaler._private.commands._bootstrap_config) runs, in order:
  1. prepare_config(config)   merge with the provider's defaults.yaml, merge setup commands,
                              validate the docker section, fill per-type min/max workers;
  2. provider_cls.fillout_available_node_types_resources(config)   (AWS: calls EC2, skipped here;
                              the configs declare every node type's resources, so it has nothing to fill);
  3. validate_config(config)  jsonschema against ray/autoscaler/ray-schema.json, plus the
                              head_node_type / min_workers checks;
  4. provider_cls.bootstrap_config(config)   (IAM, subnets, keys: calls the cloud, skipped here).
These tests run 1 and 3, the steps that need no cloud, on the exact files users pass to `ray up`.
"""

from __future__ import annotations

import copy
import functools
import socket
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"
CONFIGS = ["aws.yaml", "gcp.yaml"]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation must not reach AWS or GCP: any connection attempt fails the test."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access during config validation: {args!r}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@functools.lru_cache(maxsize=None)
def _parse(name: str) -> dict[str, Any]:
    return yaml.load((CLUSTER / name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load(name: str) -> dict[str, Any]:
    """A fresh copy of the config, parsed as `ray up` parses it (yaml.safe_load); tests mutate it."""
    return copy.deepcopy(_parse(name))


def ray_up_checks(config: dict[str, Any]) -> dict[str, Any]:
    """What `ray up` checks before it talks to the cloud; raises on an invalid config."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


@pytest.mark.parametrize("name", CONFIGS)
def test_config_passes_ray_up_validation(name: str) -> None:
    prepared = ray_up_checks(load(name))
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    assert head["max_workers"] == 0 and head["resources"].get("GPU", 0) == 0
    workers = {n: t for n, t in types.items() if n != prepared["head_node_type"]}
    # Autoscaling GPU worker types that start at zero nodes: one with 1 GPU, one with 8.
    assert sorted(t["resources"]["GPU"] for t in workers.values()) == [1, 8]
    assert all(t["min_workers"] == 0 and t["max_workers"] > 0 for t in workers.values())
    assert sum(t["max_workers"] for t in workers.values()) >= prepared["max_workers"] > 0


@pytest.mark.parametrize("name", CONFIGS)
def test_setup_installs_cuda_torch_then_raylaws(name: str) -> None:
    prepared = ray_up_checks(load(name))
    for commands in (prepared["head_setup_commands"], prepared["worker_setup_commands"]):
        torch_at = next(i for i, c in enumerate(commands) if 'install "torch' in c)
        raylaws_at = next(i for i, c in enumerate(commands) if "raylaws[deepspeed]" in c and "pip install" in c
                          and not c.lstrip().startswith("#"))
        assert torch_at < raylaws_at
        assert any("torch.version.cuda" in c for c in commands[torch_at:raylaws_at])
    # The defaults.yaml setup commands (a nightly Ray wheel) must not leak in.
    assert not any("ray-wheels" in c for c in prepared["head_setup_commands"])
    # Ray on the nodes is pinned to the version of the CLI these configs are tested with.
    import ray
    assert any(f"ray[default,tune]=={ray.__version__}" in c for c in prepared["head_setup_commands"]), \
        "pin the nodes' Ray to the local CLI's version"


@pytest.mark.parametrize("name", CONFIGS)
def test_docker_variant_passes_too(name: str) -> None:
    """The commented-out docker section is optional; turned on, it is still a valid config."""
    config = load(name)
    config["docker"] = {"image": "rayproject/ray:2.60.0-py311-gpu", "container_name": "raylaws",
                        "pull_before_run": True, "run_options": ["--ulimit nofile=65536:65536"]}
    ray_up_checks(config)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("breakage, error", [
    # a misspelt top-level key: the schema allows no unknown fields
    (lambda c: c.update(max_worker=c.pop("max_workers")), jsonschema.ValidationError),
    # every node type must declare its resources (and node_config)
    (lambda c: c["available_node_types"]["gpu_1x"].pop("resources"), jsonschema.ValidationError),
    (lambda c: c["available_node_types"]["gpu_8x"].pop("node_config"), jsonschema.ValidationError),
    # resource counts are integers
    (lambda c: c["available_node_types"]["gpu_1x"]["resources"].update(GPU="1"), jsonschema.ValidationError),
    # commands are a list of strings
    (lambda c: c.update(head_start_ray_commands="ray start --head"), jsonschema.ValidationError),
    # the head type must be one of the node types
    (lambda c: c.update(head_node_type="nope"), ValueError),
    # min_workers of all types may not exceed the global max_workers
    (lambda c: c["available_node_types"]["gpu_8x"].update(min_workers=c["max_workers"] + 1), ValueError),
], ids=["unknown-key", "no-resources", "no-node-config", "string-gpu-count", "commands-not-list",
        "bad-head-type", "min-over-max"])
def test_broken_config_is_rejected(name: str, breakage: Any, error: type[Exception]) -> None:
    config = load(name)
    breakage(config)
    with pytest.raises(error):
        ray_up_checks(config)

