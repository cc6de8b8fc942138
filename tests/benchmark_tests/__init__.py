"""Tests of the scripts in benchmarks/."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/<name>.py as a module named `name` (registered in sys.modules: dataclasses look
    their module up there)."""
    module_spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_spec.name] = module
    module_spec.loader.exec_module(module)
    return module
