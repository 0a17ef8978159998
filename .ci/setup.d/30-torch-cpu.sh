#!/usr/bin/env bash
# CPU torch (and torchrun) for the end-to-end tests marked `torch`: the runtime
# contract's 2x2 torchrun run and the tuning example's trial with the PeriFlow SDK.
# Idempotent; the version is pinned to the CPU wheel this machine provides.
set -euo pipefail
cd "$(dirname "$0")/../.."
if .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") else 1)' 2>/dev/null; then
  exit 0
fi
.venv/bin/python -m pip install -q 'torch==2.13.0'
