"""One `Diagnostic.to_json()` object per line (ruff's `json-lines`)."""

from __future__ import annotations

import json

from shapecheck.report import Report, Styler


def render(report: Report, style: Styler) -> str:
    return "".join(json.dumps(d.to_json()) + "\n" for d in report.diagnostics)
