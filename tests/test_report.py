"""Every output format on a tiny input, pinned as exact text (snapshot style)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_cli_support import BUGGY, fake_rules, invoke, project  # noqa: F401 - fixtures

from shapecheck.diagnostics import Applicability, Diagnostic, Edit, Fix, Location
from shapecheck.report import Report, RichStyler, render

pytestmark = pytest.mark.usefixtures("fake_rules", "project")


@pytest.fixture
def buggy(project: Path) -> Path:
    path = project / "m.py"
    path.write_text(BUGGY, encoding="utf-8")
    return path


def check(*args: str) -> str:
    code, out, _ = invoke("check", "--no-cache", *args)
    assert code == 1
    return out


def test_concise(buggy: Path) -> None:
    assert check("--output-format", "concise") == (
        "m.py:5:5: SC405 [*] warning: `model.forward(...)` skips the module's hooks\n"
        "m.py:6:1: SC601 warning: weights initialised to a constant\n"
        "Found 2 warnings.\n"
        "[*] 1 fixable with the `--fix` option.\n"
        "(1 hidden fix can be enabled with the `--unsafe-fixes` option.)\n"
    )


def test_full_shows_source_caret_notes_and_fix_title(buggy: Path) -> None:
    assert check("--output-format", "full", "--select", "SC405") == (
        "m.py:5:5: SC405 [*] warning: `model.forward(...)` skips the module's hooks\n"
        "  |\n"
        "4 | model = nn.Linear(3, 4)\n"
        "5 | y = model.forward(torch.zeros(2, 3))\n"
        "  |     " + "^" * 32 + " SC405\n"
        "6 | nn.init.zeros_(model.weight)\n"
        "  |\n"
        "  = note: call the module itself\n"
        "  = help: Call the module instead\n"
        "\n"
        "Found 1 warning.\n"
        "[*] 1 fixable with the `--fix` option.\n"
    )


def test_full_multiline_note_is_indented(project: Path) -> None:
    (project / "a.py").write_text("import torch\nx = a @ b\n")
    d = Diagnostic("SC101", "matmul of (b, 4) @ (5, 2): inner dims differ", "a.py", Location(2, 5), Location(2, 10),
                   notes=["  (b, 4)\n@    (5, 2)\n     ^ 4 != 5"])
    assert render("full", Report([d])).splitlines()[1:9] == [
        "  |",
        "1 | import torch",
        "2 | x = a @ b",
        "  |     ^^^^^ SC101",
        "  |",
        "  = note:   (b, 4)",
        "          @    (5, 2)",
        "               ^ 4 != 5",
    ]


def test_github(buggy: Path) -> None:
    assert check("--output-format", "github") == (
        "::warning title=SC405 (forward-called-directly),file=m.py,line=5,col=5,endLine=5,endColumn=37::"
        "m.py:5:5: SC405 `model.forward(...)` skips the module's hooks\n"
        "::warning title=SC601 (constant-weight-init),file=m.py,line=6,col=1,endLine=6,endColumn=29::"
        "m.py:6:1: SC601 weights initialised to a constant\n"
    )


def test_github_escapes_and_levels() -> None:
    d = Diagnostic("SC101", "100% wrong\nsecond line", "dir,x/a:b.py", Location(1, 1), Location(1, 2))
    i = Diagnostic("SC212", "info", "a.py", Location(1, 1), Location(1, 2))
    assert render("github", Report([d, i])) == (
        "::error title=SC101 (shape-mismatch),file=dir%2Cx/a%3Ab.py,line=1,col=1,endLine=1,endColumn=2::"
        "dir,x/a:b.py:1:1: SC101 100%25 wrong%0Asecond line\n"
        "::notice title=SC212 (eval-without-no-grad),file=a.py,line=1,col=1,endLine=1,endColumn=2::"
        "a.py:1:1: SC212 info\n"
    )


def test_junit(buggy: Path, project: Path) -> None:
    (project / "ok.py").write_text("import torch\n")
    out = check("--output-format", "junit")
    assert out == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<testsuites name="shapecheck" tests="2" failures="1" errors="0">\n'
        '  <testsuite name="shapecheck" tests="2" failures="1" errors="0" skipped="0">\n'
        '    <testcase name="m.py" classname="shapecheck">\n'
        '      <failure message="SC405 `model.forward(...)` skips the module\'s hooks" type="SC405">'
        "m.py:5:5: SC405 `model.forward(...)` skips the module's hooks\ncall the module itself</failure>\n"
        '      <failure message="SC601 weights initialised to a constant" type="SC601">'
        "m.py:6:1: SC601 weights initialised to a constant</failure>\n"
        "    </testcase>\n"
        '    <testcase name="ok.py" classname="shapecheck"/>\n'
        "  </testsuite>\n"
        "</testsuites>\n"
    )
    ET.fromstring(out)  # well-formed


def test_junit_escapes_markup() -> None:
    d = Diagnostic("SC101", 'a < b & "c"', "a.py", Location(1, 1), Location(1, 2))
    root = ET.fromstring(render("junit", Report([d], files=["a.py"])))
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None and failure.get("message") == 'SC101 a < b & "c"'


def test_json_has_ruff_field_names(buggy: Path) -> None:
    data = json.loads(check("--output-format", "json"))
    assert data[0] == {
        "code": "SC405",
        "name": "forward-called-directly",
        "message": "`model.forward(...)` skips the module's hooks",
        "severity": "warning",
        "filename": "m.py",
        "location": {"row": 5, "column": 5},
        "end_location": {"row": 5, "column": 37},
        "fix": {
            "applicability": "safe",
            "message": "Call the module instead",
            "edits": [{"content": "model", "location": {"row": 5, "column": 5},
                       "end_location": {"row": 5, "column": 18}}],
        },
        "noqa_row": 5,
        "url": "https://github.com/shapecheck/shapecheck/blob/main/rules/SC405.md",
        "cell": None,
        "notes": ["call the module itself"],
    }
    assert data[1]["fix"]["applicability"] == "unsafe"


def test_json_lines(buggy: Path) -> None:
    lines = check("--output-format", "json-lines").splitlines()
    assert [json.loads(line)["location"] for line in lines] == [{"row": 5, "column": 5}, {"row": 6, "column": 1}]


def test_machine_formats_on_no_findings_are_valid_documents(project: Path) -> None:
    (project / "m.py").write_text("import torch\n")
    assert invoke("check", "--no-cache", "--output-format", "json") == (0, "[]\n", "")
    assert invoke("check", "--no-cache", "--output-format", "json-lines") == (0, "", "")
    assert invoke("check", "--no-cache", "--output-format", "github") == (0, "", "")
    code, out, _ = invoke("check", "--no-cache", "--output-format", "sarif")
    assert code == 0 and json.loads(out)["runs"][0]["results"] == []


def test_rich_styler_colours_and_escapes_markup() -> None:
    d = Diagnostic("SC101", "x[bold] broke", "a.py", Location(1, 1), Location(1, 2))
    text = render("concise", Report([d]), RichStyler())
    assert "[bold red]SC101[/]" in text and "x\\[bold] broke" in text


def test_no_colour_when_not_a_terminal(buggy: Path) -> None:
    assert "\x1b[" not in check("--output-format", "full")


def test_fixable_marker_follows_unsafe_setting() -> None:
    fix = Fix(Applicability.UNSAFE, "m", [], [Edit("x", Location(1, 1), Location(1, 2))])
    d = Diagnostic("SC101", "m", "a.py", Location(1, 1), Location(1, 2), fix=fix)
    assert "[*]" not in render("concise", Report([d])).splitlines()[0]
    assert "[*]" in render("concise", Report([d], unsafe_fixes=True)).splitlines()[0]
    display = Fix(Applicability.DISPLAY_ONLY, "m", [], [Edit("x", Location(1, 1), Location(1, 2))])
    d.fix = display
    assert "[*]" not in render("concise", Report([d], unsafe_fixes=True))


def test_full_with_colour_escapes_source_and_notes(project: Path) -> None:
    from rich.console import Console

    (project / "a.py").write_text("import torch\ny = x[bold] @ w[0]\n")
    d = Diagnostic("SC101", "bad [red]", "a.py", Location(2, 5), Location(2, 18), notes=["x[bold] is (b, 3)"])
    text = render("full", Report([d]), RichStyler())
    console = Console(record=True, width=200, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(text, end="", highlight=False, soft_wrap=True)
    plain = console.export_text()
    assert "2 | y = x[bold] @ w[0]" in plain
    assert "= note: x[bold] is (b, 3)" in plain
    assert "SC101 error: bad [red]" in plain
