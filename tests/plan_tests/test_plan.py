"""``raylaws plan``: trial times timed here or read from records, node types from the shipped
cluster configs, and every bad input a one-line error before anything is timed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import raylaws
from raylaws.cli import app
from raylaws.plan import LIST_PRICES, cluster_from_config, plan, this_machine
from raylaws.plan._timing import recorded_trial
from raylaws.spec import SpecError
from tests.conftest import tiny_spec_dict
from tests.sweep_tests._fake import fake_runner, write_spec

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def test_a_ray_up_config_gives_its_head_and_workers_within_its_max_workers_at_list_prices() -> None:
    aws = cluster_from_config(CLUSTER / "aws.yaml")
    counts = {t.name: (t.count, t.cpus, t.gpus, t.instance) for t in aws.node_types}
    # max_workers 8 overall: the first worker type takes all 8, p4d none
    assert counts == {"head": (1, 8, 0, "m5.2xlarge"), "gpu_1x": (8, 8, 1, "g5.2xlarge"),
                      "gpu_8x": (0, 96, 8, "p4d.24xlarge")}
    assert aws.gpus == 8
    assert aws.usd_per_hour == pytest.approx(LIST_PRICES["m5.2xlarge"] + 8 * LIST_PRICES["g5.2xlarge"])
    chosen = cluster_from_config(CLUSTER / "aws.yaml", nodes={"gpu_1x": 2, "gpu_8x": 1}, prices={"g5.2xlarge": 0.5})
    assert chosen.gpus == 10 and chosen.usd_per_hour == pytest.approx(0.384 + 2 * 0.5 + LIST_PRICES["p4d.24xlarge"])
    gcp = cluster_from_config(CLUSTER / "gcp.yaml")
    assert {t.instance for t in gcp.node_types} == {"n2-standard-8", "g2-standard-8", "a2-highgpu-8g"}
    assert gcp.usd_per_hour is not None


def test_a_kuberay_cluster_gives_its_pods_resources_and_no_price_unless_given() -> None:
    kube = cluster_from_config(CLUSTER / "kuberay" / "raycluster.yaml")
    assert [(t.name, t.count, t.cpus, t.gpus) for t in kube.node_types] == [
        ("head", 1, 8.0, 0.0), ("gpu-1x", 8, 8.0, 1.0), ("gpu-8x", 1, 64.0, 8.0)]
    assert kube.usd_per_hour is None
    priced = cluster_from_config(CLUSTER / "kuberay" / "raycluster.yaml",
                                 prices={"head": 0.4, "gpu-1x": 1.0, "gpu-8x": 20.0})
    assert priced.usd_per_hour == pytest.approx(0.4 + 8 + 20)


def test_a_file_that_is_no_cluster_config_or_a_node_type_it_lacks_is_named(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    with pytest.raises(SpecError, match="not a cluster config"):
        cluster_from_config(spec)
    with pytest.raises(SpecError, match="gpu_2x: no such node type"):
        cluster_from_config(CLUSTER / "aws.yaml", nodes={"gpu_2x": 1})


def test_the_demo_is_timed_here_and_larger_sizes_take_longer() -> None:
    spec = raylaws.spec.load_spec(Path(raylaws.__file__).parent.parent / "search_spaces" / "demo.yaml")
    timed: list[str] = []
    estimate = plan(spec, cluster=this_machine(), steps=1, on_size=lambda size: timed.append(size.name))
    assert timed == [s.size.name for s in estimate.sizes] == ["L1-H12", "L2-H24", "L3-H36", "L4-H48"]
    seconds = [s.trial.fastest for s in estimate.sizes]
    assert seconds[-1] > seconds[0] > 0 and all(s.trial.source == "timed" for s in estimate.sizes)
    assert all(s.trial.slowest > s.trial.fastest for s in estimate.sizes)  # batch 32 against 16, same steps
    # L1: 8 TPE trials, the others 4 line-search trials; each + up to 4 when its box widens, + 2-3 seeds
    assert [s.trials for s in estimate.sizes] == [(10, 15), (6, 11), (6, 11), (6, 11)]
    busy = [sum(s.trials[0] * s.trial.fastest for s in estimate.sizes),
            sum(s.trials[1] * s.trial.slowest for s in estimate.sizes)]
    for k in (0, 1):  # at best every CPU busy; at worst one trial at a time
        assert busy[k] / this_machine().cpus <= estimate.wall_seconds[k] <= busy[k] + 1e-6
    assert estimate.cpu_hours[0] == pytest.approx(busy[0] / 3600) and estimate.gpu_hours == (0.0, 0.0)


def test_a_sweeps_records_give_each_size_its_mean_trial_seconds() -> None:
    rows = [{"size": "L1", "task": None, "phase": "search", "steps": 40, "wall_seconds": 3.0},
            {"size": "L1", "task": None, "phase": "seed", "steps": 10, "wall_seconds": 1.0},  # stopped early
            {"size": "L1", "task": "t", "phase": "finetune_search", "steps": 40, "wall_seconds": 50.0},
            {"size": "L1", "task": None, "phase": "search", "steps": 0, "wall_seconds": 0.0},  # failed at once
            {"size": "L2", "task": None, "phase": "search", "steps": 40, "wall_seconds": 9.0}]
    trial = recorded_trial("L1", rows)
    assert trial is not None and trial.fastest == trial.slowest == 2.0 and trial.device == "as recorded (2 trials)"
    assert recorded_trial("L3", rows) is None


def test_plan_prints_each_size_and_the_sweeps_wall_time_and_cost_on_a_cluster(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    result = CliRunner().invoke(app, ["plan", str(spec), "--steps", "1", "--cluster", str(CLUSTER / "aws.yaml"),
                                      "--nodes", "gpu_1x=1", "--price", "m5.2xlarge=1.5", "--price", "g5.2xlarge=2"])
    assert result.exit_code == 0, result.output
    assert "timing L1-H8" in result.output and "L2-H16" in result.output
    assert "1 x head (m5.2xlarge) [8 CPU], 1 x gpu_1x (g5.2xlarge) [8 CPU, 1 GPU]" in result.output
    assert "trials:     10" in result.output  # 2 sizes x (3 search + 2 seeds)
    assert "($3.50/h for every node over the wall time" in result.output


def test_plan_of_a_sweep_directory_takes_the_recorded_times(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch)  # records of 1.0 s each
    sweep = raylaws.run(write_spec(tmp_path), storage=tmp_path / "results")
    result = CliRunner().invoke(app, ["plan", str(sweep.path), "--cluster", str(cpu_cluster(tmp_path, cpus=4))])
    assert result.exit_code == 0, result.output
    assert "timing" not in result.output and result.output.count("as recorded (5 trials)") == 2
    # 4 CPUs, the largest size first: L2's 3 search trials and one of L1's, then L2's 2 seeds and L1's
    # other 2 search trials, then L1's seeds
    assert "wall time:  3.0s" in result.output


@pytest.mark.parametrize("arguments, message", [
    (["--nodes", "gpu_1x=-1"], "error: command line: --nodes: gpu_1x=-1: give a whole number of nodes"),
    (["--price", "g5.2xlarge=free"], "error: command line: --price: g5.2xlarge='free': give USD per hour"),
    (["--nodes", "gpu_9x=1"], "error: plan: --nodes: gpu_9x: no such node type"),
])
def test_bad_nodes_or_prices_are_one_line_before_anything_is_timed(tmp_path: Path, arguments: list[str],
                                                                   message: str) -> None:
    result = CliRunner().invoke(app, ["plan", str(write_spec(tmp_path)), "--cluster", str(CLUSTER / "aws.yaml"),
                                      *arguments])
    assert result.exit_code == 2 and result.output.startswith(message) and result.output.count("\n") == 1, result.output


def test_a_gpu_size_on_a_cluster_without_gpus_is_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "gpu.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(resources={"cpus_per_trial": 1, "gpus_per_trial": 0.5})))
    result = CliRunner().invoke(app, ["plan", str(spec), "--cluster", str(cpu_cluster(tmp_path, cpus=4))])
    assert result.exit_code == 2 and "timing" not in result.output, result.output
    assert result.output.splitlines() == [  # one line per size
        f"error: plan: resources: a trial of {size} asks for 1 CPU, 0.5 GPU, torch per worker; no node of cpu.yaml "
        "has that (1 x head (m5.2xlarge) [4 CPU])" for size in ("L1-H8", "L2-H16")]


def cpu_cluster(folder: Path, *, cpus: int) -> Path:
    """A `ray up` config of one CPU-only head node."""
    path = folder / "cpu.yaml"
    path.write_text("cluster_name: c\nmax_workers: 0\nhead_node_type: head\navailable_node_types:\n"
                    f"  head: {{resources: {{CPU: {cpus}}}, max_workers: 0,\n"
                    "         node_config: {InstanceType: m5.2xlarge}}\n")
    return path


def test_a_node_type_with_no_nodes_prices_none_of_them_whatever_its_place() -> None:
    only_8x = cluster_from_config(CLUSTER / "aws.yaml", nodes={"gpu_1x": 0, "gpu_8x": 2})
    assert only_8x.gpus == 16
    assert only_8x.usd_per_hour == pytest.approx(LIST_PRICES["m5.2xlarge"] + 2 * LIST_PRICES["p4d.24xlarge"])


def test_a_ray_up_type_without_max_workers_takes_the_configs_and_one_without_resources_is_named(
        tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("max_workers: 3\nhead_node_type: head\navailable_node_types:\n"
                      "  head: {resources: {CPU: 2}, max_workers: 0, node_config: {InstanceType: m5.2xlarge}}\n"
                      "  gpu: {resources: {CPU: 8, GPU: 1}, node_config: {InstanceType: g5.2xlarge}}\n")
    assert [(t.name, t.count) for t in cluster_from_config(config).node_types] == [("head", 1), ("gpu", 3)]
    config.write_text(config.read_text().replace("resources: {CPU: 8, GPU: 1}, ", ""))
    with pytest.raises(SpecError, match="node type gpu gives no resources: add resources"):
        cluster_from_config(config)


def test_each_design_is_planned_with_its_own_settings() -> None:
    from raylaws.ladder import build_ladder
    from raylaws.plan import _works
    from raylaws.spec import design_spec, spec_from_dict

    spec = spec_from_dict(tiny_spec_dict(search={"parallel": 2}, designs=[
        {"name": "base"}, {"name": "aware", "set": {"search.strategy": "size_aware", "search.parallel": 3}}]))
    sizes = build_ladder(spec)
    works = {size.name: work for size, work in zip(sizes, _works([design_spec(spec, s.design) for s in sizes], sizes))}
    assert works["base.L2-H16"].parallel == 2 and works["base.L2-H16"].after is None
    # size-aware: the larger size waits for the smaller, steps past its bracket alone, searches before any seeds
    aware = works["aware.L2-H16"]
    assert aware.parallel == 3 and aware.alone_from == 3 and sizes[aware.after].name == "aware.L1-H8"
    assert works["aware.L1-H8"].priority[0] < aware.priority[0] < min(w.priority[1] for w in works.values()
                                                                      if w.after is not None)
    # independent: the largest size first
    assert works["base.L2-H16"].priority < works["base.L1-H8"].priority


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the CPU fallback of a GPU size")
def test_gpu_sizes_timed_on_a_machine_without_one_say_so_in_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "gpu.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(resources={"cpus_per_trial": 1, "gpus_per_trial": 0.5})))
    result = CliRunner().invoke(app, ["plan", str(spec), "--steps", "1", "--cluster", str(CLUSTER / "aws.yaml")])
    assert result.exit_code == 0, result.output
    assert ("note: L1-H8, L2-H16 ask for a GPU: timed on this machine's CPU (no GPU here); time them on a GPU node, "
            "or plan from a sweep") in result.output
    estimate = plan(raylaws.spec.load_spec(spec), cluster=cluster_from_config(CLUSTER / "aws.yaml"), steps=1)
    hours = estimate.sizes[0].hours(estimate.sizes[0].gpus_per_trial)  # half a GPU per trial
    assert estimate.gpu_hours[0] > 0 and hours[0] == pytest.approx(0.5 * estimate.sizes[0].hours(1.0)[0])
