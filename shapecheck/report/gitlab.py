"""GitLab Code Quality report (a JSON list, as ruff's `gitlab` format): shown on merge requests.

    [{"description": "SC101: matmul of ...", "check_name": "SC101", "fingerprint": "…",
      "severity": "major", "location": {"path": "m.py", "lines": {"begin": 3, "end": 3}}}]

Severities: error -> major, warning -> minor, info -> info. The fingerprint hashes the path, the
code and the message (not the row, so a finding keeps its identity when lines move above it),
with a counter for identical findings in one file. A notebook finding points at the line of the
.ipynb that holds the cell's line.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from shapecheck.diagnostics import Severity
from shapecheck.report import Report, Styler, location_prefix

SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}


def render(report: Report, style: Styler) -> str:
    seen: Counter[tuple[str, str, str]] = Counter()
    out = []
    for d in report.diagnostics:
        key = (d.filename, d.code, d.message)
        seen[key] += 1
        fingerprint = hashlib.sha256("\0".join((*key, str(seen[key]))).encode("utf-8", "surrogateescape")).hexdigest()
        if d.cell is None:
            begin, end = d.location.row, max(d.end_location.row, d.location.row)
        else:
            from shapecheck.notebooks import file_row

            begin = end = file_row(d.filename, d.cell, d.location.row)
        description = f"{d.code}: {d.message}" if d.cell is None else f"{d.code}: {location_prefix(d)}: {d.message}"
        out.append({
            "description": description,
            "check_name": d.code,
            "fingerprint": fingerprint,
            "severity": SEVERITY.get(d.severity, "major"),  # type: ignore[arg-type]
            "location": {"path": d.filename, "lines": {"begin": begin, "end": end}},
        })
    return json.dumps(out, indent=2, ensure_ascii=any(_undecodable(d.filename) for d in report.diagnostics)) + "\n"


def _undecodable(name: str) -> bool:
    """A file name that is not valid UTF-8 (a lone surrogate in Python): written as a `\\udcXX`
    escape, so that the report stays valid UTF-8 JSON."""
    return any("\udc80" <= ch <= "\udcff" for ch in name)
