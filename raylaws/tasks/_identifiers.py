"""The ``stdlib-identifier`` task: which identifier a placeholder in a snippet of code stands for.

A task close to the pretraining objective, so that its error tracks the model's quality: filling
in a masked identifier is language modelling, scored as a 64-way classification. Built from
every package of this Python's standard library (the folders with an ``__init__.py``, their
test folders left out; ``test``, the generated ``encodings`` and ``pydoc_data`` and the
``__phello__`` demo excluded), which the ``stdlib`` pretraining corpus (the top-level ``.py``
files) does not contain:

* An *occurrence* is a ``NAME`` token (:mod:`tokenize`, so never inside a string or comment)
  that is not a keyword. Its *window* is its line with the occurrence replaced by
  :data:`PLACEHOLDER`, after up to :data:`CONTEXT_LINES` non-blank lines directly above it,
  dedented together; the earliest lines are dropped until it is at most :data:`MAX_CHARS`
  characters (about 40 tokens of a 512-token BPE vocabulary, so it fits the demo's 64
  positions). A window is kept if it has :data:`MIN_CHARS` to :data:`MAX_CHARS` characters,
  holds the placeholder once, and does not hold the identifier anywhere else (no copying).
* The classes are the :data:`CLASSES` identifiers with the most distinct windows (ties by
  name); a window found under two of them is dropped.
* Each class's windows are ordered by the SHA-256 of their text: the first
  :data:`EVAL_PER_CLASS` are held out (a balanced evaluation split, chance 1/64), and the
  training split takes the next ones one class at a time, round-robin, until it holds
  :data:`TRAIN_EXAMPLES`: each class gives all of its windows or a common cap, whichever is
  fewer, so no class dominates (``self`` alone has more windows than the cap many times over).

``stdlib-next-identifier`` (``cut``) asks the same of the way a causal model reads: its window
is the source *up to* the occurrence (the spaces before it kept, nothing after it on its line),
with no placeholder, and the identifier must still appear nowhere in it; the rest (context
lines, lengths, classes from its own windows, splits, counts) is the same. Its classes are
less even than ``stdlib-identifier``'s (fewer windows end at a rare identifier), so the
round-robin's common cap is higher.

The same Python gives the same examples on every machine; another version gives the same
counts (the build fails, naming the shortfall, where a library is too small for them).
"""

from __future__ import annotations

import hashlib
import io
import keyword
import re
import tokenize
from collections import defaultdict
from functools import lru_cache
from typing import Optional

from raylaws.tasks._data import Example, TaskCounts, digest
from raylaws.tasks._stdlib import package_files, stdlib_root

