"""The standard library as a source of labelled text: its packages' files, and the examples of
the two classic built-in tasks (``stdlib-family``, ``stdlib-docstring``; see :mod:`raylaws.tasks`).

The ``stdlib`` pretraining corpus is the library's top-level ``.py`` files; every text here
comes from its packages (folders), which that corpus does not contain.
"""

from __future__ import annotations

import hashlib
import io
import sysconfig
import tokenize
from pathlib import Path

from raylaws.tasks._data import Example, digest

FAMILIES = ("asyncio", "email", "idlelib", "importlib", "multiprocessing", "tkinter", "unittest", "xml")


def stdlib_root() -> Path:
    """This Python's standard library folder."""
    return Path(sysconfig.get_paths()["stdlib"])


def package_files(package: str) -> list[Path]:
    """The ``.py`` files of a standard-library package, its test folders left out, in path order."""
    root = stdlib_root() / package
    return sorted(p for p in root.rglob("*.py") if not any("test" in part for part in p.relative_to(root).parts))


def family_windows() -> dict[str, list[str]]:
    """Per package, windows of consecutive non-blank lines (120-240 characters) that do not
    name the package."""
    windows: dict[str, list[str]] = {}
    for family in FAMILIES:
        found = windows.setdefault(family, [])
        for path in package_files(family):
            lines = [line.rstrip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
            current: list[str] = []
            for line in lines + [""]:
                if line.strip():
                    current.append(line)
                if sum(len(l) + 1 for l in current) >= 120 or (not line.strip() and current):
                    text = "\n".join(current)
                    if 120 <= len(text) <= 240 and family not in text.lower():
                        found.append(text)
                    current = []
    return windows


def docstring_lines() -> dict[str, list[str]]:
    """Lines inside docstrings or comments (``docs``) and lines of code (``code``), stripped of
    indentation, ``#`` and quotes, 24-100 characters."""
    classes: dict[str, list[str]] = {"docs": [], "code": []}
    for family in FAMILIES:
        for path in package_files(family):
            source = path.read_text(encoding="utf-8", errors="replace")
            lines = source.splitlines()
            docs, touched = set(), set()
            try:
                for token in tokenize.generate_tokens(io.StringIO(source).readline):
                    first, last = token.start[0], token.end[0]
                    if token.type == tokenize.COMMENT and not lines[first - 1].strip().startswith("#"):
                        touched.add(first)  # code with a trailing comment: neither class
                    elif token.type == tokenize.COMMENT:
                        docs.add(first)
                    elif token.type == tokenize.STRING and last > first:  # a multi-line (doc)string
                        docs.update(range(first + 1, last))
                        touched.update((first, last))
            except (tokenize.TokenError, SyntaxError, IndentationError):
                continue
            for number, line in enumerate(lines, start=1):
                text = line.strip().lstrip("#").strip().strip('"\'').strip()
                if not 24 <= len(text) <= 100 or number in touched:
                    continue
                classes["docs" if number in docs else "code"].append(text)
    return classes


def balanced(by_class: dict[str, list[str]], *, per_class_train: int,
              per_class_eval: int) -> tuple[list[Example], list[Example]]:
    """Per class, distinct texts in hash order: the first ``per_class_eval`` held out, the next
    ``per_class_train`` for training; then both splits interleaved in hash order."""
    train: list[Example] = []
    held_out: list[Example] = []
    for label, texts in sorted(by_class.items()):
        ordered = sorted(set(texts), key=lambda t: hashlib.sha256(t.encode("utf-8", "replace")).hexdigest())
        if len(ordered) < per_class_train + per_class_eval:
            raise RuntimeError(f"this Python's standard library gives only {len(ordered)} examples of {label!r}, "
                               f"fewer than {per_class_train + per_class_eval}")
        held_out += [(text, None, label) for text in ordered[:per_class_eval]]
        train += [(text, None, label) for text in ordered[per_class_eval:per_class_eval + per_class_train]]
    return sorted(train, key=digest), sorted(held_out, key=digest)


__all__ = ["FAMILIES", "balanced", "docstring_lines", "family_windows", "package_files", "stdlib_root"]
