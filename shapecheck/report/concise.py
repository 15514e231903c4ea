"""`path:row:col: SC101 [*] error: message`, one line each, then the summary.

ruff's line with the severity added after the code and fix mark (where mypy puts it), so a
problem matcher that reads `path:row:col: CODE` still works.
"""

from __future__ import annotations

from shapecheck.diagnostics import Diagnostic, Severity
from shapecheck.report import Report, Styler, location_prefix
from shapecheck.report.summary import summary_lines


def render(report: Report, style: Styler) -> str:
    lines = [line(report, d, style) for d in report.diagnostics]
    lines += summary_lines(report, style)
    return "\n".join(lines) + "\n"


SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold blue"}


def line(report: Report, d: Diagnostic, style: Styler) -> str:
    fix = " " + style("[*]", "cyan") if report.fixable(d) else ""
    code = style(d.code, SEVERITY_STYLE.get(d.severity or Severity.ERROR, "bold"))
    sev = d.severity or Severity.ERROR
    return (f"{style(location_prefix(d), 'bold')}: {code}{fix} {style(sev.value + ':', SEVERITY_STYLE.get(sev, 'bold'))} "
            f"{style(d.message, 'default')}")
