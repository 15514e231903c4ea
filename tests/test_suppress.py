"""Suppression comments (found with tokenize) and per-file-ignores."""

from __future__ import annotations

import textwrap

import pytest

from shapecheck.diagnostics import RULES, Diagnostic, Location
from shapecheck.suppress import PerFileIgnores, Suppressions, add_noqa, apply_suppressions

SELECTED = frozenset(c for c, i in RULES.items() if i.default) | {"SC902"}


def diag(code: str, row: int, col: int = 1) -> Diagnostic:
    return Diagnostic(code, "m", "a.py", Location(row, col), Location(row, col + 1))


def kept(source: str, diagnostics: list[Diagnostic], **kw: object) -> list[tuple[int, str]]:
    out = apply_suppressions(textwrap.dedent(source), diagnostics, **kw)  # type: ignore[arg-type]
    return [(d.location.row, d.code) for d in out]


@pytest.mark.parametrize(
    ("comment", "suppressed"),
    [
        ("# noqa: SC101", True),
        ("# noqa:SC101", True),
        ("# NOQA: sc101", True),
        ("# noqa: SC102, SC101", True),
        ("# noqa: SC102 SC101", True),
        ("# noqa: SC1", True),  # a prefix
        ("# noqa", True),  # blanket
        ("# noqa: SC102", False),
        ("# noqa: E501", False),
        ("# shapecheck: ignore[SC101]", True),
        ("# shapecheck: ignore[SC102, SC101]", True),
        ("# shapecheck: ignore", True),
        ("# shapecheck: ignore[SC102]", False),
        ("# type: ignore  # noqa: SC101", True),
        ("# not a noqa", False),
    ],
)
def test_line_directives(comment: str, suppressed: bool) -> None:
    source = f"x = a @ b  {comment}\n"
    assert kept(source, [diag("SC101", 1)]) == ([] if suppressed else [(1, "SC101")])


def test_noqa_inside_a_string_does_not_count() -> None:
    source = 's = "# noqa: SC101"; x = a @ b\n'
    assert kept(source, [diag("SC101", 1, 22)]) == [(1, "SC101")]


def test_only_the_start_line_of_a_multiline_statement() -> None:
    source = """\
    y = f(  # noqa: SC101
        a @ b,
    )
    z = g(
        a @ b,
    )  # noqa: SC101
    """
    # the first diagnostic starts on line 1: suppressed; the second starts on line 4: not
    assert kept(source, [diag("SC101", 1), diag("SC101", 4)]) == [(4, "SC101")]


def test_diagnostic_inside_a_multiline_string_is_suppressed_at_its_end() -> None:
    source = '''\
    x = f("""
    text
    """)  # noqa: SC101
    '''
    assert kept(source, [diag("SC101", 2)]) == []


def test_own_line_ignore_applies_to_the_next_code_line() -> None:
    source = """\
    # shapecheck: ignore[SC201]

    for x in loader:
        pass
    """
    assert kept(source, [diag("SC201", 3), diag("SC201", 4)]) == [(4, "SC201")]


def test_file_level_noqa() -> None:
    assert kept("# shapecheck: noqa\nx = 1\n", [diag("SC101", 2), diag("SC201", 2)]) == []
    source = "# shapecheck: noqa: SC2\nx = 1\n"
    assert kept(source, [diag("SC101", 2), diag("SC201", 2)]) == [(2, "SC101")]
    # trailing code it is this line's noqa (issue 13: it used to be silently ignored)
    assert kept("x = 1  # shapecheck: noqa\ny = 2\n", [diag("SC101", 1), diag("SC101", 2)]) == [(2, "SC101")]
    assert kept("x = 1  # shapecheck: noqa: SC2\n", [diag("SC101", 1), diag("SC201", 1)]) == [(1, "SC101")]


def test_noqa_row_of_a_finding_in_a_multiline_string() -> None:
    source = 'x = f("""\n{a @ b}\n""")\ny = 1\n'
    out = apply_suppressions(source, [diag("SC101", 2), diag("SC101", 4)])
    assert [(d.location.row, d.noqa_row) for d in out] == [(2, 3), (4, None)]
    assert [d.to_json()["noqa_row"] for d in out] == [3, 4]


