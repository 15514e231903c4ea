"""The closing lines of the text formats: ruff's, counted by severity.

    Found 2 errors and 1 warning.
    Found 1 info.
    Found 3 findings (1 fixed, 2 remaining: 1 error and 1 warning).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from shapecheck.diagnostics import Applicability, Diagnostic, Severity
from shapecheck.report import Report, Styler


def plural(n: int, word: str) -> str:
    if word == "info":  # an uncountable: "1 info", "2 info"
        return f"{n} info"
    return f"{n} {word}{'' if n == 1 else 's'}"


def by_severity(diagnostics: Iterable[Diagnostic]) -> str:
    """`2 errors, 1 warning and 1 info` (only the severities present)."""
    counts = Counter((d.severity or d.info.severity) for d in diagnostics)
    parts = [plural(counts[s], s.value) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO) if counts[s]]
    if len(parts) <= 1:
        return parts[0] if parts else "0 findings"
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def summary_lines(report: Report, style: Styler) -> list[str]:
    if not report.show_summary:
        return []
    n = len(report.diagnostics)
    if n == 0:
        if report.fixed:
            return [f"Found {plural(report.fixed, 'finding')} ({report.fixed} fixed, 0 remaining)."]
        return [style("All checks passed!", "bold green")]
    if report.fixed:
        lines = [f"Found {plural(n + report.fixed, 'finding')} ({report.fixed} fixed, {n} remaining: "
                 f"{by_severity(report.diagnostics)})."]
    else:
        lines = [f"Found {by_severity(report.diagnostics)}."]
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
