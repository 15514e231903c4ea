#!/bin/sh
# Device checks of the runtime half on a CUDA machine (see benchmarks/runtime_real/gpu_check.py).
# Usage: sh benchmarks/gpu_check.sh   (from the repository root, with torch+CUDA installed)
set -e
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
exec "$PY" benchmarks/runtime_real/gpu_check.py
