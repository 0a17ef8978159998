#!/usr/bin/env bash
# CPU torch (and torchrun) for the `torch`-marked tests: `pfgen run --local`
# launches real distributed jobs. torch==2.13.0 is the CPU wheel this machine
# keeps on disk; any other version pulls a multi-GB CUDA build. numpy silences
# torch's import warning; pytorch-lightning runs the Lightning example (it
# accepts the installed torch, so naming torch==2.13.0 in the same command
# keeps pip from replacing it).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
if "$PY" -c 'import torch, numpy, pytorch_lightning, sys; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  echo "torch 2.13.0, numpy and pytorch-lightning already installed"
  exit 0
fi
"$PY" -m pip install -q torch==2.13.0
"$PY" -m pip install -q torch==2.13.0 numpy 'pytorch-lightning==2.6.6'
"$PY" -c 'import torch, pytorch_lightning; print("torch", torch.__version__, "lightning", pytorch_lightning.__version__)'
