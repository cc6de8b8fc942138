#!/usr/bin/env bash
# The whole GPU check, one script, under 7 minutes on an H100: the GPU tests, then the GPU
# benchmark. Needs no network and no install of raylaws: the wheels missing on the GPU machine
# (pydantic & co, hjson, DeepSpeed; prepared in .whl/) go to /tmp/site. Logs go to $OUT.
#   bash benchmarks/gpu_check.sh            # run from the repository root
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/raylaws-gpu-check}"
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        > "$OUT/install.log" 2>&1 || { echo "wheel install failed; see $OUT/install.log"; }
fi
export PYTHONPATH="/tmp/site:$PWD"
export TOKENIZERS_PARALLELISM=false RAYLAWS_CACHE="${RAYLAWS_CACHE:-/tmp/raylaws-cache}"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
            torch.cuda.get_device_name() if torch.cuda.is_available() else "")' | tee "$OUT/env.log"
start=$SECONDS
timeout 150 python3 -m pytest tests/gpu_tests -m gpu -q -p no:cacheprovider --durations=10 2>&1 | tee "$OUT/pytest.log"
tests_rc=${PIPESTATUS[0]}
echo "gpu tests: rc=$tests_rc in $((SECONDS - start)) s" | tee -a "$OUT/summary.log"
start=$SECONDS
timeout 240 python3 benchmarks/gpu.py 2>&1 | grep -v "^\[.*INFO\]" | tee "$OUT/benchmark.log"
bench_rc=${PIPESTATUS[0]}
echo "gpu benchmark: rc=$bench_rc in $((SECONDS - start)) s" | tee -a "$OUT/summary.log"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
