"""The example specs shipped with raylaws, by short name.

They are the files of ``search_spaces/`` at the top of the repository, installed as the
package data of ``raylaws.search_spaces`` (``setup.py`` maps that package to the
folder), so an installed raylaws runs them without a checkout: ``raylaws run demo``,
``raylaws init --example demo spec.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Union

#: short name -> (file in search_spaces/, one line on what it is)
EXAMPLES: dict[str, tuple[str, str]] = {
    "demo": ("demo.yaml", "the laptop demo: a causal LM on the Python standard library, 4 sizes, 2-3 seeds each"),
    "finetune": ("demo_finetune.yaml", "the demo's ladder pretrained, then finetuned on two offline tasks"),
    "paper": ("paper_mlm_ar32.yaml", "the paper's masked-LM ladder (L = 1..8, aspect ratio 32), meant for GPUs"),
}


def folder() -> Path:
    """The folder holding the example specs: the package ``raylaws.search_spaces`` (installed,
    or mapped to the checkout's ``search_spaces/`` by an editable install), else the checkout's
    ``search_spaces/`` beside ``raylaws/`` (an editable install made before that package existed)."""
    try:
        from raylaws import search_spaces
    except ImportError:
        found = Path(__file__).resolve().parents[1] / "search_spaces"
    else:
        found = Path(search_spaces.__file__).parent
    if not (found / EXAMPLES["demo"][0]).is_file():
        raise FileNotFoundError(f"the example specs are not installed with raylaws (no {found})")
    return found


def example_path(name: str) -> Path:
    """The file of the example called ``name`` (a key of :data:`EXAMPLES`).

    Raises:
        KeyError: ``name`` is not an example's name.
    """
    if name not in EXAMPLES:
        raise KeyError(f"{name!r} is not an example; the examples are {', '.join(EXAMPLES)}")
    return folder() / EXAMPLES[name][0]


def spec_path(spec: Union[str, Path]) -> Path:
    """A spec given on the command line: a path that exists, as given (it always wins); else
    the example of that name.

    Raises:
        SpecError: neither a file nor an example's name (the "no such file" problem of
            :func:`raylaws.spec.load_spec`, naming the examples).
    """
    from raylaws.spec import SpecError, SpecProblem

    path = Path(spec)
    if path.exists():
        return path
    if str(spec) in EXAMPLES:
        return example_path(str(spec))
    source = str(spec)
    raise SpecError([SpecProblem("<file>", f"no such file {source!r}; give the path of a spec YAML file or an "
                                           f"example's name ({', '.join(EXAMPLES)})")], source)
