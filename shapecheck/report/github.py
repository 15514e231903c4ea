"""GitHub Actions workflow commands: an annotation per diagnostic on the pull request.

    ::error title=SC101 (shape-mismatch),file=m.py,line=3,col=5,endLine=3,endColumn=10::m.py:3:5: SC101 ...

error/warning/info severities map to `::error`/`::warning`/`::notice`. Values are escaped as the
runner expects (`%`, CR, LF everywhere; `:` and `,` inside properties).
"""

from __future__ import annotations

from shapecheck.diagnostics import Severity
from shapecheck.report import Report, Styler, location_prefix

LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(report: Report, style: Styler) -> str:
    out: list[str] = []
    for d in report.diagnostics:
        level = LEVEL.get(d.severity, "error")  # type: ignore[arg-type]
        title = f"{d.code} ({d.info.name})"
        props = [f"title={escape_property(title)}", f"file={escape_property(d.filename)}"]
        if d.cell is None:
            props += [
                f"line={d.location.row}",
                f"col={d.location.column}",
                f"endLine={d.end_location.row}",
                f"endColumn={d.end_location.column}",
            ]
        else:
            # a notebook: the annotation goes on the line of the .ipynb that holds the cell's
            # line; the message says `cell N:row:col`
            from shapecheck.notebooks import file_row

            props.append(f"line={file_row(d.filename, d.cell, d.location.row)}")
        message = f"{location_prefix(d)}: {d.code} {d.message}"
        out.append(f"::{level} {','.join(props)}::{escape_data(message)}")
    return "".join(line + "\n" for line in out)
