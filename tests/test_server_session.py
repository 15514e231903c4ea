"""The language server's logic in-process (no LSP): hover text, the name under the cursor,
noqa edits, inlay hints, and dependents re-checked when a file they call into is saved."""

from __future__ import annotations

from pathlib import Path

from shapecheck.diagnostics import Diagnostic, Location
from shapecheck.server.session import ClientSettings, Session, _name_at, rule_page

MODEL = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 5)

    def forward(self, x):
        h = self.fc(x)
        return h


def run():
    x = torch.zeros(8, 3)
    out = Net()(x)
    return out
"""


def test_name_at_the_cursor() -> None:
    line = "    h = self.fc(x) + y.mean()"
    assert _name_at(line, line.index("fc")) == "self.fc"
    assert _name_at(line, line.index("self")) == "self"
    assert _name_at(line, line.index("h")) == "h"
    assert _name_at(line, line.index("mean") + 1) == "y.mean"
    assert _name_at(line, line.index("(")) is None or _name_at(line, line.index("(")) == "self.fc"
    assert _name_at("    ", 2) is None


def test_hover_shapes_in_the_enclosing_function(tmp_path: Path) -> None:
    session = Session(tmp_path)
    path = tmp_path / "m.py"
    lines = MODEL.splitlines()
    row = lines.index("    out = Net()(x)") + 1
    assert "out: (8, 5)" in (session.hover(path, MODEL, row, 6) or "")
    # `x` in `run` is the (8, 3) of this function, not `forward`'s parameter
    assert "x: (8, 3)" in (session.hover(path, MODEL, row, len("    out = Net()(") + 1) or "")
    # nothing for a name with no inferred shape, a keyword or a blank line
    assert session.hover(path, MODEL, 1, 1) is None
    assert session.hover(path, MODEL, 4, 1) is None
    # a buffer that does not parse mid-edit: no hover, no exception
    assert session.hover(path, MODEL + "def broken(:\n", row, 6) is None


def test_hover_on_an_annotated_parameter(tmp_path: Path) -> None:
    text = ('from jaxtyping import Float\nfrom torch import Tensor\nimport torch\n\n'
            'def mse(pred: Float[Tensor, "n 1"], target: Float[Tensor, "n"], k: int):\n'
            '    return pred - target\n')
    session = Session(tmp_path)
    # on the parameter itself: its annotation read as a shape
    hover = session.hover(tmp_path / "m.py", text, 5, text.splitlines()[4].index("pred") + 2)
    assert hover is not None and "pred: (n, 1)" in hover and 'Float[Tensor, \'n 1\']' in hover
    assert session.hover(tmp_path / "m.py", text, 5, text.splitlines()[4].index("k:") + 1) is None
    # on a use and on an expression: what the interpreter evaluated there
    assert "pred: (n, 1)" in (session.hover(tmp_path / "m.py", text, 6, 13) or "")
    assert "target: (n)" in (session.hover(tmp_path / "m.py", text, 6, 20) or "")
    assert "pred - target: (n, n)" in (session.hover(tmp_path / "m.py", text, 6, 17) or "")


def test_hover_on_an_expression(tmp_path: Path) -> None:
    text = "import torch\n\ndef f():\n    y = torch.zeros(8, 3) @ torch.ones(3, 5)\n    return y.sum(0)\n"
    session = Session(tmp_path)
    line = text.splitlines()[3]
    assert "torch.zeros(8, 3) @ torch.ones(3, 5): (8, 5)" in (session.hover(tmp_path / "m.py", text, 4, line.index("@") + 1) or "")
    assert "torch.ones(3, 5): (3, 5)" in (session.hover(tmp_path / "m.py", text, 4, line.index("ones") + 1) or "")
    assert "y.sum(0): (5)" in (session.hover(tmp_path / "m.py", text, 5, text.splitlines()[4].index("(0)") + 1) or "")


def test_hover_on_noqa_codes_only_in_comments(tmp_path: Path) -> None:
    session = Session(tmp_path)
    text = 'x = 1  # noqa: SC102, SC201\ns = "# noqa: SC102"\n'
    page = session.hover(tmp_path / "m.py", text, 1, text.index("SC201") + 2)
    assert page is not None and "missing-zero-grad (SC201)" in page
    assert session.hover(tmp_path / "m.py", text, 2, text.splitlines()[1].index("SC102") + 2) is None
    assert rule_page("SC999") is None


def test_noqa_line_merges_codes(tmp_path: Path) -> None:
    text = "import torch\ny = a @ b  # noqa: SC2\n"
    d = Diagnostic("SC101", "m", "m.py", Location(2, 5), Location(2, 10))
    assert Session.noqa_line(text, d) == (2, "y = a @ b  # noqa: SC2, SC101")


def test_inlay_hints_off_by_default(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    assert Session(tmp_path).inlay_hints(path, MODEL, 1, 100) == []
    hints = Session(tmp_path, ClientSettings(inlay_hints=True)).inlay_hints(path, MODEL, 1, 100)
    rows = {row: (col, label) for row, col, label in hints}
    row = MODEL.splitlines().index("    x = torch.zeros(8, 3)") + 1
    assert rows[row][0] == 6 and rows[row][1].startswith(": (8, 3)")


def test_client_settings_from_json() -> None:
    s = ClientSettings.from_json({"shapecheck": {"inlayHints": True, "unsafeFixes": "yes"}})
    assert (s.inlay_hints, s.unsafe_fixes) == (True, False)
    assert ClientSettings.from_json(None) == ClientSettings()


def test_dependents_are_rechecked_when_a_callee_is_saved(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    layers = tmp_path / "pkg" / "layers.py"
    layers.write_text("import torch\n\ndef widen(x):\n    return torch.cat([x, x], dim=1)\n")
    main = tmp_path / "pkg" / "main.py"
    main_text = (
        "import torch\nfrom pkg.layers import widen\n\n"
        "def run():\n    x = torch.zeros(4, 3)\n    y = widen(x)\n    return y @ torch.ones(6, 2)\n"
    )
    main.write_text(main_text)
    session = Session(tmp_path)
    assert [d.code for d in session.lint(main, main_text)] == []
    assert layers in session._analyses[main].deps
    # the callee changes on disk: the caller is stale and now wrong
    layers.write_text("import torch\n\ndef widen(x):\n    return torch.cat([x, x, x], dim=1)\n")
    assert session.saved(layers, [main, layers]) == [main]
    assert [d.code for d in session.lint(main, main_text)] == ["SC101"]


def test_config_error_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.shapecheck]\nselekt = 1\n")
    session = Session(tmp_path)
    assert session.lint(tmp_path / "m.py", "import torch\n") == []
    assert session.config_error is not None and "selekt" in session.config_error


def test_opening_a_file_check_already_saw_is_a_cache_lookup(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import json
    import os
    import subprocess
    import sys

    import shapecheck.runner as runner

    path = tmp_path / "m.py"
    path.write_text("import torch\nx = torch.zeros(3) + torch.zeros(4)\n")
    (tmp_path / "other.py").write_text("import torch\n")
    from shapecheck.cache import analysis_hash

    monkeypatch.delenv("SHAPECHECK_CACHE_DIR", raising=False)
    for _ in range(3):  # the key covers the package's source: retry if it is edited meanwhile
        analysis_hash.cache_clear()
        before = analysis_hash()
        proc = subprocess.run([sys.executable, "-m", "shapecheck.cli", "check", "--output-format", "json", "."],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120, env=dict(os.environ))
        analysis_hash.cache_clear()
        if analysis_hash() == before:
            break
    expected = [(d["code"], d["location"]["row"]) for d in json.loads(proc.stdout)]
    assert expected == [("SC101", 2)]

    def no_lint(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("analysed instead of read from the cache")

    monkeypatch.setattr(runner, "check_source", no_lint)
    session = Session(tmp_path)
    assert [(d.code, d.location.row) for d in session.lint(path, path.read_text())] == expected
    # an edited buffer is analysed (and not from the cache)
    monkeypatch.undo()
    assert session.lint(path, path.read_text() + "y = 1\n")[0].code == "SC101"
