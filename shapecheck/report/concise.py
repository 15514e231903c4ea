"""`path:row:col: SC101 [*] message`, one line each, then ruff's summary."""

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
    return f"{style(location_prefix(d), 'bold')}: {code}{fix} {style(d.message, 'default')}"
