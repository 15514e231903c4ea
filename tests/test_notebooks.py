"""Notebooks: code cells joined with a line map, IPython syntax blanked, `cell` in every format."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from test_cli_support import fake_rules, invoke, project  # noqa: F401 - fixtures

from shapecheck.notebooks import NotebookError, notebook_source


def make_notebook(path: Path, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    for kind, src in cells:
        nb.cells.append(nbformat.v4.new_code_cell(src) if kind == "code" else nbformat.v4.new_markdown_cell(src))
    nbformat.write(nb, str(path))
    return path


def test_magics_and_shell_lines_are_blanked_with_the_line_count_kept() -> None:
    text = json.dumps({"cells": [
        {"cell_type": "code", "source": ["%matplotlib inline\n", "!pip install torch\n", "import torch"]},
        {"cell_type": "markdown", "source": "# title"},
        {"cell_type": "code", "source": "%%time\nx = torch.zeros(3)\n"},
        {"cell_type": "code", "source": "files = !ls\nfor f in files:\n    %time run(f)\ntorch.zeros?\n"},
    ]})
    nb = notebook_source(text)
    assert nb.source.splitlines() == [
        "", "", "import torch",
        "", "",
        "files = None", "for f in files:", "    pass", "",
    ]
    assert nb.cell_row(3) == (1, 3)
    assert nb.cell_row(5) == (2, 2)
    assert nb.cell_row(8) == (3, 3)


@pytest.mark.parametrize("text", ["{not json", '{"cells": 3}', "[]"])
def test_invalid_notebooks(text: str) -> None:
    with pytest.raises(NotebookError):
        notebook_source(text)


@pytest.mark.usefixtures("fake_rules")
def test_diagnostics_carry_cell_and_row_in_every_format(project: Path) -> None:
    make_notebook(project / "nb.ipynb", [
        ("markdown", "# Training"),
        ("code", "%load_ext autoreload\nimport torch\nfrom torch import nn"),
        ("code", "model = nn.Linear(3, 4)\n\ny = model.forward(torch.zeros(2, 3))"),
    ])
    code, out, _ = invoke("check", "--no-cache")
    assert code == 1
    assert out.splitlines()[0] == "nb.ipynb:cell 2:3:5: SC405 [*] warning: `model.forward(...)` skips the module's hooks"
    _, out, _ = invoke("check", "--no-cache", "--output-format", "json")
    d = json.loads(out)[0]
    assert (d["cell"], d["location"], d["end_location"], d["noqa_row"]) == (
        2, {"row": 3, "column": 5}, {"row": 3, "column": 37}, 3)
    # the fix is in cell coordinates
    assert d["fix"]["edits"] == [{"content": "model", "location": {"row": 3, "column": 5},
                                  "end_location": {"row": 3, "column": 18}}]
    # github/sarif/gitlab point at the line of the .ipynb file that holds the cell's line
    stored = (project / "nb.ipynb").read_text().splitlines()
    json_line = next(i for i, line in enumerate(stored, 1) if "model.forward(torch.zeros(2, 3))" in line)
    _, out, _ = invoke("check", "--no-cache", "--output-format", "github")
    assert f"file=nb.ipynb,line={json_line}::" in out and "nb.ipynb:cell 2:3:5: SC405" in out
    _, out, _ = invoke("check", "--no-cache", "--output-format", "sarif")
    result = json.loads(out)["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": json_line}
    assert result["properties"] == {"cell": 2, "cellRow": 3, "cellColumn": 5}
    _, out, _ = invoke("check", "--no-cache", "--output-format", "gitlab")
    assert json.loads(out)[0]["location"] == {"path": "nb.ipynb", "lines": {"begin": json_line, "end": json_line}}
    _, out, _ = invoke("check", "--no-cache", "--output-format", "junit")
    assert "nb.ipynb:cell 2:3:5: SC405" in out
    _, out, _ = invoke("check", "--no-cache", "--output-format", "full")
    assert "3 | y = model.forward(torch.zeros(2, 3))" in out  # the cell's own lines, numbered in the cell


def test_messages_cite_cell_and_line() -> None:
    nb = notebook_source(json.dumps({"cells": [
        {"cell_type": "code", "source": "import torch\nopt.step()\n"},
        {"cell_type": "code", "source": "a = 1\nloss.backward()\n"},
    ]}))
    assert nb.remap("runs before backward() (`loss.backward()`, line 4) in each iteration") == \
        "runs before backward() (`loss.backward()`, cell 2, line 2) in each iteration"
    assert nb.remap("line 99 and pipeline 3") == "line 99 and pipeline 3"  # out of range / not a reference


def test_real_rule_message_in_a_notebook_cites_the_cell(tmp_path: Path) -> None:
    from test_cli_support import run_cli

    make_notebook(tmp_path / "nb.ipynb", [
        ("code", "import torch\nfrom torch import nn\nmodel = nn.Linear(3, 1)\n"
                 "opt = torch.optim.SGD(model.parameters(), lr=0.1)"),
        ("markdown", "## train"),
        ("code", "for x, y in loader:\n    loss = ((model(x) - y) ** 2).mean()\n    loss.backward()\n"
                 "    opt.zero_grad()\n    opt.step()"),
    ])
    out = run_cli("check", "--no-cache", "--output-format", "json", "nb.ipynb", cwd=tmp_path).stdout
    found = [d for d in json.loads(out) if d["code"] == "SC202"]
    assert found and (found[0]["cell"], found[0]["location"]["row"]) == (2, 4)
    # the joined source has backward() on line 7 and step() on line 9: the message cites the cell
    assert "(cell 2, line 3)" in found[0]["message"] and "(cell 2, line 5)" in found[0]["message"]
    assert "line 7" not in found[0]["message"] and "line 9" not in found[0]["message"]


@pytest.mark.usefixtures("fake_rules")
def test_noqa_in_a_cell(project: Path) -> None:
    make_notebook(project / "nb.ipynb", [("code", "import torch\ny = m.forward(x)  # noqa: SC405")])
    assert invoke("check", "--no-cache")[:2] == (0, "All checks passed!\n")


@pytest.mark.usefixtures("fake_rules")
def test_syntax_error_in_a_cell_and_a_broken_notebook(project: Path) -> None:
    make_notebook(project / "a.ipynb", [("code", "import torch"), ("code", "x = (")])
    (project / "b.ipynb").write_text('{"cells": [ "torch"')
    code, out, _ = invoke("check", "--no-cache")
    lines = out.splitlines()
    assert code == 1
    assert lines[0] == "a.ipynb:cell 2:1:5: SC901 error: could not parse the file: '(' was never closed"
    assert lines[1] == "b.ipynb:1:1: SC901 error: could not read the notebook: not a valid notebook (invalid JSON: " \
        "Expecting ',' delimiter at line 1)"


@pytest.mark.usefixtures("fake_rules")
def test_fix_writes_into_the_cells_and_keeps_magics(project: Path) -> None:
    path = make_notebook(project / "nb.ipynb", [
        ("code", "%matplotlib inline\nimport torch\ny = m.forward(x)"),
        ("markdown", "text: m.forward(x)"),
        ("code", "!nvidia-smi\nz = n.forward(y)  # keep"),
    ])
    before = nbformat.read(str(path), as_version=4)
    stored = path.read_text()
    code, out, err = invoke("check", "--no-cache", "--diff")
    assert code == 1 and path.read_text() == stored  # --diff writes nothing
    assert "--- a/nb.ipynb:cell 1" in out and "+y = m(x)" in out and "+z = n(y)  # keep" in out
    assert err == "Would fix 2 findings.\n"
    code, out, _ = invoke("check", "--no-cache", "--fix")
    assert (code, out) == (0, "Found 2 findings (2 fixed, 0 remaining).\n")
    after = nbformat.read(str(path), as_version=4)  # still a valid notebook
    assert [c.source for c in after.cells] == [
        "%matplotlib inline\nimport torch\ny = m(x)", "text: m.forward(x)", "!nvidia-smi\nz = n(y)  # keep"]
    assert after.metadata == before.metadata and [c.id for c in after.cells] == [c.id for c in before.cells]


@pytest.mark.usefixtures("fake_rules")
def test_fix_never_touches_a_blanked_magic_line(project: Path) -> None:
    from shapecheck.diagnostics import Diagnostic, Edit, Fix, Location, Applicability

    text = json.dumps({"cells": [{"cell_type": "code", "source": "x = !ls\ny = m.forward(x)\n"}]})
    nb = notebook_source(text)
    d = Diagnostic("SC405", "m", "nb.ipynb", Location(1, 1), Location(1, 4),
                   fix=Fix(Applicability.SAFE, "t", [], [Edit("z", Location(1, 1), Location(1, 2))]))
    assert nb.localize(d).fix is None  # row 1 was `x = !ls`, blanked to `x = None`


def test_json_rows_point_into_the_stored_file() -> None:
    from shapecheck.notebooks import json_rows

    lines = json.dumps({"cells": [
        {"cell_type": "markdown", "source": ["x = 1\n"]},  # the same text in a markdown cell first
        {"cell_type": "code", "source": ["import torch\n", "x = 1\n"]},
        {"cell_type": "code", "source": "y = 2\nz = 3\n"},  # one string: both rows on its line
    ]}, indent=1)
    stored = lines.splitlines()
    rows = json_rows(lines)
    assert stored[rows[(1, 2)] - 1].strip() == '"x = 1\\n"' and rows[(1, 2)] == rows[(1, 1)] + 1
    assert rows[(1, 2)] > next(i for i, line in enumerate(stored, 1) if '"code"' in line)
    assert rows[(2, 1)] == rows[(2, 2)] and '"y = 2' in stored[rows[(2, 1)] - 1]


def test_shapes_renders_cells(tmp_path: Path) -> None:
    from test_cli_support import run_cli

    make_notebook(tmp_path / "nb.ipynb", [
        ("code", "%matplotlib inline\nimport torch"),
        ("markdown", "# md"),
        ("code", "x = torch.zeros(8, 3)\ny = x @ torch.ones(3, 5)"),
    ])
    proc = run_cli("shapes", "nb.ipynb", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:3] == ["# %% cell 1", "%matplotlib inline", "import torch"]
    assert lines[3] == "# %% cell 2"
    assert lines[4].startswith("x = torch.zeros(8, 3)") and "# x: (8, 3) float32" in lines[4]
    assert "# y: (8, 5) float32" in lines[5]
    assert '"cell_type"' not in proc.stdout
