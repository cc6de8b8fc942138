"""GPU throughput and packing of raylaws trials (one H100/H200; under two minutes).

1. Throughput: tokens/s and MFU of one optimizer step (the loop's own engine, batches drawn
   as in a trial) for the paper's MLM AR-32 sizes (L = 1..8, H = 32 L, 4 heads, seq_len 128,
   vocab 8192) and a BERT-Base-shaped size (L = 12, H = 768, 12 heads, ~85M non-embedding),
   bf16 autocast, torch and (if importable) DeepSpeed. MFU = 6 x all trainable parameters
   (embeddings included) x tokens / seconds / the GPU's dense bf16 peak.
2. Packing: trials per hour on one GPU with 1, 2, 4, 8 trial processes at once, for the four
   smallest sizes (each process trains whole trials with ``train_trial``), and with 1, 2, 4, 8
   trials stacked in one process (``train_stacked``).

    PYTHONPATH=$PWD python benchmarks/gpu.py        # prints 'skipped: no GPU' without CUDA

Synthetic tokens (no data preparation, no ``datasets``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOCAB, SEQ_LEN = 8192, 128
PEAKS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}  # dense bf16 FLOP/s (SXM)


def synthetic_data(tokens: int = 4_000_000) -> Any:
    from raylaws.data import TokenData, TokenStream

    rng = np.random.default_rng(0)
    document = rng.integers(3, VOCAB, 20_000).astype(np.uint16)  # repeated: learnable
    stream = np.tile(document, tokens // document.size)
    return TokenData(train=TokenStream.from_array(stream), eval=stream[: 32 * SEQ_LEN].copy(), vocab_size=VOCAB, eos_id=0, pad_id=1,
                     mask_id=2, fingerprint="synthetic", tokenizer_path="")


def size(layers: int, width: int, heads: int) -> Any:
    from raylaws.ladder import Size, SizeResources

    return Size(name=f"L{layers}-H{width}", n_layers=layers, d_model=width, n_heads=heads, d_ff=4 * width,
                n_params=12 * layers * width**2, n_params_exact=12 * layers * width**2,
                resources=SizeResources(gpus=1.0))


def settings(precision: str = "bf16", max_steps: int = 100, compile: bool = False, **overrides: Any) -> Any:
    """Trial settings; ``precision`` ``bf16-master`` is bf16 with ``training.master_weights``."""
    from raylaws.spec import TrainingSpec
    from raylaws.trial import TrialSettings

    training = TrainingSpec(max_steps=max_steps, eval_interval=max_steps, warmup_steps=10,
                            precision=precision.removesuffix("-master"), master_weights=precision.endswith("-master"),
                            checkpoint_every=None, compile=compile)
    return TrialSettings(objective="mlm", seq_len=SEQ_LEN, training=training, device="cuda", threads=1, **overrides)


def peak_flops() -> tuple[str, float]:
    import torch

    name = torch.cuda.get_device_name()
    for key, peak in PEAKS.items():
        if key in name:
            return name, peak
    return name, PEAKS["H100"]


def throughput(shape: Any, batch_size: int, backend: str, precision: str, steps: int, data: Any,
               compile: bool = False) -> dict[str, Any]:
    """Seconds per optimizer step after warm-up, through the loop's engine and batches."""
    import torch

    from raylaws.train._batches import Batches, split
    from raylaws.train._distributed import ensure_process_group
    from raylaws.train._backends import make_engine
    from raylaws.train._model import build_model
    from raylaws.trial import Hyperparameters

    trial = settings(precision, compile=compile, backend=backend, zero_stage=2 if backend == "deepspeed" else 0)
    if backend == "deepspeed":
        ensure_process_group()
    torch.manual_seed(0)
    model = build_model("mlm", shape, vocab_size=VOCAB, seq_len=SEQ_LEN, special_id=1)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    device = torch.device("cuda", 0)
    engine = make_engine(model, Hyperparameters(1e-4, batch_size), trial, 10_000, device, 1)
    batches = Batches(data, "mlm", SEQ_LEN, batch_size, torch.Generator().manual_seed(0))

    def run(n: int) -> float:
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(n):
            engine.train_step(split(*batches.next(), rank=0, world=1, micro_batch_size=None, device=device))
        torch.cuda.synchronize()
        return time.perf_counter() - start

    run(5)  # warm-up: cuBLAS/cuDNN heuristics, allocator, torch.compile
    seconds = run(steps) / steps
    draw = time.perf_counter()
    for _ in range(steps):
        batches.next()
    draw = (time.perf_counter() - draw) / steps
    engine.close()
    del engine, model
    torch.cuda.empty_cache()
    tokens = batch_size * SEQ_LEN
    return {"params": n_params, "step_ms": 1e3 * seconds, "tokens_per_s": tokens / seconds,
            "flops": 6 * n_params * tokens / seconds, "draw_ms": 1e3 * draw}


def _pack_worker(tasks: Any, results: Any) -> None:
    """One trial process: trains whole trials when told, reports its training seconds."""
    import torch

    from raylaws.train import train_trial
    from raylaws.trial import Hyperparameters

    torch.set_num_threads(1)
    data = synthetic_data(1_000_000)
    train_trial(size(1, 32, 4), Hyperparameters(1e-3, 64), data, settings(max_steps=5), 0)  # CUDA context, kernels
    while True:
        task = tasks.get()
        if task is None:
            return
        layers, steps, batch_size, start_at = task
        time.sleep(max(0.0, start_at - time.time()))
        clock = time.perf_counter()
        train_trial(size(layers, 32 * layers, 4), Hyperparameters(1e-3, batch_size), data, settings(max_steps=steps), 0)
        results.put(time.perf_counter() - clock)


