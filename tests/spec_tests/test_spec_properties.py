"""Generated broken specs: every one is refused with a SpecError naming the field, before Ray.

Each strategy starts from a valid spec (``tiny_spec_dict()``, or its twin with explicit
``ladder.rungs``) and breaks it in a known way, so the test knows which field the error must
name: the broken field itself (or a key inside it), or the section whose validator checks it.
"""

from __future__ import annotations

import math
import os
import re
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from raylaws.spec import (
    DataSpec,
    ExperimentSpec,
    LadderSpec,
    LearningRateRange,
    PruningSpec,
    ResourcesSpec,
    SizeSpec,
    SearchSpec,
    SpecError,
    SpecProblem,
    TokenizerSpec,
    TrainingSpec,
    spec_from_dict,
    spec_from_text,
)
from tests.conftest import REPO, tiny_spec_dict

EXAMPLES = settings(max_examples=60, deadline=None)


def rungs_spec_dict() -> dict[str, Any]:
    """``tiny_spec_dict()`` with an explicit ladder of two rungs instead of the paper's."""
    spec = tiny_spec_dict()
    spec["ladder"] = {"rungs": [{"n_layers": 1, "d_model": 16, "n_heads": 2},
                                {"name": "wide", "n_layers": 2, "d_model": 32, "n_heads": 2, "d_ff": 64}]}
    return spec


BASES: dict[str, Callable[[], dict[str, Any]]] = {"paper": tiny_spec_dict, "rungs": rungs_spec_dict}

# ---- the fields of a spec, by the values they take ---------------------------------------------

INT_RANGES: dict[str, tuple[int, Optional[int]]] = {  # inclusive valid range; None: unbounded
    "data.tokenizer.vocab_size": (260, 1_000_000),
    "data.seq_len": (8, 65_536),
    "data.max_tokens": (1_000, None),
    "data.eval_tokens": (256, None),
    "ladder.aspect_ratio": (1, 4096),
    "ladder.n_heads": (1, 256),
    "ladder.ffn_ratio": (1, 64),
    "ladder.rungs[0].n_layers": (1, 512),
    "ladder.rungs[0].d_model": (4, 65_536),
    "ladder.rungs[1].n_heads": (1, 256),
    "ladder.rungs[1].d_ff": (1, None),
    "training.max_steps": (1, None),
    "training.max_tokens": (1, None),
    "training.warmup_steps": (0, None),
    "training.eval_interval": (1, None),
    "training.patience": (1, None),
    "search.trials_per_size": (1, 100_000),
    "search.pruning.grace_steps": (1, None),
    "search.pruning.reduction_factor": (2, None),
    "seeds": (0, 1000),
    "resources.cpus_per_trial": (1, None),
    "resources.max_concurrent_trials": (1, None),
    "resources.max_retries": (0, None),
}
INTS = [*INT_RANGES, "search.sampler_seed"]
NAN = st.just(math.nan)  # fails every bound
NEGATIVE = st.floats(max_value=-1e-300)  # below 0.0 and not -0.0, which is >= 0
NOT_POSITIVE = st.floats(max_value=0.0)
FLOAT_OUT_OF_RANGE: dict[str, st.SearchStrategy[float]] = {
    "training.min_delta": NEGATIVE | NAN,
    "training.weight_decay": NEGATIVE | NAN,
    "training.grad_clip": NOT_POSITIVE | NAN,
    "training.dropout": NEGATIVE | st.floats(min_value=1.0) | NAN,
    "training.divergence_factor": st.floats(max_value=1.0) | NAN,
    "search.learning_rate.low": NOT_POSITIVE | NAN,
    "search.learning_rate.high": NOT_POSITIVE | NAN,
    "resources.gpus_per_trial": NEGATIVE | NAN,
}
STRINGS = ["name", "data.source", "data.text_field", "data.tokenizer.path", "ladder.rungs[1].name"]
CHOICES = {"objective": ("mlm", "clm"), "data.tokenizer.kind": ("bpe", "file"),
           "training.schedule": ("constant", "linear", "cosine"), "search.sampler": ("tpe", "random")}
