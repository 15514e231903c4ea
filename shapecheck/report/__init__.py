"""Output formats, one module each. A renderer turns diagnostics into text and recomputes nothing.

`render(name, report)` dispatches; the text formats (`concise`, `full`) may colour through a
`Styler`, machine formats never do.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from shapecheck.diagnostics import Applicability, Diagnostic

FORMATS = ("concise", "full", "json", "json-lines", "sarif", "github", "gitlab", "rdjson", "junit")
TEXT_FORMATS = ("concise", "full")


@dataclass
class Report:
    """What every renderer may read."""

    diagnostics: list[Diagnostic]
    files: list[str] = field(default_factory=list)  # displayed names of every checked file
    unsafe_fixes: bool = False
    fixed: int = 0
    show_fixes_hint: bool = True
    fixed_diagnostics: list[Diagnostic] = field(default_factory=list)
    show_summary: bool = True  # `-q`: the findings only

    def fixable(self, d: Diagnostic) -> bool:
        """Whether `[*]` is shown: a fix that `--fix` (with the current unsafe setting) applies."""
        if d.fix is None or not d.fix.edits:
            return False
        return d.fix.applicability is Applicability.SAFE or (
            self.unsafe_fixes and d.fix.applicability is Applicability.UNSAFE
        )


class Styler:
    """Plain text; `RichStyler` wraps spans in rich markup for a terminal."""

    color = False

    def __call__(self, text: str, style: str) -> str:
        return text


class RichStyler(Styler):
    color = True

    def __call__(self, text: str, style: str) -> str:
        from rich.markup import escape

        return f"[{style}]{escape(text)}[/]" if text else text


def location_prefix(d: Diagnostic) -> str:
    """`path:row:col` (`path:cell 2:row:col` in a notebook, as ruff writes it)."""
    cell = f"cell {d.cell}:" if d.cell is not None else ""
    return f"{d.filename}:{cell}{d.location.row}:{d.location.column}"


def render(name: str, report: Report, styler: Styler | None = None) -> str:
    module = importlib.import_module(f"shapecheck.report.{name.replace('-', '_')}")
    return module.render(report, styler or Styler())
