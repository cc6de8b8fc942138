"""The stored spec is checked, not trusted: its hash is kept with the sweep and every record,
it is written only once every check has passed, an edited one is refused naming the change,
records without one are refused, and a moved or renamed sweep resumes (its name is its folder's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import raylaws
from raylaws.layout import SweepLayout
from raylaws.spec import SpecError, load_spec, spec_hash
from tests.sweep_tests._fake import fake_runner, write_spec


def test_the_spec_hash_is_stored_with_the_sweep_and_every_record(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch)
    sweep = raylaws.run(write_spec(tmp_path), storage=tmp_path / "results")
    expected = spec_hash(sweep.spec)
    assert json.loads(sweep.layout.meta.read_text())["spec_hash"] == expected
    assert set(sweep.trials().column("spec_hash").to_pylist()) == {expected}
    assert raylaws.check(sweep.path) == []


def test_an_edited_spec_yaml_is_refused_naming_the_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, stop_after=2)
    with pytest.raises(raylaws.SweepInterrupted):
        raylaws.run(write_spec(tmp_path), storage=tmp_path / "results")
    layout = SweepLayout.at(tmp_path / "results" / "tiny")
    edited = yaml.safe_load(layout.spec.read_text())
    edited["training"]["max_steps"] = 80
    layout.spec.write_text(yaml.safe_dump(edited))
    fake_runner(monkeypatch)
    with pytest.raises(raylaws.SweepError, match=r"edited after the sweep started \(training.max_steps: 40 -> 80\)"):
        raylaws.resume(layout.root)
    assert any(f.kind == "spec" and "max_steps" in f.message for f in raylaws.check(layout.root))


def test_records_without_a_spec_yaml_are_refused_not_re_specced(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, stop_after=2)
    with pytest.raises(raylaws.SweepInterrupted):
        raylaws.run(write_spec(tmp_path), storage=tmp_path / "results")
    layout = SweepLayout.at(tmp_path / "results" / "tiny")
    layout.spec.unlink()
    other = write_spec(tmp_path, training={"max_steps": 80})
    with pytest.raises(raylaws.SweepError, match="holds trials but no spec.yaml"):
        raylaws.run(other, storage=tmp_path / "results")
    assert not layout.spec.exists()


def test_a_spec_that_fails_a_check_is_not_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch)
    spec = write_spec(tmp_path)
    with pytest.raises(raylaws.SweepError, match="cannot reach"):
        raylaws.run(spec, storage=tmp_path / "results", address="127.0.0.1:9")
    missing = write_spec(tmp_path, data={"source": str(tmp_path / "nothing.txt")})
    with pytest.raises(SpecError):
        raylaws.run(missing, storage=tmp_path / "results")
    assert not SweepLayout.at(tmp_path / "results" / "tiny").spec.exists()
    # the corrected spec is then accepted, not refused as "differs"
    raylaws.run(write_spec(tmp_path, training={"max_steps": 30}), storage=tmp_path / "results")


def test_a_different_spec_on_a_sweep_with_trials_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, stop_after=1)
    with pytest.raises(raylaws.SweepInterrupted):
        raylaws.run(write_spec(tmp_path), storage=tmp_path / "results")
    with pytest.raises(SpecError, match="training.max_steps"):
        raylaws.run(write_spec(tmp_path, training={"max_steps": 80}), storage=tmp_path / "results")


def test_a_moved_and_renamed_sweep_resumes_under_its_folder_name(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake_runner(monkeypatch, stop_after=3)
    with pytest.raises(raylaws.SweepInterrupted):
        raylaws.run(write_spec(tmp_path), storage=tmp_path / "results")
    moved = tmp_path / "X" / "base"
    moved.parent.mkdir()
    shutil.copytree(tmp_path / "results" / "tiny", moved, symlinks=True)
    fake_runner(monkeypatch)
    sweep = raylaws.resume(moved)
    assert sweep.name == "base" and sweep.spec.name == "base"
    assert load_spec(sweep.layout.spec).name == "tiny"  # the stored spec is never rewritten
    ids = sorted(sweep.trials().column("trial_id").to_pylist())
    assert len(ids) == len(set(ids)) == 2 * (3 + 2)  # budgets exact, no trial restarted from s000
    assert raylaws.check(moved) == []


def test_a_sweep_stopped_by_the_cluster_check_before_any_trial_takes_a_corrected_spec(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import raylaws.tune

    def no_node(planner, *args, **kwargs):  # as wait_for_nodes refuses, after the planner exists
        raise raylaws.SweepError("size L2-H16 asks for 64 CPU per trial worker, but no node ...")

    monkeypatch.setattr(raylaws.tune, "run_trials", no_node)
    monkeypatch.setattr(raylaws.tune, "kill_stale_ray_processes", lambda layout: [])
    with pytest.raises(raylaws.SweepError, match="no node"):
        raylaws.run(write_spec(tmp_path, resources={"cpus_per_trial": 64}), storage=tmp_path / "results")
    fake_runner(monkeypatch)
    sweep = raylaws.run(write_spec(tmp_path), storage=tmp_path / "results")
    assert sweep.spec.resources.cpus_per_trial == 1 and raylaws.check(sweep.path) == []