BOOLS = ["ladder.tie_embeddings", "search.pruning.enabled"]
INT_LISTS = ["ladder.layers", "search.batch_size"]
SECTIONS: dict[str, type] = {"": ExperimentSpec, "data": DataSpec, "data.tokenizer": TokenizerSpec,
                             "ladder": LadderSpec, "training": TrainingSpec, "search": SearchSpec,
                             "search.learning_rate": LearningRateRange, "search.pruning": PruningSpec,
                             "resources": ResourcesSpec, "ladder.rungs[0]": SizeSpec}
OPTIONAL = {"data.max_tokens", "data.tokenizer.path", "ladder.aspect_ratio", "ladder.layers", "ladder.rungs",
            "ladder.rungs[1].d_ff", "ladder.rungs[1].name", "training.max_steps", "training.max_tokens",
            "training.patience", "training.grad_clip", "resources.max_concurrent_trials"}
REQUIRED = ["name", "training", "search", "search.learning_rate", "search.learning_rate.low",
            "search.learning_rate.high", "search.batch_size", "ladder.rungs[0].n_layers", "ladder.rungs[1].d_model"]
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

# ---- values of the wrong type (pydantic's lax mode accepts "3" for 3, 1.0 for 1, "yes" for True) --

LAX_WORDS = {"inf", "nan", "infinity", "true", "false", "yes", "no", "on", "off", "t", "f", "y", "n"}
WORDS = st.text(string.ascii_letters, min_size=1, max_size=10).filter(lambda s: s.lower() not in LAX_WORDS)
FRACTIONS = st.floats(min_value=-1e6, max_value=1e6).filter(lambda x: not x.is_integer())
CONTAINERS = st.lists(st.integers(), max_size=3) | st.dictionaries(WORDS, st.integers(), max_size=2)
NOT_INT = WORDS | FRACTIONS | st.sampled_from([math.inf, -math.inf, math.nan]) | CONTAINERS
NOT_FLOAT = WORDS | CONTAINERS
NOT_STR = st.integers() | st.floats() | st.booleans() | CONTAINERS
NOT_BOOL = WORDS | FRACTIONS | st.integers(min_value=2) | st.integers(max_value=-1) | CONTAINERS
WITH_A_BAD_ITEM = st.tuples(st.lists(st.integers(1, 64), max_size=2, unique=True), NOT_INT).map(
    lambda t: [*t[0], t[1]])
NOT_INT_LIST = WORDS | st.integers() | st.dictionaries(WORDS, st.integers(), max_size=2) | WITH_A_BAD_ITEM
NOT_SECTION = WORDS | st.integers() | st.floats() | st.lists(st.integers(), max_size=3)
NOT_SECTION_LIST = WORDS | st.integers() | st.dictionaries(WORDS, st.integers(), max_size=2)


def wrong_values(path: str) -> st.SearchStrategy[Any]:
    """Values no lax coercion turns into a valid ``path``."""
    if path in INTS:
        wrong = NOT_INT
    elif path in FLOAT_OUT_OF_RANGE:
        wrong = NOT_FLOAT
    elif path in STRINGS:
        wrong = NOT_STR
    elif path in CHOICES:
        wrong = WORDS.filter(lambda w: w not in CHOICES[path]) | st.integers() | CONTAINERS
    elif path in BOOLS:
        wrong = NOT_BOOL
    elif path in INT_LISTS:
        wrong = NOT_INT_LIST
    elif path == "ladder.rungs":
        wrong = NOT_SECTION_LIST
    else:
        wrong = NOT_SECTION
    return wrong if path in OPTIONAL else wrong | st.none()


TYPED_PATHS = [*INTS, *FLOAT_OUT_OF_RANGE, *STRINGS, *CHOICES, *BOOLS, *INT_LISTS, "ladder.rungs",
               *(section for section in SECTIONS if section)]

# ---- breaking a spec -------------------------------------------------------------------------

DELETE = object()


def keys_of(path: str) -> tuple[Any, ...]:
    """``'ladder.rungs[0].n_layers'`` -> ``('ladder', 'rungs', 0, 'n_layers')``."""
    return tuple(int(part[1:-1]) if part.startswith("[") else part for part in re.findall(r"\[\d+\]|[^.\[\]]+", path))


def at_or_under(field: str, anchor: str) -> bool:
    """Whether the dotted ``field`` is ``anchor`` or lies inside it."""
    return field == anchor or field.startswith((anchor + ".", anchor + "["))


