"""An installed raylaws, not a checkout: the wheel, in a fresh virtual environment, runs the
packaged examples from a folder outside the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import REPO


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.mark.slow
def test_the_wheel_runs_the_packaged_examples_outside_the_checkout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_NO_INDEX"] = "1"  # nothing is downloaded: the wheel alone, without its dependencies
    # Built from a copy: a build in the checkout leaves build/lib behind, whose stale modules a
    # later wheel would pick up.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("raylaws", "search_spaces"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q",
          "-w", str(wheels)], cwd=tmp_path, env=env)
    (wheel,) = wheels.glob("raylaws-*.whl")

    venv = tmp_path / "env"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path, env=env)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], cwd=tmp_path, env=env)
    # The dependencies (torch, ray, ...) come from this interpreter's site-packages, added by a
    # .pth: a folder a .pth adds is no site dir, so the editable install's own .pth never runs there.
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path,
                env=env).stdout.strip()
    Path(site, "dev-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "work"
    work.mkdir()
    where = _run([str(python), "-c", "import raylaws, raylaws.examples; print(raylaws.__file__); "
                                     "print(raylaws.examples.folder())"], cwd=work, env=env).stdout.split()
    for path in where:
        assert Path(path).resolve().is_relative_to(venv.resolve()), where
        assert not Path(path).resolve().is_relative_to(REPO), where

    raylaws = str(venv / "bin" / "raylaws")
    init = _run([raylaws, "init", "--example", "demo", "spec.yaml"], cwd=work, env=env)
    assert "wrote spec.yaml" in init.stdout
    assert (work / "spec.yaml").read_bytes() == (REPO / "search_spaces" / "demo.yaml").read_bytes()
    assert _run([raylaws, "validate", "demo"], cwd=work, env=env).stdout == "ok: demo\n"
    ladder = _run([raylaws, "ladder", "spec.yaml"], cwd=work, env=env).stdout
    assert "demo: clm ladder" in ladder and "L4-H48" in ladder and "110,592" in ladder
    listed = _run([str(python), "-m", "raylaws", "init", "--list"], cwd=work, env=env).stdout
    assert [line.split()[0] for line in listed.splitlines()] == ["demo", "finetune", "paper"]
