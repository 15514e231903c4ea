"""Every INVALID example with an `expected_fixed`: `fix_source` (with unsafe fixes) turns the
example into exactly that, the result parses, the rule no longer fires where the fix applied,
and fixing again changes nothing (idempotence)."""

from __future__ import annotations

import re
import textwrap

import libcst as cst
import pytest

from shapecheck.fix.apply import fix_source
from shapecheck.rules import all_rules

_MARK = re.compile(r"[ \t]*#[ \t]*(?:SC\d{3}[ \t]*)+$", re.MULTILINE)


def without_marks(source: str) -> str:
    """The example's `# SCxxx` marks are test annotations, not part of the expected code."""
    return _MARK.sub("", source)


CASES = [
    pytest.param(code, i, id=f"{code}-INVALID-{i}")
    for code, rule in all_rules().items()
    for i, example in enumerate(rule.INVALID)
    if example.expected_fixed is not None
]


@pytest.mark.parametrize(("code", "index"), CASES)
def test_expected_fixed(code: str, index: int) -> None:
    example = all_rules()[code].INVALID[index]
    assert example.expected_fixed is not None
    source = textwrap.dedent(example.code)
    result = fix_source("example.py", source, [code], unsafe=True)
    assert result.applied, "the fix was not applied"
    assert without_marks(result.source) == without_marks(textwrap.dedent(example.expected_fixed))
    cst.parse_module(result.source)
    assert not [d for d in result.remaining if d.fix is not None], "a fixable finding survived its fix"
    again = fix_source("example.py", result.source, [code], unsafe=True)
    assert again.source == result.source and not again.applied
