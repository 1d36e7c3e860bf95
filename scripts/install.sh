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
    # A local CPU wheel (pip's find-links) first; its dependencies then come from the normal index. Else PyTorch's
    # CPU index, with PyPI for the dependencies. (`--no-index` alone fails: the local folder has torch, not its deps.)
    if "${PIP[@]}" install -q --no-index --no-deps torch==2.13.0 2>/dev/null; then
      "${PIP[@]}" install -q torch==2.13.0
    else
      "${PIP[@]}" install torch --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple
    fi
  fi
fi

if [ "${1:-}" = "--dev" ]; then
  "${PIP[@]}" install -q -e ".[dev]"
  # Browser tests (report, playground) use Debian's headless Chromium; they skip with a reason where it is absent.
  if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "note: could not install chromium; browser tests will be skipped."
  fi
else
  "${PIP[@]}" install -q -e .
fi
echo "taskalign installed in .venv ($(.venv/bin/taskalign --help >/dev/null && echo ok))"
