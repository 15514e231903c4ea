"""Every fixture under fixtures/, linted with every default rule: buggy files are flagged exactly
on their `# SCxxx`-marked lines, clean files (realistic, often unannotated code) produce nothing.

Running all rules on all fixtures is the false-positive guard: a rule that fires on another
family's clean training script fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shapecheck.diagnostics import RULES
from shapecheck.engine import lint_source
from shapecheck.rules import all_rules
from shapecheck.rules.base import expected_marks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEFAULT = [code for code in all_rules() if RULES[code].default]
FILES = sorted(p for p in FIXTURES.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_fixture(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    diagnostics = lint_source(str(path), source, DEFAULT)
    found = {(d.location.row, d.code) for d in diagnostics}
    expected = {(row, code) for row, code in expected_marks(source) if code in DEFAULT}
    if path.parent.name == "clean":
        assert not expected_marks(source), "clean fixtures carry no marks"
    report = "\n".join(f"  {d.location.row}:{d.location.column} {d.code} {d.message}" for d in diagnostics)
    assert found == expected, f"\nexpected {sorted(expected)}\nfound    {sorted(found)}\n{report}"


def test_there_are_fixtures() -> None:
    assert any(p.parent.name == "buggy" for p in FILES) and any(p.parent.name == "clean" for p in FILES)
