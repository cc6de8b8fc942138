"""The data path at scale: preparation speed and memory, finding a prepared corpus, a trial's cost.

On generated text (slices of this Python's standard library sources, resampled with a fixed
seed into JSONL files of at most 256 MiB; no download) at each of ``--sizes`` GiB, run alone:

* ``prepare_vs_raw``: the tokens/s of ``raylaws.data.prepare`` (a fresh cache, its default
  workers) over the tokens/s of the bare ``tokenizers`` ``encode_batch`` on the same files,
  streamed in batches of 256 documents (its own Rust threads on every core), in the same run.
  Both use one given tokenizer (a byte-level BPE of 8,192 tokens trained once on the standard
  library), so this times the reading and encoding, not BPE training, which is timed apart
  (``bpe_train_seconds`` on ``--bpe-sample`` MiB). Goal >= 0.8 on 2 cores.
* ``prepare_peak_rss_mb``: the peak resident memory of the preparing process and its workers,
  sampled every 0.1 s. Goal <= 1,536 MB at every size (it must not grow with the corpus).
* ``core_scaling``: at the smallest size, the tokens/s of the preparation on every core over
  its tokens/s held to one core (``taskset -c 0``): how it grows with cores.
* ``find_seconds``: ``prepare`` of the already prepared corpus in a fresh process (imports
  excluded). Goal < 2 s at the largest size.
* ``trial_rss_added_mb`` and ``batch_ms``: a trial's resident memory added by opening a
  ``--stream-tokens`` stream of ids (generated directly into a uint16 ``.bin``) and drawing
  1,000 batches of 32 x 1,024 tokens, and the median time to draw one. Goals <= 100 MB, <= 1 ms.

Prints one ``name=value`` line per figure (sizes in the name, as ``_0.5gb``).

Usage:
    python benchmarks/data.py                        # 0.5 and 4 GiB, a 2B-token stream: ~1 h on 2 cores
    python benchmarks/data.py --sizes 0.25 1         # smaller
    python benchmarks/data.py --smoke-test           # seconds; checks the benchmark itself runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FILE_BYTES = 256 << 20


def generate_corpus(folder: Path, total_bytes: int, seed: int = 0) -> int:
    """JSONL files of documents sliced from the standard library's sources; returns documents."""
    import numpy as np

    sources = [p.read_text(encoding="utf-8", errors="replace")
               for p in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")) if p.stat().st_size > 2000]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written, documents, number = 0, 0, 0
    handle = None
    while written < total_bytes:
        if handle is None or handle.tell() >= FILE_BYTES:
            if handle is not None:
                handle.close()
            handle = open(folder / f"part-{number:04d}.jsonl", "w", encoding="utf-8")
            number += 1
        text = sources[int(rng.integers(len(sources)))]
        start = int(rng.integers(len(text)))
        piece = text[start:start + int(rng.integers(1_000, 20_000))]
        line = json.dumps({"text": f"# document {documents}\n{piece}"}) + "\n"
        handle.write(line)
        written += len(line)
        documents += 1
    if handle is not None:
        handle.close()
    return documents


def train_tokenizer(path: Path, sample_mib: int) -> float:
    """A byte-level BPE of 8,192 tokens on ``sample_mib`` MiB of the standard library; its seconds."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    texts, size = [], 0
    for file in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        text = file.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        size += len(text)
        if size >= sample_mib << 20:
            break
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    started = time.perf_counter()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=8192, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    seconds = time.perf_counter() - started
    tokenizer.save(str(path))
    return seconds


RAW = """
import json, sys, time
from pathlib import Path
from tokenizers import Tokenizer
tokenizer = Tokenizer.from_file(sys.argv[2])
started, tokens, batch = time.perf_counter(), 0, []
for file in sorted(Path(sys.argv[1]).glob("*.jsonl")):
    with open(file, encoding="utf-8") as handle:
        for line in handle:
            batch.append(json.loads(line)["text"])
            if len(batch) == 256:
                tokens += sum(len(e.ids) + 1 for e in tokenizer.encode_batch(batch))
                batch = []
if batch:
    tokens += sum(len(e.ids) + 1 for e in tokenizer.encode_batch(batch))
print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - started}))
"""

PREPARE = """
import json, sys, time
from raylaws.data import prepare
from raylaws.spec import DataSpec
spec = DataSpec.model_validate_json(sys.argv[1])
started = time.perf_counter()
data = prepare(spec)
print(json.dumps({"tokens": len(data.train) + len(data.eval), "seconds": time.perf_counter() - started}))
"""

TRIAL = """
import json, statistics, sys, time
import psutil, torch
process = psutil.Process()
from raylaws.data import prepare
from raylaws.spec import DataSpec
from raylaws.train._batches import Batches
spec = DataSpec.model_validate_json(sys.argv[1])
prepare(spec)  # validated once (reads the ids), as the driver would before any trial
import gc; gc.collect()
before = process.memory_info().rss
data = prepare(spec)  # what a trial holds: the stream, opened
batches = Batches(data, "clm", 1024, 32, torch.Generator().manual_seed(0))
times = []
for _ in range(1000):
    started = time.perf_counter()
    batches.next()
    times.append(time.perf_counter() - started)
