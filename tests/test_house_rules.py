"""The house's size rules, checked on the source (../shared/STYLE.md): a newcomer can hold each
module and each signature, and the README stays a user's guide."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted((REPO / "raylaws").rglob("*.py"))


def test_no_module_of_raylaws_is_over_400_lines() -> None:
    assert len(MODULES) > 50  # the scan found the package
    long = {str(p.relative_to(REPO)): n for p in MODULES if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def test_no_function_takes_more_than_10_parameters() -> None:
    wide = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                a = node.args
                names = [arg.arg for arg in a.posonlyargs + a.args + a.kwonlyargs]
                count = len(names) - (names[:1] in (["self"], ["cls"])) + bool(a.vararg) + bool(a.kwarg)
                if count > 10:
                    wide.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({count})")
    assert wide == []


def test_the_readme_is_a_guide_of_at_most_250_lines_whose_links_resolve() -> None:
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    targets = [t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme) if "://" not in t]
    assert "docs/spec.md" in targets
    assert [t for t in targets if not (REPO / t).exists()] == []
