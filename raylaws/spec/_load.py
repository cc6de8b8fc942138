"""Loading and validating an experiment spec, with errors that name the field and the fix."""

from __future__ import annotations

import difflib
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import yaml
from pydantic import BaseModel, ValidationError

from raylaws.spec._experiment import ExperimentSpec
from raylaws.spec._seeds import COUNT_TAG, RULE_TAG


MAX_SPEC_BYTES = 1 << 20  # a spec is a page of YAML; 1 MiB is far above any real one


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with a spec: the dotted field path and what would be valid."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SpecError(ValueError):
    """A spec that cannot run. ``problems`` lists every finding, one per field."""

    def __init__(self, problems: list[SpecProblem], source: str = "spec") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(f"{source}: {p}" for p in self.problems))


def load_spec(path: Union[str, Path]) -> ExperimentSpec:
    """Load and validate an experiment spec from a YAML file.

    Args:
        path: a ``search_spaces/*.yaml`` file.

    Returns:
        The frozen, validated :class:`ExperimentSpec`.

    Raises:
        SpecError: with one :class:`SpecProblem` per problem found; nothing else is raised
            for bad input.

    Example:
        >>> spec = load_spec("search_spaces/demo.yaml")  # doctest: +SKIP
        >>> spec.search.trials_per_size  # doctest: +SKIP
        8
    """
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise SpecError([SpecProblem("<file>", f"no such file {source!r}; give the path of a spec YAML file")], source)
    if path.is_dir():
        raise SpecError([SpecProblem("<file>", f"{source!r} is a directory; give a spec YAML file")], source)
    if not path.is_file():
        raise SpecError([SpecProblem("<file>", f"{source!r} is not a regular file; give a spec YAML file")], source)
    size = path.stat().st_size
    if size > MAX_SPEC_BYTES:
        raise SpecError([SpecProblem("<file>", f"{size:,} bytes, above the {MAX_SPEC_BYTES:,}-byte cap for a spec; "
                                               "is it the right file?")], source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError([SpecProblem("<file>", f"cannot read it ({error.__class__.__name__}: {error})")], source) from None
    return spec_from_text(text, source=source)


def spec_from_text(text: str, *, source: str = "spec") -> ExperimentSpec:
    """Validate a spec given as YAML text (see :func:`load_spec`)."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError([SpecProblem("<yaml>", f"{len(text):,} characters, above the {MAX_SPEC_BYTES:,} cap for a "
                                               "spec")], source)
    try:
        raw = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise SpecError([SpecProblem("<yaml>", "nested too deeply to be a spec")], source) from None
    except _DuplicateKey as error:
        raise SpecError([SpecProblem("<yaml>", str(error))], source) from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SpecError([SpecProblem("<yaml>", f"malformed YAML{where}: {problem}")], source) from None
    return spec_from_dict(raw, source=source)


class _DuplicateKey(ValueError):
    pass


class _SpecLoader(yaml.SafeLoader):
    """Safe YAML, plus: a repeated key is an error (PyYAML keeps the last silently), and
    exponent floats without a dot (``1e-3``, YAML 1.1 reads them as strings) are floats."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise _DuplicateKey(f"duplicate key {key!r} at line {key_node.start_mark.line + 1}; "
                                    "each key may appear once")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def spec_from_dict(raw: Any, *, source: str = "spec") -> ExperimentSpec:
    """Validate a spec given as a mapping (see :func:`load_spec`)."""
    if not isinstance(raw, dict):
        kind = "empty" if raw is None else f"a {type(raw).__name__}"
        raise SpecError([SpecProblem("<root>", f"the spec is {kind}; it must be a mapping with keys such as "
                                                "name, data, ladder, training, search")], source)
    bad_keys = [k for k in raw if not isinstance(k, str)]
    if bad_keys:
        raise SpecError([SpecProblem("<root>", f"keys must be strings, got {bad_keys[0]!r}")], source)
    try:
        spec = ExperimentSpec.model_validate(raw)
    except ValidationError as error:
        raise SpecError(_problems(error), source) from None
    except RecursionError:
        raise SpecError([SpecProblem("<root>", "nested too deeply to be a spec")], source) from None
    problems = [problem for index in range(len(spec.designs)) for problem in _design_problems(spec, index)]
    if problems:
        raise SpecError(problems, source)
    return spec


# Fields a design or a debug re-run may not change: the sweep's identity and the budget per size
# (every design, and every round of a size, gets the same search trials and seeds).
_FIXED_FIELDS = ("name", "designs", "seeds", "search.trials_per_size")


def design_spec(spec: ExperimentSpec, design: Optional[str]) -> ExperimentSpec:
    """The spec of one design: ``spec`` with the design's ``set`` applied and no ``designs``.

    ``design`` None (a sweep without designs) returns ``spec`` itself.

    Raises:
        KeyError: ``spec`` has no design of that name.
    """
    if design is None:
        return spec
    for entry in spec.designs:
        if entry.name == design:
            return _overridden(spec, entry.set)
    raise KeyError(f"design {design!r}: the spec's designs are {', '.join(spec.design_names) or 'none'}")