@pytest.mark.parametrize(
    ("source", "codes", "expected", "n"),
    [
        ("x = a @ b\n", {1: ["SC101"]}, "x = a @ b  # noqa: SC101\n", 1),
        ("x = a @ b  # keep\r\n", {1: ["SC102", "SC101"]}, "x = a @ b  # keep  # noqa: SC101, SC102\r\n", 1),
        ("x = a @ b  # noqa: SC2\n", {1: ["SC101", "SC201"]}, "x = a @ b  # noqa: SC2, SC101\n", 1),
        ("x = a @ b  # noqa\n", {1: ["SC101"]}, "x = a @ b  # noqa\n", 0),
        ("x = a + \\\n  b\n", {1: ["SC102"]}, "x = a + \\\n  b\n", 0),
        ('s = """\n{x}\n"""\n', {2: ["SC101"]}, 's = """\n{x}\n"""  # noqa: SC101\n', 1),
    ],
)
def test_add_noqa(source: str, codes: dict[int, list[str]], expected: str, n: int) -> None:
    diags = apply_suppressions(source, [diag(c, row) for row, cs in codes.items() for c in cs])
    new, changed = add_noqa(source, diags)
    assert (new, changed) == (expected, n)
    # what it added silences exactly those findings
    assert apply_suppressions(new, diags) == ([] if n else diags)


def test_flake8_file_noqa_is_not_honoured() -> None:
    assert kept("# flake8: noqa\nx = 1\n", [diag("SC101", 2)]) == [(2, "SC101")]


def test_internal_errors_are_never_suppressed() -> None:
    assert kept("# shapecheck: noqa\n", [diag("SC903", 1)]) == [(1, "SC903")]
    assert kept("x = 1\n", [diag("SC903", 1)], file_ignores=("SC9",)) == [(1, "SC903")]


def test_source_that_does_not_tokenize_keeps_earlier_comments() -> None:
    source = "x = a @ b  # noqa: SC101\ny = (\n"
    assert kept(source, [diag("SC101", 1), diag("SC901", 2)]) == [(2, "SC901")]


def test_per_file_ignores_match_relative_path_or_name() -> None:
    pfi = PerFileIgnores([("tests/**", ["SC2"]), ("conftest.py", ["SC1"]), ("scripts/*.py", ["SC405"])])
    assert pfi.codes_for("tests/unit/test_a.py") == ("SC2",)
    assert pfi.codes_for("pkg/conftest.py") == ("SC1",)
    assert pfi.codes_for("scripts/run.py") == ("SC405",)
    assert pfi.codes_for("pkg/model.py") == ()
    assert kept("x = 1\n", [diag("SC201", 1), diag("SC101", 1)], file_ignores=("SC2",)) == [(1, "SC101")]


def test_unused_suppression_sc902() -> None:
    source = """\
    x = a @ b  # noqa: SC101, SC102, E501
    y = 1  # noqa: SC101
    z = 2  # noqa
    # shapecheck: ignore[SC201]
    w = 3
    v = 4  # noqa: SC602, SC999
    """
    out = apply_suppressions(textwrap.dedent(source), [diag("SC101", 1)], selected=SELECTED, filename="a.py")
    assert [(d.location.row, d.location.column, d.message) for d in out] == [
        (1, 12, "unused `# noqa` directive (unused: SC102)"),
        (2, 8, "unused `# noqa` directive (unused: SC101)"),
        (4, 1, "unused `# shapecheck: ignore` directive (unused: SC201)"),
        (6, 8, "unused `# noqa` directive (non-enabled: SC602; unknown: SC999)"),
    ]
    assert all(d.code == "SC902" for d in out)


def test_sc902_only_when_selected() -> None:
    out = apply_suppressions("y = 1  # noqa: SC101\n", [], selected=SELECTED - {"SC902"})
    assert out == []


def test_directive_records_what_it_suppressed() -> None:
    sup = Suppressions.from_source("x = 1  # noqa: SC1, SC2\n")
    assert sup.suppressed_by(diag("SC101", 1)) is sup.directives[0]
    assert sup.directives[0].used == {"SC1"}
