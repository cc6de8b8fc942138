"""SIGKILL the real `raylaws run` process group while finetuning trials run, then `raylaws
resume`: no record lost or repeated, no finished trial trained again, every (size, task)
budget exactly met, no Optuna trial left RUNNING, and no half-written kept model."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml

from raylaws.layout import SweepLayout
from tests.faults_tests._sweeps import events, events_of_new_runs, kill_group, records, start_cli, wait_for

pytestmark = pytest.mark.slow

TASKS = ("stdlib-docstring", "pairs")


def _finetuning_mid_flight(sweep_dir: Path) -> bool:
    log = events(sweep_dir)
    finished = {e["trial_id"] for e in log if e["event"] == "finished"}
    running = {e["trial_id"] for e in log if e["event"] == "started"} - finished
    tasks = [t for t in finished if any(f".{task}." in t for task in TASKS)]
    return bool(tasks) and any(any(f".{task}." in t for task in TASKS) for t in running)


def test_a_sweep_killed_mid_finetuning_resumes_with_nothing_lost_or_trained_twice(tmp_path: Path) -> None:
    from tests.finetune_tests.test_finetune_sweep import finetune_spec_dict
    from tests.finetune_tests.test_tasks import ROWS, write_rows

    spec = finetune_spec_dict(write_rows(tmp_path / "pairs.tsv", ROWS))
    spec["finetune"]["epochs"] = [2, 3]  # long enough to be killed while running
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    sweep_dir = tmp_path / "results" / "tiny"
    driver = start_cli("run", str(tmp_path / "spec.yaml"), "--storage", str(tmp_path / "results"))
    wait_for(lambda: _finetuning_mid_flight(sweep_dir), driver, timeout=600)
    kill_group(driver)
    before = records(sweep_dir)
    runs_before = {e["run"] for e in events(sweep_dir)}

    resumed = start_cli("resume", str(sweep_dir))
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    after = records(sweep_dir)
    for trial_id, record in before.items():
        assert after[trial_id] == record, f"{trial_id} changed"
    new_events = events_of_new_runs(sweep_dir, runs_before)
    retrained = {e["trial_id"] for e in new_events if e["event"] == "started"} & set(before)
    assert retrained == set()
    assert any(e["event"] == "reattached" and any(f".{t}." in e["trial_id"] for t in TASKS) for e in new_events) \
        or any(e["event"] == "started" and ".seed" in e["trial_id"] and any(f".{t}." in e["trial_id"] for t in TASKS)
               for e in new_events), "the finetuning trials that were running ran again"
    for size in ("L1-H8", "L2-H16"):
        for task in TASKS:
            mine = [r for r in after.values() if r["size"] == size and r["task"] == task]
            assert sorted(r["trial_id"] for r in mine) == [f"{size}.{task}.s000", f"{size}.{task}.s001",
                                                           f"{size}.{task}.seed1"]
    layout = SweepLayout.at(sweep_dir)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(layout.journal)))
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        assert len(study.trials) == 2 and all(t.state.is_finished() for t in study.trials), summary.study_name
    assert sorted(p.name for p in layout.models.iterdir()) == sorted(
        r["trial_id"] for r in after.values() if r["phase"] == "seed"), "only whole kept models, no staged leftovers"
