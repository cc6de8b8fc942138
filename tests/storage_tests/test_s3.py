"""Sweeps in object storage, against a real S3-compatible server on loopback (moto's
standalone server): a sweep with ``--storage s3://...`` completes and reads back; a driver
SIGKILLed mid-sweep, with every local file it left deleted, resumes from the store alone."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from tests.conftest import tiny_spec_dict
from tests.faults_tests import _sweeps
from tests.storage_tests.conftest import sweep_uri

pytestmark = pytest.mark.slow

SPEC = {"ladder": {"aspect_ratio": 8, "layers": [1, 2], "n_heads": 2}, "search": {"trials_per_size": 2},
        "seeds": 1, "training": {"max_steps": 20, "warmup_steps": 5, "eval_interval": 10, "schedule": "cosine"}}


def test_a_sweep_with_s3_storage_completes_and_reads_back(s3: str, cache: Path, tmp_path: Path) -> None:
    import pyarrow.dataset as ds
    from pyarrow.fs import FileSystem

    import raylaws

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(**SPEC, name="complete")))
    driver = _sweeps.start_cli("run", str(spec), "--storage", s3)
    _, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err[-3000:]

    uri = sweep_uri(s3, "complete")
    sweep = raylaws.open(uri)
    rows = sweep.trials().to_pylist()
    assert len(rows) == 2 * (2 + 1) and len({r["trial_id"] for r in rows}) == len(rows)
    assert [r["done"] for r in sweep.status().to_pylist()] == [3, 3]
    assert raylaws.check(uri) == []
    # pandas through pyarrow, straight from the bucket
    filesystem, path = FileSystem.from_uri(uri)
    frame = ds.dataset(f"{path}/trials", format="parquet", filesystem=filesystem).to_table().to_pandas()
    assert sorted(frame["trial_id"]) == sorted(r["trial_id"] for r in rows)
    assert not filesystem.get_file_info(f"{path}/.lease").is_file, "the lease is released at the end"
    from pyarrow.fs import FileType

    assert filesystem.get_file_info(f"{path}/tune").type == FileType.Directory, "Tune's experiment is in the store"
    seeds = [r for r in rows if r["phase"] == "seed"]
    assert seeds and all(r["model_path"] == f"models/{r['trial_id']}" for r in seeds)
    for row in seeds:  # each kept model was uploaded whole, before its record
        for name in ("config.json", "model.safetensors", "tokenizer.json"):
            assert filesystem.get_file_info(f"{path}/{row['model_path']}/{name}").is_file, (row["trial_id"], name)


def test_a_killed_driver_resumes_from_the_store_alone(s3: str, cache: Path, tmp_path: Path) -> None:
    import raylaws
    from raylaws.layout import SweepLayout
    from raylaws.remote import download, mirror_layout

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec_dict(**{**SPEC, "training": {**SPEC["training"], "max_steps": 40}},
                                                  name="killed")))
    uri = sweep_uri(s3, "killed")
    mirror = mirror_layout(SweepLayout.at(uri)).root

    def finished_and_running(_: Any) -> bool:
        log = _sweeps.events(mirror)
        finished = {e["trial_id"] for e in log if e["event"] == "finished"}
        return len(finished) >= 1 and bool({e["trial_id"] for e in log if e["event"] == "started"} - finished)

    driver = _sweeps.start_cli("run", str(spec), "--storage", s3)
    _sweeps.wait_for(lambda: finished_and_running(None), driver)
    _sweeps.kill_group(driver)
    ray_processes = _sweeps.recorded_ray_pids(mirror)
    for pid in _sweeps.alive(ray_processes):  # the mirror that names them is about to go
        psutil.Process(pid).kill()
    before = {r["trial_id"]: r for r in raylaws.open(uri).trials().to_pylist()}
    runs_before = {e["run"] for e in _read_events(uri, tmp_path / "events-before")}
    shutil.rmtree(cache)  # every local file the sweep left: its mirror, Tune's folder, the Ray process list
    assert before, "some trials were in the store at the kill"

    started = time.monotonic()
    resumed = _sweeps.start_cli("resume", uri)
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    assert time.monotonic() - started < 300

    snapshot = tmp_path / "snapshot" / "killed"
    download(SweepLayout.at(uri), SweepLayout(snapshot))
    after = _sweeps.assert_sweep_complete(snapshot, sizes=2, trials_per_size=2, seeds=1)  # exact budgets, 0 dups
    for trial_id, record in before.items():  # 0 lost, unchanged
        assert after[trial_id] == record
    new_events = _sweeps.events_of_new_runs(snapshot, runs_before)
    retrained = {e["trial_id"] for e in new_events if e["event"] == "started"} & set(before)
    assert retrained == set(), "a finished trial was trained again"
    assert any(e["event"] == "reattached" for e in new_events), "the trials running at the kill ran again"


def _read_events(uri: str, folder: Path) -> list[dict[str, Any]]:
    from raylaws.layout import SweepLayout
    from raylaws.remote import download

    download(SweepLayout.at(uri), SweepLayout(folder))
    return _sweeps.events(folder)
