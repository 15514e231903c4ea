"""A JSON list of `Diagnostic.to_json()` objects: ruff's field names, 1-based rows and columns."""

from __future__ import annotations

import json

from shapecheck.report import Report, Styler


def render(report: Report, style: Styler) -> str:
    return json.dumps([d.to_json() for d in report.diagnostics], indent=2) + "\n"