def with_overrides(spec: ExperimentSpec, overrides: Mapping[str, Any], *, field: str = "--set") -> ExperimentSpec:
    """``spec`` with dotted fields set otherwise (``{"training.patience": 600}``), validated.

    Raises:
        SpecError: one problem per bad override, named ``<field> <dotted path>``.
    """
    problems = [SpecProblem(f"{field} {path}", message) for path, message in _override_problems(spec, overrides)]
    if problems:
        raise SpecError(problems, "spec")
    return _overridden(spec, overrides)


def parse_overrides(assignments: list[str], *, field: str = "--set") -> dict[str, Any]:
    """``["training.patience=600", "search.learning_rate.high=0.1"]`` as a mapping; values are
    read as YAML (numbers, booleans, lists), so ``3e-2`` is a float.

    Raises:
        SpecError: an assignment without ``=`` or with a malformed value.
    """
    out: dict[str, Any] = {}
    for assignment in assignments:
        path, sep, text = assignment.partition("=")
        if not sep or not path.strip():
            raise SpecError([SpecProblem(field, f"{assignment!r} is not FIELD=VALUE (e.g. training.patience=600)")],
                            "command line")
        try:
            out[path.strip()] = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError:
            raise SpecError([SpecProblem(f"{field} {path.strip()}", f"cannot read the value {text!r}")],
                            "command line") from None
    return out


def _overridden(spec: ExperimentSpec, overrides: Mapping[str, Any]) -> ExperimentSpec:
    raw = spec.model_dump(mode="json")
    raw["designs"] = []
    for path, value in overrides.items():
        _assign(raw, path, value)
    return ExperimentSpec.model_validate(raw)


def _assign(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set the dotted ``path`` of ``raw`` to ``value``; a mapping value is merged into a mapping."""
    *parents, last = path.split(".")
    node = raw
    for part in parents:
        if node.get(part) is None:
            node[part] = {}
        if not isinstance(node[part], dict):
            raise ValueError(f"{part!r} is a value, not a group of fields")
        node = node[part]
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        for key, inner in value.items():
            _assign(node[last], str(key), inner)
    else:
        node[last] = value


def _override_problems(spec: ExperimentSpec, overrides: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dotted path, message) for each override that cannot apply to ``spec``."""
    problems = []
    for path in overrides:
        if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
            problems.append((str(path), "not a dotted field name such as ladder.aspect_ratio"))
        elif any(path == fixed or fixed.startswith(path + ".") or path.startswith(fixed + ".")
                 for fixed in _FIXED_FIELDS):
            problems.append((path, "cannot be changed here: every design and every re-run keeps the sweep's name and "
                                   "budget per size (seeds, search.trials_per_size) so results compare fairly"))
    if problems:
        return problems
    raw = spec.model_dump(mode="json")
    raw["designs"] = []
    for path, value in overrides.items():
        try:
            _assign(raw, path, value)
        except ValueError as error:
            problems.append((path, str(error)))
    if problems:
        return problems
    try:
        ExperimentSpec.model_validate(raw)
    except ValidationError as error:
        for problem in _problems(error):
            mine = next((p for p in overrides if problem.field == p or problem.field.startswith((p + ".", p + "["))),
                        None)
            if mine is not None:
                problems.append((problem.field, problem.message))
            else:
                problems.append(("", f"makes {problem.field} invalid: {problem.message}"))
    return problems


def _design_problems(spec: ExperimentSpec, index: int) -> list[SpecProblem]:
    design = spec.designs[index]
    where = f"designs[{index}].set"
    return [SpecProblem(f"{where}.{path}" if path else where, f"design {design.name!r}: {message}")
            for path, message in _override_problems(spec, design.set)]


def _problems(error: ValidationError) -> list[SpecProblem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = [part for part in item["loc"] if not (isinstance(part, str) and part.startswith("function-"))
               and part not in (COUNT_TAG, RULE_TAG)]
        field = _dotted(loc) or "<root>"
        problems.append(SpecProblem(field, _message(item, loc)))
    # One line per field: pydantic may report the same field for several union members.
    unique: dict[str, SpecProblem] = {}
    for problem in problems:
        unique.setdefault(problem.field, problem)
    return list(unique.values())


def _dotted(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(item: dict[str, Any], loc: list[Any]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key{hint} (valid keys here: {', '.join(valid)})"
    if kind == "missing":
        return "required but missing"
    if kind == "literal_error":
        return f"{item['msg'].lower()} (got {item.get('input')!r})"
    message = item["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    got = item.get("input")
    if kind not in {"value_error", "assertion_error"} and not isinstance(got, (dict, list)):
        message = f"{message} (got {got!r})"
    return message


def _fields_at(loc: list[Any]) -> list[str]:
    """Names of the fields of the model found at ``loc`` (for the did-you-mean)."""
    model: Any = ExperimentSpec
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return []
        model = _inner_model(model.model_fields[part].annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    """The BaseModel inside ``Optional[...]`` or ``list[...]``, or the annotation itself."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if isinstance(found, type) and issubclass(found, BaseModel):
            return found
    return annotation
