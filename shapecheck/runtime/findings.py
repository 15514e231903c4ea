"""What the tracer reports: findings, the per-module shape table, and their JSON form.

Kept free of torch so the JSON can be read and rendered without it.
"""

from __future__ import annotations

import linecache
from dataclasses import asdict, dataclass, field
from typing import Any

ERROR, WARNING, INFO = "error", "warning", "info"

#: kind -> (severity, the static rule that catches the same bug before running, if any)
KINDS: dict[str, tuple[str, str | None]] = {
    "device-mismatch": (ERROR, "SC503"),
    "broadcast-trap": (WARNING, "SC102"),
    "host-sync": (WARNING, None),
    "float64": (WARNING, None),
    "grad-mismatch": (ERROR, None),
    "param-without-grad": (WARNING, None),
    "grad-accumulation": (WARNING, "SC201"),
    "train-mode-under-no-grad": (WARNING, "SC210"),
    "backward-in-eval-mode": (WARNING, None),
    "non-finite": (ERROR, None),
    "initial-loss": (WARNING, None),
    "dead-relu": (WARNING, None),
    "softmax-before-cross-entropy": (WARNING, "SC301"),
    "loss-accumulated-with-graph": (WARNING, "SC401"),
    "loss-shape-mismatch": (WARNING, "SC105"),
    "shape-error": (ERROR, "SC101"),
    "dtype-mismatch": (ERROR, None),
    "runtime-error": (ERROR, None),
    "dry-run-unsupported": (INFO, None),
    "dry-run-stopped": (INFO, None),
}


@dataclass
class Finding:
    """One runtime finding, attributed to the user's source line and module path."""

    kind: str
    message: str
    severity: str
    filename: str = ""
    line: int = 0
    module: str = ""  # module path, "Net.encoder.0"
    op: str = ""  # aten op, "aten.sub.Tensor"
    count: int = 1  # how many times it happened at this line
    notes: list[str] = field(default_factory=list)

    @property
    def source(self) -> str:
        if not self.filename or not self.line:
            return ""
        return linecache.getline(self.filename, self.line).strip()

    @property
    def related(self) -> str | None:
        return KINDS.get(self.kind, (WARNING, None))[1]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["source"] = self.source
        data["related_rule"] = self.related
        return data


@dataclass
class ModuleRow:
    """One line of the per-module shape table (first call's shapes, all calls counted)."""

    path: str
    type: str
    calls: int = 0
    inputs: list[str] = field(default_factory=list)
    output: str = ""
    training: bool = True
    stats: dict[str, float] = field(default_factory=dict)  # mean, std, zero_fraction, dead_fraction

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def shown_path(filename: str) -> str:
    """`train.py` for a file under the working directory (as ruff prints paths), else absolute."""
    import os

    try:
        rel = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if rel.startswith("..") else rel


def shape_text(shape: Any) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ("," if len(shape) == 1 else "") + ")"