print(json.dumps({"added": process.memory_info().rss - before, "batch_ms": statistics.median(times) * 1e3,
                  "tokens": len(data.train)}))
"""


def run_measured(script: str, *args: str, env: dict[str, str],
                 prefix: tuple[str, ...] | list[str] = ()) -> tuple[dict[str, Any], float]:
    """Run a Python snippet; return its JSON line and the peak RSS (MB) of it and its children."""
    import psutil

    child = subprocess.Popen([*prefix, sys.executable, "-c", script, *args], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, text=True)
    peak = [0]

    def sample() -> None:
        root = psutil.Process(child.pid)
        while child.poll() is None:
            try:
                total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
            except psutil.Error:
                continue
            peak[0] = max(peak[0], total)
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = child.communicate()
    sampler.join()
    if child.returncode:
        raise SystemExit(f"a measured step failed (exit {child.returncode})")
    return json.loads(output.strip().splitlines()[-1]), peak[0] / 2**20


def generate_ids(path: Path, count: int) -> None:
    import numpy as np

    ids = np.memmap(path, dtype=np.uint16, mode="w+", shape=(count,))
    rng = np.random.default_rng(0)
    step = 1 << 26
    for start in range(0, count, step):
        chunk = rng.integers(0, 50_256, size=min(step, count - start), dtype=np.uint16)
        chunk[rng.random(len(chunk)) < 0.002] = 50_256  # documents of ~500 ids
        ids[start:start + len(chunk)] = chunk
    ids.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=float, nargs="+", default=[0.5, 4.0], help="GiB of text")
    parser.add_argument("--stream-tokens", type=float, default=2e9, help="ids in the trial's stream")
    parser.add_argument("--bpe-sample", type=int, default=64, help="MiB of text the timed BPE training reads")
    parser.add_argument("--keep", type=Path, default=None, help="generate the corpora here and keep them")
    parser.add_argument("--no-scaling", action="store_true", help="skip the one-core preparation")
    parser.add_argument("--smoke-test", action="store_true")
    args = parser.parse_args()
    if args.smoke_test:
        args.sizes, args.stream_tokens, args.bpe_sample = [0.002, 0.004], 2e6, 1
    scratch = Path(tempfile.mkdtemp(prefix="raylaws-data-bench-"))
    work = args.keep or scratch
    try:
        tokenizer = work / "tokenizer.json"
        print(f"bpe_train_seconds={train_tokenizer(tokenizer, args.bpe_sample):.1f}", flush=True)
        for size in args.sizes:
            name = f"{size:g}gb"
            corpus = work / f"corpus-{name}"
            if not corpus.is_dir():
                print(f"documents_{name}={generate_corpus(corpus, int(size * 2**30))}", flush=True)
            env = {**os.environ, "RAYLAWS_CACHE": str(scratch / f"cache-{name}")}
            spec = json.dumps({"source": str(corpus), "tokenizer": {"kind": "file", "path": str(tokenizer)},
                               "seq_len": 1024, "eval_tokens": 65_536})
            raw, _ = run_measured(RAW, str(corpus), str(tokenizer), env=env)
            prepared, peak = run_measured(PREPARE, spec, env=env)
            found, _ = run_measured(PREPARE, spec, env=env)
            raw_rate, rate = raw["tokens"] / raw["seconds"], prepared["tokens"] / prepared["seconds"]
            print(f"raw_tokens_per_s_{name}={raw_rate:,.0f}", flush=True)
            print(f"prepare_tokens_per_s_{name}={rate:,.0f}", flush=True)
            print(f"prepare_seconds_{name}={prepared['seconds']:.1f}", flush=True)
            print(f"tokens_{name}={prepared['tokens']}", flush=True)
            print(f"prepare_vs_raw_{name}={rate / raw_rate:.3f}", flush=True)
            print(f"prepare_peak_rss_mb_{name}={peak:,.0f}", flush=True)
            print(f"find_seconds_{name}={found['seconds']:.3f}", flush=True)
            shutil.rmtree(scratch / f"cache-{name}", ignore_errors=True)
            if size == min(args.sizes) and not args.no_scaling and shutil.which("taskset"):
                # the same preparation held to one core (one worker process): how it grows with cores
                one, _ = run_measured(PREPARE, spec, env=env, prefix=["taskset", "-c", "0"])
                print(f"prepare_tokens_per_s_1core_{name}={one['tokens'] / one['seconds']:,.0f}", flush=True)
                print(f"core_scaling_{name}={rate / (one['tokens'] / one['seconds']):.2f}", flush=True)
                shutil.rmtree(scratch / f"cache-{name}", ignore_errors=True)
        ids = scratch / "stream.bin"
        generate_ids(ids, int(args.stream_tokens))
        spec = json.dumps({"source": str(ids), "tokens": {"vocab_size": 50_257, "eos_id": 50_256, "dtype": "uint16"},
                           "tokenizer": {"kind": "none"}, "seq_len": 1024, "eval_tokens": 65_536})
        trial, _ = run_measured(TRIAL, spec, env={**os.environ, "RAYLAWS_CACHE": str(scratch / "cache-stream")})
        print(f"stream_tokens={trial['tokens']}")
        print(f"trial_rss_added_mb={trial['added'] / 2**20:.1f}")
        print(f"batch_ms={trial['batch_ms']:.3f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
