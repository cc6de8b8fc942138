"""raylaws.fit is pure numpy/scipy/pyarrow: importing it must not drag in Ray or torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_importing_raylaws_fit_imports_neither_ray_nor_torch():
    probe = (
        "import sys, raylaws.fit\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'torch'))\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "", f"raylaws.fit imported: {done.stdout.strip()}"


def test_public_names_are_exported():
    import raylaws.fit

    assert set(raylaws.fit.__all__) >= {
        "PowerLaw", "ChinchillaLaw", "backtest", "off_law", "compare", "BacktestResult",
        "Comparison", "NotFittedError",
    }
    for name in raylaws.fit.__all__:
        assert getattr(raylaws.fit, name) is not None
