"""Running a sweep: :func:`run`, in a local directory or in object storage (through a local
mirror that publishes each record), every input checked once, then the data and tasks
prepared once, then the trials handed to Tune (:mod:`raylaws.tune`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional, Union

from raylaws import store
from raylaws.errors import SweepError, SweepInterrupted
from raylaws.ladder import build_ladder
from raylaws.layout import LayoutError, SweepLayout
from raylaws.spec import ExperimentSpec, SpecError, SpecProblem, design_spec, load_spec, spec_from_dict
from raylaws.sweep._check import check_address
from raylaws.sweep._lock import SweepLock
from raylaws.sweep._read import Sweep
from raylaws.sweep._stored import check_stored, remote_call, store_spec

logger = logging.getLogger(__name__)


def run(
    spec: Union[ExperimentSpec, str, Path],
    *,
    storage: Union[str, Path] = "results",
    name: Optional[str] = None,
    address: Optional[str] = None,
    on_event: Optional[Callable[[Any], None]] = None,
    on_start: Optional[Callable[[Any], None]] = None,
    on_data: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """Run a tuned, multi-seed scaling sweep and return it, or resume it.

    Every input is checked before Ray starts (the spec, the data source, each size's memory
    per trial on a local run, the cluster address) and the spec is stored only once they all
    passed. The sweep lives in ``storage/name`` and its name is that folder's name; if the
    folder holds a sweep of the same spec (the name aside), it is resumed (a different spec,
    an edited ``spec.yaml`` or trials without one are refused, naming what differs). Only one
    driver runs a sweep at a time (a lock).

    Args:
        spec: an :class:`ExperimentSpec` or the path of a spec YAML file.
        storage: the root directory of sweeps.
        name: the sweep's name; defaults to the spec's ``name``.
        address: a Ray cluster address (``auto``, ``host:port``, ``ray://host:port``); None
            starts a local Ray in this process and shuts it down at the end.
        on_event: called in this process for each trial started or finished (progress displays).
        on_start: called once with the :class:`raylaws.search.SweepPlanner` before trials start.
        on_data: called every few seconds with a :class:`raylaws.data.PrepareProgress` while
            the corpus is prepared (not at all when it was prepared before).

    Returns:
        The finished :class:`Sweep`.

    Raises:
        SpecError: the spec is invalid, or differs from the one stored in the sweep.
        SweepError: storage or address unusable, a size too big for this machine, an edited
            or missing stored spec, a record that cannot be written, or the sweep is being
            run by another driver.
        SweepInterrupted: stopped (Ctrl-C) before the budget was met; resumable.
    """
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    if name is not None and name != spec.name:  # the same naming rules as the spec's own name
        spec = spec_from_dict({**spec.model_dump(mode="json"), "name": name})
    sizes = build_ladder(spec)
    try:
        layout = SweepLayout.of(storage, spec.name)
    except LayoutError as error:
        raise SweepError(str(error)) from None
    if layout.is_remote:
        return remote_call(lambda: _run_remote(layout, spec, sizes, address=address, on_event=on_event,
                                                on_start=on_start, on_data=on_data), layout)
    return run_local(layout, spec, sizes, address=address, on_event=on_event, on_start=on_start, on_data=on_data)


def run_local(
    layout: SweepLayout,
    spec: ExperimentSpec,
    sizes: Any,
    *,
    address: Optional[str],
    on_event: Optional[Callable[[Any], None]],
    on_start: Optional[Callable[[Any], None]],
    mirror: Any = None,
    size_specs: Optional[dict[str, ExperimentSpec]] = None,
    on_data: Optional[Callable[[Any], None]] = None,
) -> Sweep:
    """:func:`run` in a local directory; with ``mirror``, that directory mirrors a remote sweep
    and each new record, journal append and event is published to it (:mod:`raylaws.remote`).
    ``size_specs``: the spec of each size by key (default: its design's; a re-run round's own).

    In one pass: every input is checked (nothing is written until they all passed), the sweep
    is locked and its stored spec checked, the data and tasks are prepared, the spec is
    stored, and the trials are handed to Tune.
    """
    location = mirror.remote.location if mirror is not None else str(layout.root)
    size_specs = size_specs or {size.key: design_spec(spec, size.design) for size in sizes}
    checked, examples = _check_inputs(spec, sizes, size_specs, address)
    try:
        layout.create()
    except LayoutError as error:
        raise SweepError(str(error)) from None
    from raylaws.faults import Faults  # Ray, Optuna and torch load once every check has passed
    from raylaws.search import SweepPlanner
    from raylaws.tasks import prepare_tasks
    from raylaws.train import clean_partial_models
    from raylaws.tune import connect_cluster, kill_stale_ray_processes, run_trials

    faults = Faults.from_env()
    with SweepLock(layout):
        stored = check_stored(layout, spec)  # under the lock: no other driver changes it from here on
        connect_cluster(address)  # on a cluster, the data is prepared by Ray tasks across its nodes
        publish_to = (_data_uri(mirror.remote) if mirror is not None else
                      str(layout.root.resolve().parent / "_data") if address is not None else None)
        data, data_by_size = _prepare_data(spec, sizes, size_specs, checked, publish_to=publish_to, progress=on_data)
        tasks = prepare_tasks(spec, data.tokenizer_path, eos_id=data.eos_id, pad_id=data.pad_id, examples=examples)
        store_spec(layout, spec, stored, data.fingerprint)
        if mirror is not None:
            mirror.push_spec()
        kill_stale_ray_processes(layout)  # a hard-killed earlier driver's local Ray
        store.clean_stray(layout.trials)
        clean_partial_models(layout.models)  # a killed writer's half-written model
        planner: Optional[SweepPlanner] = None

        def after_record(trial_id: str) -> None:
            if mirror is not None:  # in the store before its study is told: a crash then costs a tell, no trial
                _publish(lambda: mirror.push_record(trial_id), planner)
            faults.maybe_pause_after_record(trial_id, lambda t: planner.log("paused", t) if planner else None)

        if mirror is not None:
            on_event = _publishing(mirror, on_event, lambda: planner)
        planner = SweepPlanner(spec, sizes, layout, data_fingerprint=data.fingerprint, on_event=on_event,
                               after_record=after_record, size_specs=size_specs,
                               task_counts={name: task.counts for name, task in tasks.items()})
        if on_start is not None:
            on_start(planner)
        if not planner.is_finished():
            try:
                run_trials(planner, spec, data_by_size, layout, address=address, faults=faults,
                           tune_at=mirror.remote if mirror is not None else None, tasks=tasks)
            except KeyboardInterrupt:
                raise _interrupted(planner, location) from None
            except Exception as error:  # a SweepError raised inside Tune (a full disk) comes out wrapped
                cause = _sweep_error_in(error)
                if cause is None:
                    raise
                raise cause from None
            if planner.failure is not None:
                raise planner.failure
            if not planner.is_finished():
                raise _interrupted(planner, location)
    return Sweep(layout.root)


def _check_inputs(spec: ExperimentSpec, sizes: Any, size_specs: dict[str, ExperimentSpec],
                  address: Optional[str]) -> tuple[dict[Any, Any], dict[str, Any]]:
    """Every check of a run that needs no sweep directory, each made once: the data source of
    each distinct data spec, the finetuning tasks, then each size's memory on this machine (a
    local run) or the cluster's address. Returns what the checks found, so that nothing is
    read twice: each data spec's :class:`raylaws.data.CheckedData` (its source's listing and
    cache key, for :func:`raylaws.data.prepare`) and the tasks' examples
    (:func:`raylaws.tasks.check_tasks`, for :func:`raylaws.tasks.prepare_tasks`)."""
    from raylaws.data import check_data
    from raylaws.memory import check_memory
    from raylaws.tasks import check_tasks

    variants = list({id(v): v for v in size_specs.values()}.values())
    checked = {data_spec: check_data(data_spec)
               for data_spec in dict.fromkeys([*(variant.data for variant in variants), spec.data])}
    examples = check_tasks(spec)
    if spec.finetune is not None and spec.data.tokenizer.kind == "none":
        raise SpecError([SpecProblem("data.tokenizer.kind", "the sweep finetunes, and its tasks need the tokenizer "
                                                            "the ids were made with; give kind 'pretrained' or "
                                                            "'file' with its path, or drop finetune")])
    if spec.finetune is not None and any(variant.data != spec.data for variant in variants):
        raise SpecError([SpecProblem("designs", "a design changes 'data' while the sweep finetunes: the tasks are "
                                                "tokenized with the sweep's own tokenizer; keep data the same in "
                                                "every design, or drop finetune")])
    if address is None:
        for variant in variants:
            check_memory(variant, tuple(s for s in sizes if size_specs[s.key] is variant),
                         vocab_size=checked[variant.data].vocab_size())
    else:
        check_address(address)
    return checked, examples


def _prepare_data(spec: ExperimentSpec, sizes: Any, size_specs: dict[str, ExperimentSpec], checked: dict[Any, Any],
                  *, publish_to: Optional[str], progress: Optional[Callable[[Any], None]]) -> tuple[Any, dict[str, Any]]:
    """The spec's own corpus and the token streams of each size key (its own spec's where a
    design, or a re-run, changes ``data``): each distinct data spec prepared once, the spec's
    own first, and published where every node of a cluster pulls it from: ``data.cache``,
    else ``publish_to`` (``<storage>/_data``: object storage, or the shared disk a cluster's
    sweep must be on); a local run reads the cache as it is. ``checked``: each data spec's
    :class:`raylaws.data.CheckedData`, so its source is not listed again."""
    from raylaws.data import prepare

    prepared: dict[Any, Any] = {}
    for data_spec in dict.fromkeys([spec.data, *(size_specs[size.key].data for size in sizes)]):
        corpus = prepare(checked[data_spec], progress=progress)
        uri = data_spec.cache or publish_to
        prepared[data_spec] = _published(corpus, uri) if uri else corpus
    return prepared[spec.data], {size.key: prepared[size_specs[size.key].data] for size in sizes}


def _data_uri(remote: SweepLayout) -> str:
    """Where a remote sweep publishes its prepared data: ``<storage>/_data`` (shared by the
    sweeps of one storage, each corpus under its key)."""
    base, sep, query = str(remote.uri).partition("?")
    return f"{base.rstrip('/').rsplit('/', 1)[0]}/_data{sep}{query}"


def _published(data: Any, uri: str) -> Any:
    import dataclasses

    from raylaws.data import publish

    try:
        remote = publish(data, uri)
    except OSError as error:
        raise SweepError(f"cannot publish the prepared data to {uri.split('?')[0]!r} ({str(error).splitlines()[0]}); "
                         "check data.cache or the storage") from None
    return dataclasses.replace(data, train=data.train.published(remote))


def _publishing(mirror: Any, on_event: Optional[Callable[[Any], None]], planner: Callable[[], Any]) -> Callable[[Any], None]:
    """``on_event`` that first publishes the journal and events (called in the planner's lock, right
    after each ask and each tell); a lost lease stops the sweep like a full disk does."""
    def publish(event: Any) -> None:
        _publish(mirror.push_state, planner())
        if on_event is not None:
            on_event(event)
    return publish


def _publish(action: Callable[[], Any], planner: Any) -> None:
    """Publish to the store; if that fails (a lost lease, the store down) no trial starts after
    it and the sweep stops with the error once the running ones end, as after a full disk."""
    try:
        action()
    except (SweepError, OSError) as error:
        if planner is not None and planner.failure is None:
            planner.failure = error if isinstance(error, SweepError) else SweepError(
                f"cannot publish to the sweep's storage ({str(error).splitlines()[0]}); `raylaws resume` it")


def _run_remote(layout: SweepLayout, spec: ExperimentSpec, sizes: Any, **options: Any) -> Sweep:
    """:func:`run` of a sweep in object storage: under its lease, in a mirror restored from it."""
    from raylaws.remote import Lease, LeaseLost, Mirror

    with Lease(layout) as lease:
        mirror = Mirror(layout, lease)
        mirror.restore()
        try:
            run_local(mirror.local, spec, sizes, mirror=mirror, **options)
        finally:
            try:
                mirror.push_state()
            except LeaseLost:
                pass
            except OSError as error:
                logger.warning("could not publish the journal and events of %s (%s)", layout.location, error)
    return Sweep(layout.uri)  # type: ignore[arg-type]


def _interrupted(planner: Any, location: str) -> SweepInterrupted:
    return SweepInterrupted(f"interrupted with {planner.n_recorded()} of {planner.total_trials} trials recorded; "
                            f"continue with `raylaws resume {location}`")


def _sweep_error_in(error: BaseException) -> Optional[SweepError]:
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, SweepError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return None