PLACEHOLDER = "?"  # one token of any byte-level BPE; a window holding another "?" is not kept
CLASSES = 64
EVAL_PER_CLASS = 40  # 2,560 evaluation windows: a binomial std of about 0.01 in accuracy
TRAIN_EXAMPLES = 20_480  # 320 batches of 64: twice the paper's 10K line
MAX_CHARS, MIN_CHARS = 64, 16
CONTEXT_LINES = 2
COUNTS = TaskCounts(TRAIN_EXAMPLES, CLASSES * EVAL_PER_CLASS)
_EXCLUDED = frozenset({"test", "encodings", "pydoc_data", "__phello__"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def identifier_task(*, cut: bool = False) -> tuple[list[Example], list[Example]]:
    """The ``(train, eval)`` examples, each split in SHA-256 order (see the module docstring);
    ``cut``: ``stdlib-next-identifier``'s, each window ending where its identifier begins."""
    by_class = _classes(_windows(cut))
    train: list[Example] = []
    held_out: list[Example] = []
    rest: dict[str, list[str]] = {}
    for label, texts in sorted(by_class.items()):
        held_out += [(text, None, label) for text in texts[:EVAL_PER_CLASS]]
        rest[label] = texts[EVAL_PER_CLASS:]
    for turn in range(max(map(len, rest.values()))):  # round-robin: one window of each class per turn
        train += [(texts[turn], None, label) for label, texts in sorted(rest.items()) if turn < len(texts)]
        if len(train) >= TRAIN_EXAMPLES:
            break
    if len(train) < TRAIN_EXAMPLES:
        raise RuntimeError(f"this Python's standard library gives only {len(train) + len(held_out)} identifier "
                           f"windows of {CLASSES} identifiers, fewer than {TRAIN_EXAMPLES + len(held_out)}")
    return sorted(train[:TRAIN_EXAMPLES], key=digest), sorted(held_out, key=digest)


def packages() -> list[str]:
    """The standard library's packages the task reads, by name."""
    return sorted(path.name for path in stdlib_root().iterdir()
                  if (path / "__init__.py").is_file() and path.name not in _EXCLUDED)


def window(lines: list[str], row: int, start: int, end: int, *, cut: bool = False) -> Optional[str]:
    """The window of the occurrence at ``lines[row - 1][start:end]``, or None if not kept (see
    the module docstring; the test of the identifier elsewhere is the caller's). ``cut``: the
    window is the source up to the occurrence (the spaces before it kept), with no placeholder."""
    line = lines[row - 1]
    masked = line[:start] if cut else line[:start] + PLACEHOLDER + line[end:].rstrip()
    if (PLACEHOLDER in line and not cut) or len(masked.strip()) > MAX_CHARS:
        return None
    kept = [masked]
    text = masked.lstrip() if cut else masked.strip()
    # Lines above are added while the window fits; its length only grows with each one (the
    # common indentation can only shrink), so this keeps the longest run that fits.
    for above in lines[max(0, row - 1 - CONTEXT_LINES):row - 1][::-1]:
        if not above.strip():
            break
        block = [above.rstrip()] + kept
        indent = min(len(part) - len(part.lstrip()) for part in block)
        candidate = "\n".join(part[indent:] for part in block)
        if len(candidate) > MAX_CHARS:
            break
        kept, text = block, candidate
    return text if len(text) >= MIN_CHARS and (cut or text.count(PLACEHOLDER) == 1) else None


@lru_cache(maxsize=2)  # a few seconds; the tests and a run ask once per process and form
def _windows(cut: bool) -> dict[str, frozenset[str]]:
    """Every kept window, by identifier (``cut``: ending at the identifier)."""
    found: dict[str, set[str]] = defaultdict(set)
    for package in packages():
        for path in package_files(package):
            source = path.read_text(encoding="utf-8", errors="replace")
            lines = source.splitlines()
            try:
                names = [(token.string, token.start, token.end[1]) for token in
                         tokenize.generate_tokens(io.StringIO(source).readline) if token.type == tokenize.NAME]
            except (tokenize.TokenError, SyntaxError, IndentationError):
                continue
            for name, (row, start), end in names:
                if keyword.iskeyword(name) or keyword.issoftkeyword(name):
                    continue
                text = window(lines, row, start, end, cut=cut)
                if text is not None and name not in _WORD.findall(text):
                    found[name].add(text)
    return {name: frozenset(texts) for name, texts in found.items()}


def _classes(windows: dict[str, frozenset[str]]) -> dict[str, list[str]]:
    """The :data:`CLASSES` identifiers with the most windows, each with its windows in SHA-256
    order, less those found under two of them."""
    chosen = sorted(windows, key=lambda name: (-len(windows[name]), name))[:CLASSES]
    seen: dict[str, int] = defaultdict(int)
    for name in chosen:
        for text in windows[name]:
            seen[text] += 1
    return {name: sorted((text for text in windows[name] if seen[text] == 1),
                         key=_text_hash) for name in chosen}


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


__all__ = ["CLASSES", "COUNTS", "EVAL_PER_CLASS", "MAX_CHARS", "PLACEHOLDER", "TRAIN_EXAMPLES", "identifier_task",
           "packages", "window"]
