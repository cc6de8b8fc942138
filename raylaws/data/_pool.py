"""Where a preparation's tasks run: Ray tasks across a cluster, processes on this machine's
cores, or inline; at most two tasks in flight per worker, so memory stays bounded."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from raylaws.data._sources import Listing, Unit
from raylaws.data._work import worker_init
from raylaws.spec import DataSpec


class _Inline:
    """Tasks run one after another in this process (one unit, or one worker)."""

    def run(self, function: Callable[..., Any], arguments: list[tuple[Any, ...]],
            stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[Unit, Any]]:
        for args in arguments:
            if stop():
                return
            yield args[0], function(*args)

    def close(self) -> None:
        pass


class _Tasks:
    """Tasks in flight, at most two per worker (bounded memory), results as they finish.
    Subclasses say how a task is submitted, waited for and read."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pending: dict[Any, Unit] = {}

    def run(self, function: Callable[..., Any], arguments: list[tuple[Any, ...]],
            stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[Unit, Any]]:
        submit = self._submitter(function)
        queue = list(arguments)
        while queue or self.pending:
            while queue and len(self.pending) < 2 * self.workers and not stop():
                args = queue.pop(0)
                self.pending[submit(*args)] = args[0]
            if not self.pending:
                return
            for handle in self._finished(list(self.pending)):
                yield self.pending.pop(handle), self._result(handle)
            if stop():
                queue.clear()

    def _submitter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        raise NotImplementedError

    def _finished(self, handles: list[Any]) -> list[Any]:
        raise NotImplementedError

    def _result(self, handle: Any) -> Any:
        raise NotImplementedError


class _Processes(_Tasks):
    """Tasks on this machine's cores, one process each."""

    def __init__(self, workers: int) -> None:
        import multiprocessing

        super().__init__(workers)
        self.executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=worker_init)

    def _submitter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return lambda *args: self.executor.submit(function, *args)

    def _finished(self, handles: list[Any]) -> list[Any]:
        return list(wait(handles, return_when=FIRST_COMPLETED)[0])

    def _result(self, handle: Any) -> Any:
        return handle.result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


class _RayTasks(_Tasks):
    """Tasks spread over a Ray cluster (one CPU each): every node reads the source itself."""

    def __init__(self, workers: int) -> None:
        import ray

        super().__init__(workers)
        self.ray = ray

    def _submitter(self, function: Callable[..., Any]) -> Callable[..., Any]:
        return self.ray.remote(num_cpus=1, max_retries=2)(function).remote

    def _finished(self, handles: list[Any]) -> list[Any]:
        return self.ray.wait(handles, num_returns=1)[0]

    def _result(self, handle: Any) -> Any:
        return self.ray.get(handle)

    def close(self) -> None:
        for ref in self.pending:  # a failed or interrupted preparation leaves no task running
            self.ray.cancel(ref, force=True)
        self.pending.clear()


@contextmanager
def task_pool(data: DataSpec, listing: Listing, units: int) -> Iterator[Any]:
    """Where the tasks run: Ray tasks where Ray is running and the source is object storage
    (every node reads it), else processes on this machine (inline for a single unit)."""
    remote_source = listing.hub is None and "://" in data.source
    pool: Any
    try:
        import ray

        on_ray = ray.is_initialized() and remote_source
    except ImportError:  # pragma: no cover - ray is a dependency
        on_ray = False
    if on_ray:
        import ray

        workers = data.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        pool = _RayTasks(min(workers, units))
    else:
        workers = min(data.workers or os.cpu_count() or 1, units)
        pool = _Processes(workers) if workers > 1 else _Inline()
    try:
        yield pool
    finally:
        pool.close()