def stacking(sizes: list[int], counts: list[int], steps: int, batch_size: int) -> dict[tuple[int, int], float]:
    """Trials per hour with ``k`` trials of a size stacked in this one process
    (:func:`raylaws.train.train_stacked`: one vmapped forward/backward per step)."""
    from raylaws.train import Member, train_stacked
    from raylaws.trial import Hyperparameters

    data = synthetic_data(1_000_000)
    train_stacked(size(1, 32, 4), [Member(Hyperparameters(1e-3, batch_size), 0)] * 2, data, settings(max_steps=5))
    rates = {}
    for layers in sizes:
        for k in counts:
            members = [Member(Hyperparameters(1e-3 * (1 + i / 10), batch_size), i) for i in range(k)]
            clock = time.perf_counter()
            train_stacked(size(layers, 32 * layers, 4), members, data, settings(max_steps=steps))
            rates[(layers, k)] = k * 3600 / (time.perf_counter() - clock)
    return rates


def packing(sizes: list[int], counts: list[int], steps: int, batch_size: int) -> dict[tuple[int, int], float]:
    """Trials per hour with ``k`` trial processes training at once on one GPU."""
    context = multiprocessing.get_context("spawn")
    queues = [context.Queue() for _ in range(max(counts))]
    results = context.Queue()
    workers = [context.Process(target=_pack_worker, args=(q, results), daemon=True) for q in queues]
    for worker in workers:
        worker.start()
    rates = {}
    try:
        for layers in sizes:
            for k in counts:
                start_at = time.time() + 0.5
                for queue in queues[:k]:
                    queue.put((layers, steps, batch_size, start_at))
                slowest = max(results.get(timeout=600) for _ in range(k))
                rates[(layers, k)] = k * 3600 / slowest
    finally:
        for queue in queues:
            queue.put(None)
        for worker in workers:
            worker.join(timeout=30)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per throughput measurement")
    parser.add_argument("--pack-steps", type=int, default=200, help="optimizer steps of one packed trial")
    parser.add_argument("--base-only", action="store_true", help="only the BERT-Base-shaped size, no packing")
    parser.add_argument("--packing-only", action="store_true", help="only the packing measurement")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("skipped: no GPU")
        return 0
    import importlib.util

    name, peak = peak_flops()
    print(f"device: {name}; MFU against {peak / 1e12:.0f} TFLOP/s dense bf16; torch {torch.__version__}")
    data = synthetic_data()
    backends = ["torch"] + (["deepspeed"] if importlib.util.find_spec("deepspeed") else [])
    rows = [] if args.base_only or args.packing_only else [(size(layers, 32 * layers, 4), 256, "torch", "bf16", False)
                                      for layers in range(1, 9)]
    base = size(12, 768, 12)
    if not args.packing_only:
        rows += [(base, 256, backend, "bf16", False) for backend in backends]
        rows += [(base, 256, "torch", "bf16", True), (base, 512, "torch", "bf16", True),
                 (base, 256, "torch", "bf16-master", False), (base, 256, "torch", "bf16-master", True),
                 (base, 256, "torch", "fp32", False)]
    print(f"{'size':>10} {'params':>11} {'backend':>9} {'prec':>11} {'batch':>5} {'compile':>7} {'ms/step':>8} "
          f"{'tokens/s':>11} {'MFU':>6} {'draw ms':>7}")
    for shape, batch_size, backend, precision, compiled in rows:
        try:
            r = throughput(shape, batch_size, backend, precision, args.steps, data, compile=compiled)
        except Exception as error:  # report and go on: one failing backend must not hide the rest
            print(f"{shape.name:>10} {backend:>9} {precision:>5}: failed: {type(error).__name__}: {error}"[:300])
            continue
        print(f"{shape.name:>10} {r['params']:>11,} {backend:>9} {precision:>11} {batch_size:>5} {str(compiled):>7} "
              f"{r['step_ms']:>8.2f} {r['tokens_per_s']:>11,.0f} {r['flops'] / peak:>6.1%} {r['draw_ms']:>7.2f}")
    print("goal: L12-H768 bf16 >= 45% MFU (torch), DeepSpeed >= 0.9x torch's tokens/s")
    if args.base_only:
        return 0
    counts = [1, 2, 4, 8]
    rates = packing([1, 2, 3, 4], counts, args.pack_steps, 64)
    print(f"packing: trials/hour on one GPU ({args.pack_steps} steps, batch 64, seq {SEQ_LEN}, bf16)")
    print(f"{'size':>10} " + " ".join(f"{k:>8} proc" for k in counts) + "   gain at 8")
    for layers in [1, 2, 3, 4]:
        row = [rates[(layers, k)] for k in counts]
        print(f"{f'L{layers}-H{32 * layers}':>10} " + " ".join(f"{r:>13,.0f}" for r in row) + f"   {row[-1] / row[0]:.1f}x")
    stacked = stacking([1, 2, 3, 4], counts, args.pack_steps, 64)
    print("stacking: trials/hour on one GPU, k trials of a size in one process (train_stacked)")
    print(f"{'size':>10} " + " ".join(f"{k:>7} stack" for k in counts) + "   gain vs 1 process")
    for layers in [1, 2, 3, 4]:
        row = [stacked[(layers, k)] for k in counts]
        print(f"{f'L{layers}-H{32 * layers}':>10} " + " ".join(f"{r:>13,.0f}" for r in row)
              + f"   {max(row) / rates[(layers, 1)]:.1f}x")
    print("goal: L1 >= 8x trials/hour of one process per trial")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
