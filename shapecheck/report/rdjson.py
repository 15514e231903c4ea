"""reviewdog's Diagnostic Format (rdjson), as ruff writes it: one document, a diagnostic per
finding with its range, severity, code and URL, and each fix's edits as `suggestions` (reviewdog
turns them into suggested changes on a pull request).

Rows and columns are 1-based, the end column exclusive, as in our JSON. Notebook findings carry
cell coordinates in the message and no suggestions (their edits are in cell coordinates).
"""

from __future__ import annotations

import json
from typing import Any

from shapecheck.diagnostics import Location, Severity
from shapecheck.report.gitlab import _undecodable
from shapecheck.report import Report, Styler, location_prefix

SEVERITY = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "INFO"}
URL = "https://github.com/shapecheck/shapecheck"


def _pos(loc: Location) -> dict[str, int]:
    return {"line": loc.row, "column": loc.column}


def render(report: Report, style: Styler) -> str:
    diagnostics: list[dict[str, Any]] = []
    for d in report.diagnostics:
        item: dict[str, Any] = {
            "message": d.message if d.cell is None else f"{location_prefix(d)}: {d.message}",
            "location": {"path": d.filename},
            "severity": SEVERITY.get(d.severity, "ERROR"),  # type: ignore[arg-type]
            "code": {"value": d.code, "url": d.url},
        }
        if d.cell is None:
            item["location"]["range"] = {"start": _pos(d.location), "end": _pos(d.end_location)}
            if d.fix is not None and d.fix.edits and report.fixable(d):
                item["suggestions"] = [
                    {"range": {"start": _pos(e.location), "end": _pos(e.end_location)}, "text": e.content}
                    for e in d.fix.edits
                ]
        diagnostics.append(item)
    doc = {"source": {"name": "shapecheck", "url": URL}, "severity": "WARNING", "diagnostics": diagnostics}
    return json.dumps(doc, indent=2, ensure_ascii=any(_undecodable(d.filename) for d in report.diagnostics)) + "\n"
