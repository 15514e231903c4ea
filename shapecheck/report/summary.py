"""The closing lines of the text formats (ruff's wording)."""

from __future__ import annotations

from shapecheck.diagnostics import Applicability
from shapecheck.report import Report, Styler


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_lines(report: Report, style: Styler) -> list[str]:
    n = len(report.diagnostics)
    if n == 0:
        if report.fixed:
            return [f"Found {plural(report.fixed, 'error')} ({report.fixed} fixed, 0 remaining)."]
        return [style("All checks passed!", "bold green")]
    if report.fixed:
        lines = [f"Found {plural(n + report.fixed, 'error')} ({report.fixed} fixed, {n} remaining)."]
    else:
        lines = [f"Found {plural(n, 'error')}."]
    fixable = sum(1 for d in report.diagnostics if report.fixable(d))
    hidden = sum(
        1 for d in report.diagnostics
        if not report.unsafe_fixes and d.fix is not None and d.fix.edits and d.fix.applicability is Applicability.UNSAFE
    )
    if report.show_fixes_hint and fixable:
        lines.append(f"{style('[*]', 'cyan')} {fixable} fixable with the `--fix` option.")
    if report.show_fixes_hint and hidden:
        lines.append(f"({hidden} hidden fix{'' if hidden == 1 else 'es'} can be enabled with the `--unsafe-fixes` option.)")
    return lines