@dataclass(frozen=True)
class Break:
    """One way to break a valid spec, and the field its error must be at (or inside)."""

    changes: tuple[tuple[tuple[Any, ...], Any], ...]  # (key path, new value or DELETE)
    anchor: str

    def apply(self, spec: dict[str, Any]) -> None:
        for keys, value in self.changes:
            *outer, last = keys
            node = spec
            for key in outer:
                node = node[key]
            if value is DELETE:
                del node[last]
            else:
                node[last] = value


def put(path: str, value: Any, anchor: Optional[str] = None) -> Break:
    return Break(((keys_of(path), value),), anchor if anchor is not None else path)


def in_base(base: str, path: str) -> bool:
    return "rungs[" not in path or base == "rungs"


def one_of_paths(base: str, paths: list[str],
                 make: Callable[[str], st.SearchStrategy[Break]]) -> st.SearchStrategy[Break]:
    return st.sampled_from([p for p in paths if in_base(base, p)]).flatmap(make)


def wrong_type(base: str) -> st.SearchStrategy[Break]:
    return one_of_paths(base, TYPED_PATHS, lambda path: wrong_values(path).map(lambda v: put(path, v)))


def missing_field(base: str) -> st.SearchStrategy[Break]:
    return one_of_paths(base, REQUIRED, lambda path: st.just(put(path, DELETE)))


def out_of_range(base: str) -> st.SearchStrategy[Break]:
    def outside(path: str) -> st.SearchStrategy[Any]:
        if path == "name":
            return st.text(max_size=12).filter(lambda s: not NAME.fullmatch(s))
        if path in FLOAT_OUT_OF_RANGE:
            return FLOAT_OUT_OF_RANGE[path]
        low, high = INT_RANGES[path]
        below = st.integers(max_value=low - 1)
        return below if high is None else below | st.integers(min_value=high + 1)

    paths = ["name", *INT_RANGES, *FLOAT_OUT_OF_RANGE]
    return one_of_paths(base, paths, lambda path: outside(path).map(lambda v: put(path, v)))


def unknown_key(base: str) -> st.SearchStrategy[Break]:
    def at(section: str) -> st.SearchStrategy[Break]:
        valid = set(SECTIONS[section].model_fields)
        keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,15}", fullmatch=True).filter(lambda k: k not in valid)
        return keys.map(lambda key: put(f"{section}.{key}" if section else key, 1))

    return one_of_paths(base, list(SECTIONS), at)


def non_string_key(base: str) -> st.SearchStrategy[Break]:
    def at(section: str) -> st.SearchStrategy[Break]:
        keys = st.integers() | st.booleans() | st.none()
        return keys.map(lambda key: Break(((keys_of(section) + (key,), 1),), anchor=section))

    return one_of_paths(base, [s for s in SECTIONS if s], at)


def inconsistent(base: str) -> st.SearchStrategy[Break]:
    """Fields valid one by one, wrong together: the section's own validator names the section."""
    positive = st.floats(min_value=1e-8, max_value=10.0)
    lr_unordered = positive.flatmap(lambda high: st.floats(min_value=high, max_value=100.0).map(
        lambda low: Break(((keys_of("search.learning_rate"), {"low": low, "high": high}),), "search.learning_rate")))
    no_budget = st.just(put("training.max_steps", DELETE, anchor="training"))
    two_budgets = st.integers(min_value=1).map(lambda tokens: put("training.max_tokens", tokens, anchor="training"))
    repeated_batch = st.integers(1, 64).map(lambda b: put("search.batch_size", [b, b], anchor="search"))
    small_batch = st.integers(max_value=0).map(lambda b: put("search.batch_size", [8, b], anchor="search"))
    tokenizer_file = st.just(put("data.tokenizer", {"kind": "file", "vocab_size": 300}))
    common = [lr_unordered, no_budget, two_budgets, repeated_batch, small_batch, tokenizer_file]
    if base == "paper":
        empty_layers = st.just(put("ladder.layers", [], anchor="ladder"))
        repeated_layer = st.integers(1, 8).map(lambda d: put("ladder.layers", [d, d], anchor="ladder"))
        shallow_layer = st.integers(max_value=0).map(lambda d: put("ladder.layers", [1, d], anchor="ladder"))
        return st.one_of(*common, empty_layers, repeated_layer, shallow_layer)
    empty_rungs = st.just(put("ladder.rungs", [], anchor="ladder"))
    both_forms = st.just(put("ladder.layers", [1, 2], anchor="ladder"))
    same_names = st.just(put("ladder.rungs[0].name", "wide", anchor="ladder"))
    indivisible = st.tuples(st.integers(2, 16), st.integers(4, 4096)).filter(lambda t: t[1] % t[0]).map(
        lambda t: Break(((keys_of("ladder.rungs[0]"), {"n_layers": 1, "d_model": t[1], "n_heads": t[0]}),),
                        "ladder.rungs[0]"))
    return st.one_of(*common, empty_rungs, both_forms, same_names, indivisible)


