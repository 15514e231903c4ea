"""shapecheck: static and runtime tensor-shape and training-loop checks for PyTorch.

`import shapecheck` never imports torch: the runtime names (`check`, `trace`, `ShapeError`)
are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

_RUNTIME = {
    "check": "shapecheck.runtime.decorator",
    "ShapeError": "shapecheck.runtime.errors",
    "trace": "shapecheck.runtime.tracer",
    "dry_run": "shapecheck.runtime.dryrun",
}

__all__ = ["__version__", *_RUNTIME]


def __getattr__(name: str) -> Any:
    if name in _RUNTIME:
        import importlib

        value = getattr(importlib.import_module(_RUNTIME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shapecheck' has no attribute {name!r}")
