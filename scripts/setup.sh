#!/usr/bin/env bash
# Development/CI set-up: a .venv with the CPU build of torch pinned (this path only; the package
# itself accepts any torch >= 2.2), then raylaws in editable mode with its test extras.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first: an unpinned torch (asked for by transformers or raylaws) would pull a multi-GB CUDA build.
.venv/bin/python -m pip install -q "torch==2.13.0"
# DeepSpeed's setup.py imports torch, so it builds against the venv's torch (no isolated build);
# its ops are compiled on first use. The same as `pip install --no-build-isolation raylaws[deepspeed]`.
.venv/bin/python -m pip install -q --no-build-isolation "deepspeed>=0.14"
.venv/bin/python -m pip install -q -e ".[dev]"
# Headless Chromium renders the HTML report in tests/report_tests (Debian package `chromium`);
# skipped when present, and where there is no apt-get (the test then skips, saying why).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
echo "raylaws is set up in .venv ($(.venv/bin/python -c 'import raylaws; print(raylaws.__version__)'))"
