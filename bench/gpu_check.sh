#!/usr/bin/env bash
# One short Ray Tune search with fractional GPUs on a machine with an NVIDIA GPU (bench/gpu_check.py).
# Needs the project's venv (`make setup`) and nvidia-smi; not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nvidia-smi >/dev/null || { echo "gpu_check: no nvidia-smi here: run it on a machine with an NVIDIA GPU" >&2; exit 2; }
nvidia-smi -L
PYTHONPATH="$PWD" exec .venv/bin/python bench/gpu_check.py "$@"
