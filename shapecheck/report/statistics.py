"""`--statistics`: a count per code instead of the diagnostics (ruff's table; JSON for json formats)."""

from __future__ import annotations

import json
from collections import Counter

from shapecheck.diagnostics import RULES
from shapecheck.report import Report


def rows(report: Report) -> list[tuple[str, int, bool]]:
    counts = Counter(d.code for d in report.diagnostics)
    fixable = {d.code for d in report.diagnostics if report.fixable(d)}
    return sorted(((c, n, c in fixable) for c, n in counts.items()), key=lambda r: (-r[1], r[0]))


def render_text(report: Report) -> str:
    table = rows(report)
    if not table:
        return ""
    width = max(len(str(n)) for _, n, _ in table)
    return "".join(
        f"{str(n).rjust(width)}\t{code}\t{'[*]' if fx else '[ ]'} {RULES[code].name}\n" for code, n, fx in table
    )


def render_json(report: Report) -> str:
    return json.dumps(
        [{"code": c, "name": RULES[c].name, "count": n, "fixable": fx} for c, n, fx in rows(report)], indent=2
    ) + "\n"
