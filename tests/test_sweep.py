"""A tiny end-to-end sweep on a real local Ray: what lands in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest

import raylaws
from raylaws import store, views
from raylaws.layout import SweepLayout
from raylaws.spec import spec_from_dict
from tests.conftest import tiny_spec_dict

ITEM7_COLUMNS = {
    "sweep", "trial_id", "size", "n_layers", "d_model", "n_params", "n_params_exact", "phase", "seed",
    "learning_rate", "batch_size", "status", "eval_loss", "steps", "tokens", "flops", "wall_seconds",
    "started_at", "finished_at", "config_json", "schema_version",
}


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory, ray_session: Any) -> raylaws.Sweep:
    storage = tmp_path_factory.mktemp("sweeps")
    return raylaws.run(spec_from_dict(tiny_spec_dict()), storage=storage)


def test_sweep_lives_in_storage_slash_name(finished_sweep: raylaws.Sweep) -> None:
    assert finished_sweep.path.name == "tiny"
    assert finished_sweep.layout.spec.is_file() and finished_sweep.layout.journal.is_file()
    assert finished_sweep.spec == spec_from_dict(tiny_spec_dict())


def test_store_has_trials_plus_seeds_records_per_size(finished_sweep: raylaws.Sweep) -> None:
    table = raylaws.open(finished_sweep.path).trials()
    assert ITEM7_COLUMNS <= set(table.column_names)
    rows = table.to_pylist()
    ids = [r["trial_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 2 * (3 + 2)
    for size in ("L1-H8", "L2-H16"):
        mine = [r for r in rows if r["size"] == size]
        assert sum(r["phase"] == "search" for r in mine) == 3
        assert sorted(r["seed"] for r in mine if r["phase"] == "seed") == [1, 2]
    for row in rows:
        assert row["status"] in store.STATUSES and row["schema_version"] == store.SCHEMA_VERSION
        assert row["n_params"] == 12 * row["n_layers"] * row["d_model"] ** 2
        assert row["tokens"] == row["steps"] * row["batch_size"] * 32
        assert row["flops"] == pytest.approx(6 * row["n_params"] * row["tokens"])
        assert row["finished_at"] >= row["started_at"]
        config = json.loads(row["config_json"])
        assert config["trial"]["trial_id"] == row["trial_id"] and config["size"]["name"] == row["size"]
        if row["status"] == "completed":
            assert row["eval_loss"] is not None and row["eval_loss"] == min(row["eval_losses"])


def test_seed_phase_reruns_the_best_search_config(finished_sweep: raylaws.Sweep) -> None:
    rows = finished_sweep.trials().to_pylist()
    for size in ("L1-H8", "L2-H16"):
        search = [r for r in rows if r["size"] == size and r["phase"] == "search" and r["status"] == "completed"]
        best = min(search, key=lambda r: (r["eval_loss"], r["trial_id"]))
        seeds = [r for r in rows if r["size"] == size and r["phase"] == "seed"]
        assert {(r["learning_rate"], r["batch_size"]) for r in seeds} == {(best["learning_rate"], best["batch_size"])}


def test_best_per_size_summarises_the_seeds(finished_sweep: raylaws.Sweep) -> None:
    best = finished_sweep.best_per_size().to_pylist()
    assert [b["size"] for b in best] == ["L1-H8", "L2-H16"]
    rows = finished_sweep.trials().to_pylist()
    for entry in best:
        seeds = [r["eval_loss"] for r in rows if r["size"] == entry["size"] and r["phase"] == "seed"]
        assert entry["n_seeds"] == 2
        assert entry["loss_mean"] == pytest.approx(sum(seeds) / 2)
        assert entry["loss_std"] == pytest.approx(abs(seeds[0] - seeds[1]) / 2 ** 0.5)
    assert finished_sweep.best_per_size().to_pandas().shape[0] == 2


def test_no_optuna_trial_is_left_running(finished_sweep: raylaws.Sweep) -> None:
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(finished_sweep.layout.journal)))
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        assert len(study.trials) == 3
        assert all(t.state.is_finished() for t in study.trials)


def test_open_refuses_a_non_sweep_directory(tmp_path: Path) -> None:
    with pytest.raises(raylaws.SweepError, match="not a sweep directory"):
        raylaws.open(tmp_path)


def test_rerunning_a_different_spec_on_the_same_sweep_is_refused(finished_sweep: raylaws.Sweep) -> None:
    changed = spec_from_dict(tiny_spec_dict(seeds=3))
    with pytest.raises(raylaws.SpecError) as caught:
        raylaws.run(changed, storage=finished_sweep.path.parent)
    assert [p.field for p in caught.value.problems] == ["seeds"]


def test_diverged_trials_are_recorded_and_never_best(tmp_path: Path, ray_session: Any) -> None:
    spec = spec_from_dict(tiny_spec_dict(
        name="unstable",
        ladder={"aspect_ratio": 8, "layers": [1], "n_heads": 2},
        search={"learning_rate": {"low": 50.0, "high": 100.0}, "batch_size": [8], "trials_per_size": 2,
                "pruning": {"enabled": False}},
        seeds=1,
        training={"max_steps": 20, "eval_interval": 10, "warmup_steps": 0, "grad_clip": None},
    ))
    sweep = raylaws.run(spec, storage=tmp_path)
    rows = sweep.trials().to_pylist()
    assert len(rows) == 2  # both search trials diverged: no config to re-run over seeds
    assert {r["status"] for r in rows} == {"diverged"}
    (best,) = sweep.best_per_size().to_pylist()
    assert best["loss_mean"] is None and best["best_trial_id"] is None and best["n_diverged"] == 2


def test_a_seeds_rule_adds_seeds_that_are_stored_and_counted_everywhere(tmp_path: Path, ray_session: Any) -> None:
    # A fraction this small wants another seed for any size whose seeds differ: up to the cap.
    rule = {"min": 2, "max": 3, "until_se_below": 0.001}
    spec = spec_from_dict(tiny_spec_dict(search={"trials_per_size": 2}, seeds=rule))
    sweep = raylaws.run(spec, storage=tmp_path)
    assert sweep.spec.seed_rule == spec.seed_rule  # the stored spec keeps the rule
    rows = sweep.trials().to_pylist()
    for size in ("L1-H8", "L2-H16"):
        seeds = [r for r in rows if r["size"] == size and r["phase"] == "seed"]
        assert sorted(r["trial_id"] for r in seeds) == [f"{size}.seed{k}" for k in (1, 2, 3)]
        assert len({(r["learning_rate"], r["batch_size"]) for r in seeds}) == 1
    assert sweep.budgets() == {"L1-H8": 5, "L2-H16": 5}
    assert [(r["done"], r["budget"], r["seeds_done"]) for r in sweep.status().to_pylist()] == [(5, 5, 3)] * 2
    for entry in sweep.best_per_size().to_pylist():
        losses = [r["eval_loss"] for r in rows if r["size"] == entry["size"] and r["phase"] == "seed"]
        assert entry["n_seeds"] == 3 and entry["loss_mean"] == pytest.approx(sum(losses) / 3)
    fit_rows = views.fit_rows(sweep.trials())
    assert sorted(fit_rows.sizes) == ["L1-H8"] * 3 + ["L2-H16"] * 3  # the law fits every seed
