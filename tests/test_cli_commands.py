"""`shapecheck rule`, `shapes` and `trace`: wiring, arguments handed over, clear errors."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from test_cli_support import FAKE_RULES, fake_rules, invoke, project  # noqa: F401 - fixtures

from shapecheck.diagnostics import RULES


@pytest.mark.usefixtures("fake_rules")
def test_rule_prints_the_rendered_page() -> None:
    from shapecheck.docs import render_page

    code, out, _ = invoke("rule", "SC405")
    assert code == 0 and out == render_page(FAKE_RULES["SC405"])
    assert invoke("rule", "sc405")[1] == out
    assert invoke("rule", "forward-called-directly")[1] == out


@pytest.mark.usefixtures("fake_rules")
def test_rule_without_implementation_prints_its_table_entry() -> None:
    code, out, _ = invoke("rule", "SC101")
    assert code == 0
    assert out == (
        "# shape-mismatch (SC101)\n\nFamily: shape · Severity: error · Default: on\n\n"
        "Operands cannot combine for any sizes.\n\nThis rule is not implemented yet.\n"
    )
    _, out, _ = invoke("rule", "SC902")
    assert "Default: off (opt-in: select it explicitly)" in out and "not implemented" not in out


def test_rule_unknown_and_missing() -> None:
    assert invoke("rule", "SC999") == (2, "", "shapecheck: error: unknown rule 'SC999' (see `shapecheck rule --all`)\n")
    assert invoke("rule")[0] == 2


@pytest.mark.usefixtures("fake_rules")
def test_rule_all_lists_every_code() -> None:
    code, out, _ = invoke("rule", "--all")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["code", "name", "severity", "default", "implemented"]
    assert len(lines) == 1 + len(RULES)
    row = {line.split()[0]: line.split() for line in lines[1:]}
    assert row["SC405"] == ["SC405", "forward-called-directly", "warning", "on", "yes"]
    assert row["SC602"] == ["SC602", "adam-weight-decay", "info", "off", "yes"]
    assert row["SC101"][-1] == "no" and row["SC901"][-1] == "yes"


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    def install(name: str, **attrs: object) -> None:
        module = types.ModuleType(name)
        for key, value in attrs.items():
            setattr(module, key, value)
        monkeypatch.setitem(sys.modules, name, module)

    return install


def test_shapes_hands_over(project: Path, fake_module) -> None:  # noqa: ANN001
    calls = []

    def run_shapes(path: Path, function: str | None, color: bool) -> int:
        calls.append((path, function, color))
        return 0

    fake_module("shapecheck.infer.explain", run_shapes=run_shapes)
    (project / "m.py").write_text("import torch\n")
    assert invoke("shapes", "m.py", "--function", "Model.forward")[0] == 0
    assert calls == [(Path("m.py"), "Model.forward", False)]


def test_shapes_missing_module_and_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "m.py").write_text("import torch\n")
    monkeypatch.setitem(sys.modules, "shapecheck.infer.explain", None)
    code, _, err = invoke("shapes", "m.py")
    assert code == 2 and "shapecheck.infer.explain is missing" in err
    assert invoke("shapes", "nope.py") == (2, "", "shapecheck: error: nope.py: no such file\n")


def test_trace_hands_over_script_arguments(project: Path, fake_module) -> None:  # noqa: ANN001
    calls = []

    def run_trace(script: Path, script_args: list[str], **kw: object) -> int:
        calls.append((script, script_args, kw))
        return 3

    fake_module("shapecheck.runtime.cli", run_trace=run_trace)
    (project / "train.py").write_text("print('hi')\n")
    code, _, _ = invoke("trace", "--dry-run", "--device", "cuda", "--json", "out.json", "train.py",
                        "--epochs", "2", "-v")
    assert code == 3
    assert calls == [(Path("train.py"), ["--epochs", "2", "-v"],
                      {"dry_run": True, "json_path": Path("out.json"), "detect_nan": False, "device": "cuda"})]


def test_trace_missing_module_and_script(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "train.py").write_text("print('hi')\n")
    monkeypatch.setitem(sys.modules, "shapecheck.runtime.cli", None)
    code, _, err = invoke("trace", "train.py")
    assert code == 2 and "shapecheck.runtime.cli is missing" in err
    assert invoke("trace", "nope.py")[0] == 2
