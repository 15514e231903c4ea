"""Helpers for rule tests: run one rule (or a selection) on a snippet and compare with marks."""

from __future__ import annotations

import textwrap

from shapecheck.diagnostics import Diagnostic
from shapecheck.engine import lint_source
from shapecheck.rules.base import expected_marks


def lint_snippet(source: str, select: list[str] | None = None, filename: str = "example.py") -> list[Diagnostic]:
    return lint_source(filename, textwrap.dedent(source), select)


def found_marks(diagnostics: list[Diagnostic]) -> set[tuple[int, str]]:
    return {(d.location.row, d.code) for d in diagnostics}


def assert_marks(source: str, select: list[str]) -> list[Diagnostic]:
    """The selected rules flag exactly the `# SCxxx`-marked lines of `source` (for those codes)."""
    source = textwrap.dedent(source)
    diagnostics = lint_source("example.py", source, select)
    internal = [d for d in diagnostics if d.code in ("SC901", "SC903")]
    assert not internal, f"example failed to analyse: {internal[0].message}"
    expected = {(row, code) for row, code in expected_marks(source) if code in select}
    found = found_marks(diagnostics)
    assert found == expected, (
        f"\nexpected: {sorted(expected)}\nfound:    {sorted(found)}\n"
        + "\n".join(f"  {d.location.row}:{d.location.column} {d.code} {d.message}" for d in diagnostics)
    )
    return diagnostics
