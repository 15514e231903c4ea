#!/bin/sh
# Device checks on a CUDA machine: the runtime half on real models (benchmarks/runtime_real/gpu_check.py)
# and every CUDA-only test (they skip elsewhere), among them the SC701/SC705 confirmations with
# torch.cuda.set_sync_debug_mode("error") in tests/test_stall_rules.py.
# Usage: sh benchmarks/gpu_check.sh   (from the repository root, with torch+CUDA installed)
set -e
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -m pytest -q -rs tests/test_stall_rules.py tests/test_runtime_dryrun.py -k "cuda"
exec "$PY" benchmarks/runtime_real/gpu_check.py
