"""Every rule's VALID and INVALID examples, executed (Fixit's style): the docs cannot lie."""

from __future__ import annotations

import pytest

from shapecheck.docs import PAGES_DIR, README, TABLE_START, expected_pages, readme_with_table
from shapecheck.rules import all_rules
from shapecheck.testing import assert_marks

CASES = [
    pytest.param(code, kind, i, id=f"{code}-{kind}-{i}")
    for code, rule in all_rules().items()
    for kind, examples in (("VALID", rule.VALID), ("INVALID", rule.INVALID))
    for i in range(len(examples))
]


@pytest.mark.parametrize(("code", "kind", "index"), CASES)
def test_example(code: str, kind: str, index: int) -> None:
    rule = all_rules()[code]
    example = getattr(rule, kind)[index]
    diagnostics = assert_marks(example.code, [code])
    if kind == "INVALID":
        assert diagnostics, "an INVALID example must be flagged at least once"


@pytest.mark.parametrize("code", list(all_rules()))
def test_rule_has_examples_and_docs(code: str) -> None:
    rule = all_rules()[code]
    assert rule.VALID and rule.INVALID, f"{code} needs VALID and INVALID examples"
    doc = rule.__doc__ or ""
    for heading in ("## What it does", "## Why is this bad?"):
        assert heading in doc, f"{code} docstring lacks {heading!r}"


def test_rule_pages_are_current() -> None:
    for name, text in expected_pages().items():
        path = PAGES_DIR / name
        assert path.exists() and path.read_text(encoding="utf-8") == text, (
            f"rules/{name} is stale: run `python -m shapecheck.docs`"
        )


def test_readme_rule_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert TABLE_START in text
    assert readme_with_table(text) == text, "the README's rule table is stale: run `python -m shapecheck.docs`"
