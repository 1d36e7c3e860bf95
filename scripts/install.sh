#!/usr/bin/env bash
# Install taskalign into ./.venv (README set-up). Usage: bash scripts/install.sh [--dev]
# Without CUDA it installs the CPU build of torch first, so pip never pulls a multi-GB CUDA build;
# a torch that is already importable (a GPU user's own) is kept as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then
    "${PIP[@]}" install "torch>=2.4,<3"
  else
    # The CPU build, pinned: an unpinned torch on a machine without CUDA would pull the multi-GB CUDA build.
    # pip's configured index serves it; TORCH_INDEX_URL names another index (e.g. PyTorch's CPU wheel index).
    "${PIP[@]}" install -q torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  fi
fi

if [ "${1:-}" = "--dev" ]; then
  "${PIP[@]}" install -q -e ".[dev]"
  # DeepSpeed, for the two-process ZeRO-3 test. It builds against the torch installed above (no build isolation, which
  # would fetch a second, CUDA torch), and without its compiled ops: it compiles what a CPU run needs on first use.
  "${PIP[@]}" install -q setuptools wheel
  DS_BUILD_OPS=0 "${PIP[@]}" install -q --no-build-isolation "deepspeed==0.19.8"
  # Browser tests (report, playground) use Debian's headless Chromium: skipped with a reason where it is absent,
  # except under CI (CI=true), where a browser test that cannot run fails.
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "note: could not install chromium; browser tests will be skipped."
  fi
else
  "${PIP[@]}" install -q -e .
fi
echo "taskalign installed in .venv ($(.venv/bin/taskalign --help >/dev/null && echo ok))"
