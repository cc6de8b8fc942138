"""What one pretraining trial of a size takes: timed here, or read from a finished sweep."""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from raylaws.spec import ExperimentSpec
from raylaws.trial import Hyperparameters, Phase, TrialSettings

if TYPE_CHECKING:
    from raylaws.ladder import Size


@dataclass(frozen=True)
class TrialTime:
    """One size's expected pretraining trial: timed, at the spec's full step budget (patience
    and pruning only shorten it); from records, as long as its trials took on average.

    Attributes:
        size: the size's name.
        fastest, slowest: training seconds of one trial at the spec's fastest and slowest
            batch-size choice (the search decides the mix); from records, both their mean.
        source: where the figure comes from: ``timed`` (here) or ``sweep`` (its records).
        device: what it was timed on (``cpu, 1 thread``, the GPU's name) or ``as recorded``.
        step_seconds: seconds per optimizer step by batch size (timed only).
        eval_seconds: seconds of one evaluation (timed only).
        note: a caveat, such as a GPU size timed on this machine's CPU.
    """

    size: str
    fastest: float
    slowest: float
    source: str
    device: str
    step_seconds: tuple[tuple[int, float], ...] = ()
    eval_seconds: Optional[float] = None
    note: str = ""


def time_trial(spec: ExperimentSpec, size: "Size", vocab_size: int, *, steps: int = 4) -> TrialTime:
    """Time ``steps`` optimizer steps (after one warm-up step) at each of the spec's batch
    sizes and one evaluation of its held-out windows, on synthetic tokens, on the device a trial
    of ``size`` would use here; a trial is its step budget at that pace plus its evaluations.

    A trial of several workers is timed as one worker with its share of the batch (no gradient
    exchange); DeepSpeed sizes are timed with the torch engine; a size that asks for GPUs is
    timed on the CPU (in fp32) when torch sees none here, and ``note`` says so.
    """
    import torch

    from raylaws.data import TokenData, TokenStream
    from raylaws.train._backends import make_engine
    from raylaws.train._batches import Batches, EvalWindows, split
    from raylaws.train._model import build_model

    settings = TrialSettings.for_size(spec, size)
    note = ""
    if settings.device == "cuda" and not torch.cuda.is_available():
        settings = replace(settings, device="cpu", training=settings.training.model_copy(update={"precision": "fp32",
                                                                                          "master_weights": False}))
        note = "ask for a GPU: timed on this machine's CPU (no GPU here); time them on a GPU node, or plan from a sweep"
    if settings.workers > 1 or settings.backend != "torch":
        uses = " and ".join(([f"{settings.workers} workers"] if settings.workers > 1 else [])
                            + (["DeepSpeed"] if settings.backend != "torch" else []))
        note = note or (f"use {uses}: timed as one worker with its share of the batch and the torch engine (no "
                        "gradient exchange)")
    settings = replace(settings, backend="torch", workers=1)
    device = torch.device("cuda", 0) if settings.device == "cuda" else torch.device("cpu")
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    seq_len = spec.data.seq_len
    rng = np.random.default_rng(0)
    ids = rng.integers(3, vocab_size, max(64 * seq_len, 2 * max(spec.search.batch_size) * seq_len))
    data = TokenData(train=TokenStream.from_array(ids.astype(np.int64)),
                     eval=rng.integers(3, vocab_size, spec.data.eval_tokens).astype(np.int64), vocab_size=vocab_size,
                     eos_id=0, pad_id=1, mask_id=2, fingerprint="synthetic", tokenizer_path="")
    try:
        torch.manual_seed(0)
        model = build_model(spec.objective, size, vocab_size=vocab_size, seq_len=seq_len,
                            dropout=spec.training.dropout, special_id=0 if spec.objective == "clm" else 1,
                            tie_embeddings=spec.ladder.tie_embeddings)
        per_step = []
        engine = None
        for batch_size in spec.search.batch_size:
            share = math.ceil(batch_size / size.resources.workers)
            engine = make_engine(model, Hyperparameters(1e-4, share), settings, 10_000, device, 1)
            batches = Batches(data, spec.objective, seq_len, share, torch.Generator().manual_seed(0))
            draws = [split(*batches.next(), rank=0, world=1, micro_batch_size=settings.micro_batch_size,
                           device=device) for _ in range(steps + 1)]
            engine.train_step(draws[0])  # warm-up: allocator, kernels
            per_step.append((batch_size, _seconds(lambda: [engine.train_step(d) for d in draws[1:]], device) / steps))
        assert engine is not None
        windows = EvalWindows(data, spec.objective, seq_len, device)
        eval_seconds = _seconds(lambda: engine.evaluate(windows.batches), device)
    finally:
        torch.set_num_threads(threads)
    trial = [_trial_seconds(spec, b, step, eval_seconds) for b, step in per_step]
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {settings.threads} thread" + (
        "s" if settings.threads > 1 else "")
    return TrialTime(size.name, min(trial), max(trial), "timed", label, tuple(per_step), eval_seconds, note)


def recorded_trial(size: str, rows: Sequence[dict[str, Any]]) -> Optional[TrialTime]:
    """``size``'s pretraining trial as a sweep's records time it: the mean training seconds
    of its trials (pruned and early-stopped ones included, as they will be again), or None if
    it has no record."""
    seconds = [float(r["wall_seconds"]) for r in rows
               if r["size"] == size and r.get("task") is None and r["phase"] in (Phase.SEARCH, Phase.SEED)
               and r["steps"] and r.get("wall_seconds")]
    if not seconds:
        return None
    mean = statistics.fmean(seconds)
    return TrialTime(size, mean, mean, "sweep", f"as recorded ({len(seconds)} trials)")


def _trial_seconds(spec: ExperimentSpec, batch_size: int, step_seconds: float, eval_seconds: float) -> float:
    steps = spec.training.total_steps(batch_size, spec.data.seq_len)
    return steps * step_seconds + math.ceil(steps / spec.training.eval_interval) * eval_seconds


def _seconds(work: Any, device: Any) -> float:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


__all__ = ["TrialTime", "recorded_trial", "time_trial"]
