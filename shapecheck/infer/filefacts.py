"""What inference reads about one file, as a Protocol: `infer/` never imports `rules/`.

The engine's `shapecheck.rules.base.FileContext` satisfies it; inference produces facts
(`ctx.fact("flow", Flow)`) that the rules then read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import libcst as cst

from shapecheck.names import ImportTable

T = TypeVar("T")


class FileFacts(Protocol):
    """One parsed file, its import table and its lazily computed, shared facts."""

    path: Path
    source: str
    module: cst.Module
    names: ImportTable
    project: Any

    def fact(self, key: str, build: Callable[[Any], T]) -> T: ...

    def qualify(self, node: cst.BaseExpression) -> str | None: ...