BREAKS = {"wrong type": wrong_type, "missing": missing_field, "out of range": out_of_range,
          "unknown key": unknown_key, "non-string key": non_string_key, "inconsistent": inconsistent}


@st.composite
def broken_specs(draw: st.DrawFn, kinds: tuple[str, ...], max_breaks: int = 1) -> tuple[dict[str, Any], list[Break]]:
    """A valid spec with 1..``max_breaks`` breaks of ``kinds``, none inside another."""
    base = draw(st.sampled_from(sorted(BASES)))
    strategy = st.one_of(*(BREAKS[kind](base) for kind in kinds))
    breaks: list[Break] = []
    for _ in range(draw(st.integers(1, max_breaks))):
        candidate = draw(strategy)
        if all(not at_or_under(candidate.anchor, b.anchor) and not at_or_under(b.anchor, candidate.anchor)
               for b in breaks):
            breaks.append(candidate)
    spec = BASES[base]()
    for one in breaks:
        one.apply(spec)
    return spec, breaks


def refused(raw: Any) -> list[SpecProblem]:
    """The problems of a spec that must be refused; each names a field and says what is wrong."""
    with pytest.raises(SpecError) as caught:
        spec_from_dict(raw)
    problems = caught.value.problems
    assert problems, "a SpecError with no problem"
    for problem in problems:
        assert problem.field and problem.message, problem
    return problems


def assert_named_at(problems: list[SpecProblem], anchor: str) -> None:
    assert all(at_or_under(p.field, anchor) for p in problems), (anchor, problems)


# ---- the base specs are valid: every break below is the only thing wrong ------------------------


@pytest.mark.parametrize("base", sorted(BASES))
def test_the_specs_the_breaks_start_from_are_valid(base: str) -> None:
    assert isinstance(spec_from_dict(BASES[base]()), ExperimentSpec)


# ---- one break: refused at the broken field ---------------------------------------------------


