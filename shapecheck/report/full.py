"""ruff's `full` format: the concise line, the source with a caret under the range, the notes
(the teaching detail: aligned shapes, bound dims, likely intent) and the fix title.

    example.py:3:5: SC101 matmul of (b, 4) @ (5, 2): inner dims differ
      |
    2 | w = torch.randn(5, 2)
    3 | y = x @ w
      |     ^^^^^ SC101
      |
      = note: ...
      = help: ...
"""

from __future__ import annotations

import json
from pathlib import Path

from shapecheck.diagnostics import Diagnostic
from shapecheck.report import Report, Styler
from shapecheck.report.concise import SEVERITY_STYLE, line
from shapecheck.report.summary import summary_lines

CONTEXT = 1  # lines shown above and below the flagged range


def _file_lines(filename: str, cell: int | None) -> tuple[str, ...]:
    try:
        text = Path(filename).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    if cell is None:
        return tuple(text.splitlines())
    try:
        cells = [c for c in json.loads(text).get("cells", []) if c.get("cell_type") == "code"]
        src = cells[cell - 1].get("source", "")
    except (ValueError, AttributeError, IndexError, TypeError):
        return ()
    return tuple(("".join(src) if isinstance(src, list) else str(src)).splitlines())


def snippet(d: Diagnostic, style: Styler, lines: tuple[str, ...]) -> list[str]:
    if not lines or d.location.row > len(lines):
        return []
    first = max(1, d.location.row - CONTEXT)
    last_flagged = min(d.end_location.row, d.location.row + 4, len(lines))
    last = min(len(lines), last_flagged + CONTEXT)
    width = len(str(last))
    gutter = " " * width
    out = [f"{gutter} {style('|', 'blue')}"]
    for row in range(first, last + 1):
        text = lines[row - 1].expandtabs(4) if "\t" in lines[row - 1] else lines[row - 1]
        out.append(f"{style(str(row).rjust(width), 'blue')} {style('|', 'blue')} {style(text.rstrip(), 'default')}".rstrip())
        if row == d.location.row:
            start = d.location.column - 1
            if d.end_location.row == row:
                length = max(1, d.end_location.column - d.location.column)
            else:
                length = max(1, len(text) - start)
            caret = " " * start + "^" * length
            sev = SEVERITY_STYLE.get(d.severity, "bold")  # type: ignore[arg-type]
            out.append(f"{gutter} {style('|', 'blue')} {style(caret + ' ' + d.code, sev)}")
    out.append(f"{gutter} {style('|', 'blue')}")
    return out


def _annotation(label: str, text: str, width: int, style: Styler) -> list[str]:
    """`  = note: first line` with continuation lines aligned under it (`label` is plain text)."""
    head, *rest = text.splitlines() or [""]
    pad = " " * (width + 3 + len(label) + 2)
    styled = style(label, "bold cyan" if label == "help" else "bold")
    return [f"{' ' * width} = {styled}: {style(head, 'default')}"] + [f"{pad}{style(r, 'default')}" for r in rest]


def render(report: Report, style: Styler) -> str:
    out: list[str] = []
    sources: dict[tuple[str, int | None], tuple[str, ...]] = {}  # read each file (cell) once per report
    for d in report.diagnostics:
        out.append(line(report, d, style))
        key = (d.filename, d.cell)
        if key not in sources:
            sources[key] = _file_lines(*key)
        snip = snippet(d, style, sources[key])
        out += snip
        width = len(str(min(d.end_location.row, d.location.row + 4) + CONTEXT)) if snip else 0
        for note in d.notes:
            out += _annotation("note", note, width, style)
        if d.fix is not None and d.fix.message:
            out += _annotation("help", d.fix.message, width, style)
        out.append("")
    out += summary_lines(report, style)
    return "\n".join(out) + "\n"
