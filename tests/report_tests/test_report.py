"""The report: one self-contained HTML page of a real (recorded) sweep, checked as written and as
Chromium renders it."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import raylaws
from raylaws.laws import fit_law
from raylaws.report import SECTIONS, analyse, render_report, write_report
from tests.report_tests.sweeps import write_sweep

CHROMIUM = Path("/usr/bin/chromium")
ALWAYS = [s for s in SECTIONS if s != "tasks"]
N_BOOTSTRAP = 100  # enough for a band and the off-law check; the CLI's default is 1000


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> raylaws.Sweep:
    """Four sizes of the demo spec; the largest has 1 of 3 seeds (partial); a pruned trial per size,
    a diverged and a failed one; the smallest size's best lr at the top of the search box; one
    seed of L3 stopped by patience while still improving."""
    return raylaws.open(write_sweep(tmp_path_factory.mktemp("sweeps") / "demo", [1, 2, 3, 4]))


@pytest.fixture(scope="module")
def report(sweep: raylaws.Sweep) -> Path:
    return write_report(sweep, n_bootstrap=N_BOOTSTRAP)


@pytest.fixture(scope="module")
def page(report: Path) -> str:
    return report.read_text(encoding="utf-8")


def _images(page: str) -> list[str]:
    return re.findall(r"<img [^>]*src=\"([^\"]*)\"", page)


def _section_ids(page: str) -> list[str]:
    return re.findall(r"<section id=\"([^\"]+)\">\s*<h2>", page)


def test_report_is_written_into_the_sweep_by_default(sweep: raylaws.Sweep, report: Path) -> None:
    assert report == sweep.path / "report.html" and report.is_file()


def test_every_section_is_there_with_a_heading_in_order(page: str) -> None:
    assert _section_ids(page) == ALWAYS


def test_the_page_is_self_contained(page: str) -> None:
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page
    images = _images(page)
    assert len(images) == 4
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_header_says_the_sweep_is_partial(page: str) -> None:
    assert "42 of 44 trials recorded (partial" in page


def test_loss_section_reports_the_law_and_the_backtest_of_the_two_largest_sizes(page: str) -> None:
    section = page.split('id="loss-vs-n"')[1].split("</section>")[0]
    assert "α = 0.1" in section and "95% CI (hierarchical bootstrap)" in section
    assert "fitted without the 2 largest size(s)" in section and "46,656" in section and "110,592" in section


def test_findings_name_the_lr_edge_the_patience_stop_and_the_off_law_size(sweep: raylaws.Sweep) -> None:
    analysis = analyse(sweep.trials(), sweep.spec, name=sweep.name, n_bootstrap=N_BOOTSTRAP)
    by_kind = {(f.kind, f.size) for f in analysis.findings}
    assert ("lr_edge", "L1-H12") in by_kind
    assert ("still_improving", "L3-H36") in by_kind
    assert ("off_law", "L3-H36") in by_kind
    assert not any(kind == "lr_edge" and size != "L1-H12" for kind, size in by_kind)
    assert any("widen search.learning_rate" in f.message for f in analysis.findings)


def test_compute_table_sums_every_trial_including_failed_ones(sweep: raylaws.Sweep) -> None:
    trials = sweep.trials()
    compute = analyse(trials, sweep.spec, name=sweep.name, n_bootstrap=0).compute
    total = compute[-1]
    assert [r["size"] for r in compute] == ["L1-H12", "L2-H24", "L3-H36", "L4-H48", "total"]
    assert total["trials"] == trials.num_rows == sum(r["trials"] for r in compute[:-1])
    assert total["flops"] == pytest.approx(sum(trials.column("flops").to_pylist()))
    assert total["wall_seconds"] == pytest.approx(sum(trials.column("wall_seconds").to_pylist()))
    assert (compute[1]["diverged"], compute[2]["failed"], compute[3]["budget"]) == (1, 1, 11)


def test_a_one_size_sweep_renders_and_says_there_is_no_fit(tmp_path: Path) -> None:
    sweep = raylaws.open(write_sweep(tmp_path / "one", [2], seeds_of_largest=3))
    page = write_report(sweep, tmp_path / "one.html", n_bootstrap=N_BOOTSTRAP).read_text()
    assert _section_ids(page) == ALWAYS and len(_images(page)) == 4
    assert "No law fitted: only one size has a completed trial yet" in page


def test_a_sweep_with_no_trials_yet_renders_every_section(sweep: raylaws.Sweep, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copyfile(sweep.layout.spec, empty / "spec.yaml")
    page = write_report(raylaws.open(empty), n_bootstrap=N_BOOTSTRAP).read_text()
    assert _section_ids(page) == ALWAYS and len(_images(page)) == 4
    assert "0 of 44 trials recorded" in page and "no size has a completed trial yet" in page


def test_task_section_only_when_finetuning_trials_exist(sweep: raylaws.Sweep) -> None:
    trials = sweep.trials()
    task = trials.schema.get_field_index("task")  # schema 4 has the column; older records read it as null
    with_tasks = trials.set_column(task, "task", pa.array([None] * trials.num_rows, pa.string()))
    assert analyse(with_tasks, sweep.spec, name="t", n_bootstrap=0).tasks == []
    finetuned = trials.filter(pc.equal(trials.column("status"), "completed"))
    finetuned = finetuned.set_column(task, "task", pa.array(["sst2"] * finetuned.num_rows, pa.string()))
    phase = finetuned.schema.get_field_index("phase")
    finetune_phases = ["finetune_" + name for name in finetuned.column("phase").to_pylist()]  # search, seed
    finetuned = finetuned.set_column(phase, finetuned.schema.field(phase), pa.array(finetune_phases, pa.string()))
    both = pa.concat_tables([with_tasks, finetuned])
    page = render_report(both, sweep.spec, name="t", n_bootstrap=0)
    assert _section_ids(page) == ALWAYS[:-1] + ["tasks", "compute"]
    assert "sst2" in page.split('id="tasks"')[1]
    # The task's law is the one `raylaws fit --task sst2` fits, on the same rows.
    [shown] = analyse(both, sweep.spec, name="t", n_bootstrap=0).tasks
    fitted = fit_law(both, task="sst2", n_bootstrap=0)
    assert shown.exponent == pytest.approx(fitted.law.exponent_) and shown.r2 == pytest.approx(fitted.r2)
    assert len(shown.n_params) == 4 and shown.n_params == sorted(shown.n_params)


def test_task_section_says_why_a_weak_task_shows_no_law(sweep: raylaws.Sweep, tmp_path: Path) -> None:
    from raylaws import store
    from raylaws.layout import SweepLayout
    from tests.laws_tests._records import write_values

    layout = SweepLayout.at(tmp_path / "tasks")
    write_values(layout, "docs", [[0.10, 0.11], [0.09, 0.11], [0.10, 0.10], [0.11, 0.09]], train_examples=800)
    write_values(layout, "big", [[3.0 * n**-0.2 * 1.01, 3.0 * n**-0.2 * 0.99] for n in (1728, 13824, 46656, 110592)],
                 train_examples=50_000)
    both = pa.concat_tables([sweep.trials(), store.read_trials(layout.trials)])
    shown = {t.task: t for t in analyse(both, sweep.spec, name="t", n_bootstrap=0).tasks}
    assert [c.kind.value for c in shown["docs"].causes] == ["few_examples", "saturated"] and shown["big"].causes == ()
    assert shown["docs"].verdict == "law too weak to predict" and shown["big"].verdict == "predictions hold"
    section = render_report(both, sweep.spec, name="t", n_bootstrap=0).split('id="tasks"')[1].split("</section>")[0]
    assert '<p id="why-docs">Why task docs shows no law (R² 0.062 &lt; 0.95), likely causes, strongest first:' \
        in section
    assert '<span class="kind few_examples">few examples</span>800 training examples: the paper found no task ' \
           "under 10,000 with R² &gt;= 0.85</li>" in section
    assert "1 - accuracy is flat across sizes" in section and 'id="why-big"' not in section


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/setup.sh installs the Debian package `chromium`)")
    return CHROMIUM


def _chromium(binary: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(binary), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_chromium_loads_every_image_and_shows_every_section(chromium: Path, page: str, tmp_path: Path) -> None:
    # A copy of the page with a probe that marks each image Chromium could not decode; the
    # report itself carries no script.
    probe = ("<script>window.addEventListener('load', () => { for (const img of document.images) "
             "img.setAttribute('data-loaded', img.complete && img.naturalWidth > 0 ? 'yes' : 'broken'); "
             "document.body.setAttribute('data-probed', document.images.length); });</script>")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    result = _chromium(chromium, tmp_path / "profile", "--dump-dom", probed.as_uri())
    dom = result.stdout
    assert 'data-probed="4"' in dom, result.stderr[-2000:]
    assert dom.count('data-loaded="yes"') == 4 and 'data-loaded="broken"' not in dom
    assert _section_ids(dom) == ALWAYS


def test_chromium_screenshots_the_page(chromium: Path, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = _chromium(chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,4800",
                       report.resolve().as_uri())
    assert shot.is_file() and shot.stat().st_size > 100_000, result.stderr[-2000:]
    keep = os.environ.get("RAYLAWS_REPORT_SCREENSHOT")
    if keep:  # for a person to look at
        shutil.copyfile(shot, keep)