@EXAMPLES
@given(broken_specs(("wrong type",)))
def test_a_value_of_the_wrong_type_is_refused_at_its_field(case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, (broken,) = case
    assert_named_at(refused(spec), broken.anchor)


@EXAMPLES
@given(broken_specs(("missing",)))
def test_a_missing_required_field_is_refused_at_its_field(case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, (broken,) = case
    assert [(p.field, p.message) for p in refused(spec)] == [(broken.anchor, "required but missing")]


@EXAMPLES
@given(broken_specs(("out of range",)))
def test_an_out_of_range_value_is_refused_at_its_field(case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, (broken,) = case
    assert [p.field for p in refused(spec)] == [broken.anchor]


@EXAMPLES
@given(broken_specs(("inconsistent",)))
def test_fields_inconsistent_with_each_other_are_refused_at_their_section(
        case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, (broken,) = case
    assert_named_at(refused(spec), broken.anchor)


@EXAMPLES
@given(broken_specs(("unknown key",)))
def test_an_unknown_key_at_any_level_is_refused_by_its_own_path(case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, (broken,) = case
    problems = refused(spec)
    assert [p.field for p in problems] == [broken.anchor]
    assert problems[0].message.startswith("unknown key")


@EXAMPLES
@given(broken_specs(("non-string key",)))
def test_a_key_that_is_not_a_string_is_refused_inside_its_section(case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, (broken,) = case
    assert_named_at(refused(spec), broken.anchor)


# ---- several breaks: all reported at once -----------------------------------------------------


@EXAMPLES
@given(broken_specs(("wrong type", "missing", "out of range", "unknown key"), max_breaks=4))
def test_every_broken_field_is_reported_in_one_error(case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, breaks = case
    problems = refused(spec)
    for broken in breaks:
        assert any(at_or_under(p.field, broken.anchor) for p in problems), (broken.anchor, problems)
    assert all(any(at_or_under(p.field, b.anchor) for b in breaks) for p in problems), problems


@EXAMPLES
@given(broken_specs(tuple(BREAKS), max_breaks=3))
def test_the_yaml_text_of_a_broken_spec_is_refused_at_the_same_fields(case: tuple[dict[str, Any], list[Break]]) -> None:
    spec, _ = case
    text = yaml.safe_dump(spec, sort_keys=False)
    with pytest.raises(SpecError) as caught:
        spec_from_text(text)
    assert [p.field for p in caught.value.problems] == [p.field for p in refused(spec)]


# ---- malformed YAML -----------------------------------------------------------------------------

BLOCK_TEXT = yaml.safe_dump(tiny_spec_dict(), sort_keys=False)
FLOW_TEXT = yaml.safe_dump(tiny_spec_dict(), sort_keys=False, default_flow_style=True)


def is_malformed(text: str) -> bool:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        return True
    return False


def _replace_line(text: str, index: int, rewrite: Callable[[str], str]) -> str:
    lines = text.splitlines(keepends=True)
    lines[index % len(lines)] = rewrite(lines[index % len(lines)])
    return "".join(lines)


def _drop_bracket(text: str, index: int) -> str:
    brackets = [i for i, c in enumerate(text) if c in "[]{}"]
    at = brackets[index % len(brackets)]
    return text[:at] + text[at + 1:]


def _open_quote(line: str, quote: str) -> str:
    key, sep, value = line.partition(": ")
    return f"{key}{sep}{quote}{value}" if sep else f"{quote}{line}"


MALFORMED_YAML = st.one_of(
    st.integers(0, 10_000).map(lambda i: _drop_bracket(FLOW_TEXT, i)),  # unbalanced brackets
    st.tuples(st.integers(0, 100), st.sampled_from("\"'")).map(  # a quote opened, never closed
        lambda t: _replace_line(BLOCK_TEXT, t[0], lambda line: _open_quote(line, t[1]))),
    st.integers(0, 100).map(lambda i: _replace_line(  # a tab in the indentation
        BLOCK_TEXT, i, lambda line: "\t" + line.lstrip(" ") if line.startswith(" ") else "\t" + line)),
    st.tuples(st.sampled_from([BLOCK_TEXT, FLOW_TEXT]), st.integers(0, 10_000),  # a stray character
              st.sampled_from(list("[]{}\"'`@%&*!|>\t\x00\x07"))).map(
        lambda t: t[0][: t[1] % len(t[0])] + t[2] + t[0][t[1] % len(t[0]):]),
)


@EXAMPLES
@given(MALFORMED_YAML.filter(is_malformed))
def test_malformed_yaml_is_one_problem_naming_the_yaml(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        spec_from_text(text)
    (problem,) = caught.value.problems
    assert problem.field == "<yaml>" and problem.message.startswith("malformed YAML")


# ---- the command line ---------------------------------------------------------------------------


def _without(path: str) -> dict[str, Any]:
    spec = tiny_spec_dict()
    put(path, DELETE).apply(spec)
    return spec


def _with(path: str, value: Any) -> dict[str, Any]:
    spec = tiny_spec_dict()
    put(path, value).apply(spec)
    return spec


# file name -> (its text, the field its error names)
BROKEN_FILES: dict[str, tuple[str, str]] = {
    "wrong_type.yaml": (yaml.safe_dump(_with("seeds", [1, 2])), "seeds"),
    "missing.yaml": (yaml.safe_dump(_without("search.learning_rate")), "search.learning_rate"),
    "out_of_range.yaml": (yaml.safe_dump(_with("training.eval_interval", 0)), "training.eval_interval"),
    "unknown_key.yaml": (yaml.safe_dump(_with("data.tokenizer.vocab", 300)), "data.tokenizer.vocab"),
    "unordered_lr.yaml": (yaml.safe_dump(_with("search.learning_rate", {"low": 0.1, "high": 0.01})),
                          "search.learning_rate"),
    "rung_without_width.yaml": (yaml.safe_dump(_with("ladder", {"rungs": [{"n_layers": 1}]})),
                                "ladder.rungs[0].d_model"),
    "heads_do_not_divide_width.yaml": (yaml.safe_dump(_with("ladder.n_heads", 3)), "ladder.n_heads"),
    "unbalanced.yaml": ("name: x\ntraining: {max_steps: 10\n", "<yaml>"),
    "tab_indented.yaml": (BLOCK_TEXT.replace("\n  ", "\n\t", 1), "<yaml>"),
}


@pytest.fixture
def broken_files(tmp_path: Path) -> dict[Path, str]:
    """Each broken spec as a file -> the field its error names."""
    folder = tmp_path / "specs"
    folder.mkdir()
    files = {}
    for name, (text, field) in BROKEN_FILES.items():
        assert is_malformed(text) or isinstance(yaml.safe_load(text), dict)
        (folder / name).write_text(text)
        files[folder / name] = field
    return files


def raylaws_cli(*args: str, ray_tmp: Path) -> subprocess.CompletedProcess:
    """The real console entry point in a fresh process; a Ray it started would live in ``ray_tmp``."""
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp)}
    return subprocess.run([sys.executable, "-m", "raylaws.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env=env, timeout=120)


def assert_only_error_lines(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), stderr


def test_validate_refuses_every_broken_spec_with_one_error_line_per_problem(
        broken_files: dict[Path, str], tmp_path: Path) -> None:
    result = raylaws_cli("validate", *map(str, broken_files), ray_tmp=tmp_path / "ray-tmp")
    assert result.returncode == 2, result.stderr
    assert_only_error_lines(result.stderr)
    for field in broken_files.values():
        assert f": {field}: " in result.stderr, (field, result.stderr)
    assert "ok:" not in result.stdout


def test_run_refuses_every_broken_spec_before_ray_starts(broken_files: dict[Path, str], tmp_path: Path) -> None:
    # RAY_TMPDIR moves the session directory a Ray would create (checked by hand: a run that
    # starts Ray makes <RAY_TMPDIR>/ray/session_*), so another Ray on this machine cannot
    # make this test flaky, and one started here would show.
    ray_tmp = tmp_path / "ray-tmp"
    for path, field in broken_files.items():
        storage = tmp_path / f"results-{path.stem}"
        result = raylaws_cli("run", str(path), "--storage", str(storage), ray_tmp=ray_tmp)
        assert result.returncode == 2, (path, result.stderr)
        assert_only_error_lines(result.stderr)
        assert f": {field}: " in result.stderr, (path, result.stderr)
        assert not storage.exists() and not ray_tmp.exists(), path


# ---- broken specs that once slipped through ---------------------------------------------------


@pytest.mark.parametrize("seed", [-1, 2**32])
def test_a_sampler_seed_numpy_cannot_use_is_refused(seed: int) -> None:
    assert [p.field for p in refused(_with("search.sampler_seed", seed))] == ["search.sampler_seed"]


def test_an_infinite_learning_rate_bound_is_refused() -> None:
    assert_named_at(refused(_with("search.learning_rate.high", math.inf)), "search.learning_rate")


@pytest.mark.parametrize("path", ["seeds", "training.max_steps", "search.trials_per_size"])
def test_a_boolean_is_not_taken_for_a_count(path: str) -> None:
    assert [p.field for p in refused(_with(path, True))] == [path]


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(SpecError):
        spec_from_text(BLOCK_TEXT + "seeds: 5\n")


def test_run_refuses_a_source_in_an_unknown_users_home_with_one_error_line(tmp_path: Path) -> None:
    path = tmp_path / "tilde.yaml"
    path.write_text(yaml.safe_dump(_with("data.source", "~no-such-user-raylaws/corpus.txt")))
    result = raylaws_cli("run", str(path), "--storage", str(tmp_path / "results"), ray_tmp=tmp_path / "ray-tmp")
    assert result.returncode == 2
    assert_only_error_lines(result.stderr)
    assert "data.source" in result.stderr


def test_validate_names_the_file_on_every_error_line(broken_files: dict[Path, str], tmp_path: Path) -> None:
    result = raylaws_cli("validate", *map(str, broken_files), ray_tmp=tmp_path / "ray-tmp")
    for path, field in broken_files.items():
        assert f"error: {path}: {field}: " in result.stderr, (path, result.stderr)
