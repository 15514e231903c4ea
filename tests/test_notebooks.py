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
    assert out.splitlines()[0] == "nb.ipynb:cell 2:3:5: SC405 `model.forward(...)` skips the module's hooks"
    _, out, _ = invoke("check", "--no-cache", "--output-format", "json")
    d = json.loads(out)[0]
    assert (d["cell"], d["location"], d["end_location"], d["fix"]) == (
        2, {"row": 3, "column": 5}, {"row": 3, "column": 37}, None)  # no fixes written into notebooks
    _, out, _ = invoke("check", "--no-cache", "--output-format", "github")
    assert "file=nb.ipynb,line=3,col=5" in out and "nb.ipynb:cell 2:3:5: SC405" in out
    _, out, _ = invoke("check", "--no-cache", "--output-format", "junit")
    assert "nb.ipynb:cell 2:3:5: SC405" in out
    _, out, _ = invoke("check", "--no-cache", "--output-format", "full")
    assert "3 | y = model.forward(torch.zeros(2, 3))" in out  # the cell's own lines, numbered in the cell


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
    assert lines[0] == "a.ipynb:cell 2:1:5: SC901 could not parse the file: '(' was never closed"
    assert lines[1] == "b.ipynb:1:1: SC901 could not read the notebook: not a valid notebook (invalid JSON: " \
        "Expecting ',' delimiter at line 1)"


@pytest.mark.usefixtures("fake_rules")
def test_fix_leaves_notebooks_alone(project: Path) -> None:
    path = make_notebook(project / "nb.ipynb", [("code", "import torch\ny = m.forward(x)")])
    before = path.read_text()
    assert invoke("check", "--no-cache", "--fix")[0] == 1
    assert path.read_text() == before
