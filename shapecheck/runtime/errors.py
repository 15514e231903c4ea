"""`ShapeError`: the one exception the runtime checker raises, and the text it carries.

The message is built so the first line answers "what is wrong, and where": the call site
(file:line of the user's call, not of our wrapper), the function and the argument. The rest
is the detail a person needs to fix it without a debugger:

    model.py:41: attention(): argument 'k': size of dim 'd_model' is 48, but 'd_model' is already 64
      expected: Float[Tensor, 'batch seq d_model']
      actual:   float32 (8, 10, 48)
      dim bindings:
        batch   = 8   (from 'q')
        seq     = 10  (from 'q')
        d_model = 64  (from 'q')
      devices:
        q  cpu
        k  cpu
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class ShapeError(TypeError):
    """A tensor's shape, dtype or device contradicts its jaxtyping annotation.

    A subclass of `TypeError` (like jaxtyping's `TypeCheckError`), so code that already
    catches type errors around annotated calls keeps working.
    """


ShapeError.__module__ = "shapecheck"


@dataclass(frozen=True)
class Binding:
    """One bound dim: its name, its value and the argument that fixed it."""

    name: str
    value: int | tuple[int, ...]
    origin: str


@dataclass
class ShapeReport:
    """Everything `format_report` prints; built only on the failure path."""

    where: str  # "file:line" of the call site
    function: str  # qualified name of the checked function
    subject: str  # "argument 'x'" or "return value"
    reason: str  # "size of dim 'n' is 5, but 'n' is already 3"
    expected: str = ""  # the annotation, as jaxtyping prints it
    actual: str = ""  # "float32 (32, 5)"
    bindings: Sequence[Binding] = field(default_factory=list)
    devices: Mapping[str, str] = field(default_factory=dict)


def _value_text(value: int | tuple[int, ...]) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def format_report(report: ShapeReport) -> str:
    """Render a report as the multi-line message of a `ShapeError`."""
    lines = [f"{report.where}: {report.function}(): {report.subject}: {report.reason}"]
    if report.expected:
        lines.append(f"  expected: {report.expected}")
    if report.actual:
        lines.append(f"  actual:   {report.actual}")
    if report.bindings:
        lines.append("  dim bindings:")
        width = max(len(b.name) for b in report.bindings)
        values = [_value_text(b.value) for b in report.bindings]
        vwidth = max(len(v) for v in values)
        for b, v in zip(report.bindings, values):
            lines.append(f"    {b.name.ljust(width)} = {v.ljust(vwidth)}  (from {b.origin})")
    else:
        lines.append("  dim bindings: (none yet)")
    if report.devices:
        lines.append("  devices:")
        width = max(len(n) for n in report.devices)
        for name, dev in report.devices.items():
            lines.append(f"    {name.ljust(width)}  {dev}")
    return "\n".join(lines)
