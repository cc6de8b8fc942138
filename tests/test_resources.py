"""Per-size resources: resolved from the spec, shown by `raylaws ladder`, checked against the
cluster before any trial is queued."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from raylaws.ladder import build_ladder
from raylaws.layout import SweepLayout
from raylaws.spec import SpecError, spec_from_dict
from tests.conftest import REPO, tiny_spec_dict


def raylaws_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "raylaws.cli", *args], capture_output=True, text=True, cwd=REPO)


def test_by_size_entries_override_the_defaults_last_match_wins() -> None:
    spec = spec_from_dict(tiny_spec_dict(ladder={"aspect_ratio": 8, "layers": [1, 2, 3], "n_heads": 2}, resources={
        "cpus_per_trial": 1, "gpus_per_trial": 0.125,
        "by_size": [{"min_params": 6_000, "gpus_per_trial": 1, "cpus_per_trial": 2},
                    {"sizes": ["L3-H24"], "workers": 2, "backend": "deepspeed", "deepspeed": {"zero_stage": 2}}]}))
    resources = {s.name: s.resources for s in build_ladder(spec)}
    assert (resources["L1-H8"].gpus, resources["L1-H8"].cpus, resources["L1-H8"].backend) == (0.125, 1, "torch")
    assert (resources["L2-H16"].gpus, resources["L2-H16"].cpus) == (1, 2)
    big = resources["L3-H24"]
    assert (big.gpus, big.cpus, big.workers, big.backend, big.zero_stage) == (1, 2, 2, "deepspeed", 2)
    assert big.describe() == "2 x (2 CPU, 1 GPU), deepspeed ZeRO-2"


@pytest.mark.parametrize("entry, field", [
    ({"sizes": ["L9-H72"], "gpus_per_trial": 1}, "no size named L9-H72"),
    ({"gpus_per_trial": 1}, "select sizes"),
    ({"min_params": 10, "max_params": 5, "workers": 2}, "above max_params"),
    ({"sizes": ["L1-H8"], "gpus_per_trial": 1.5}, "not whole"),
])
def test_bad_by_size_entries_are_refused_at_load(entry: dict, field: str) -> None:
    with pytest.raises(SpecError, match=field):
        spec_from_dict(tiny_spec_dict(resources={"by_size": [entry]}))


def test_ladder_shows_each_sizes_resources_and_backend_for_the_paper_spec() -> None:
    result = raylaws_cli("ladder", "search_spaces/paper_mlm_ar32.yaml")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[1]: line for line in result.stdout.splitlines() if line.strip().startswith("│ L")}
    assert "0.125 GPU" in lines["L1-H32"] and "torch" in lines["L1-H32"]
    assert "0.25 GPU" in lines["L5-H160"] and "2 CPU" in lines["L5-H160"]
    assert "0.5 GPU" in lines["L8-H256"] and "bf16" in lines["L8-H256"]


def test_ladder_does_not_import_torch() -> None:
    code = ("import sys; from raylaws.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['ladder', 'search_spaces/demo.yaml']); "
            "assert r.exit_code == 0, r.output; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.stdout.strip() == "False", result.stderr


def test_a_gpu_spec_on_a_gpu_less_local_ray_is_refused_in_one_line_before_any_trial(tmp_path: Path) -> None:
    spec = tmp_path / "gpu.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(resources={"cpus_per_trial": 1, "gpus_per_trial": 1})))
    result = raylaws_cli("run", str(spec), "--storage", str(tmp_path / "results"), "--quiet")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert "asks for 1 CPU and 1 GPU per trial worker" in errors[0] and "no node" in errors[0]
    layout = SweepLayout.of(tmp_path / "results", "tiny")
    assert not list(layout.trials.glob("*.parquet")) if layout.trials.exists() else True
    assert not layout.tune.exists()  # Tune never started
