"""Fake rules and helpers for the CLI tests: the real rules are written by others in parallel,
so the CLI is tested against three tiny rules swapped into the registry
(`shapecheck.rules.all_rules`), with real codes from the table:

- SC405 on `m.forward(x)`, with a SAFE fix to `m(x)`;
- SC601 on `nn.init.zeros_(w)`, with an UNSAFE fix to `nn.init.xavier_uniform_(w)`;
- SC602 (off by default) on any call named `Adam(...)` that passes `weight_decay`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import libcst as cst
import pytest
from typer.testing import CliRunner

import shapecheck.rules
from shapecheck.diagnostics import Fix, NodeEdit
from shapecheck.rules.base import LintRule

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


class FakeForward(LintRule):
    CODE = "SC405"

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "forward" and isinstance(func.value, cst.Name):
            self.report(
                node,
                f"`{func.value.value}.forward(...)` skips the module's hooks",
                notes=["call the module itself"],
                fix=Fix.safe("Call the module instead", NodeEdit(func, func.value)),
            )


class FakeConstInit(LintRule):
    CODE = "SC601"

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "zeros_":
            self.report(
                node,
                "weights initialised to a constant",
                fix=Fix.unsafe("Use xavier_uniform_", NodeEdit(func.attr, cst.Name("xavier_uniform_"))),
            )


class FakeAdam(LintRule):
    CODE = "SC602"

    def visit_Call(self, node: cst.Call) -> None:
        if isinstance(node.func, cst.Name) and node.func.value == "Adam":
            if any(a.keyword is not None and a.keyword.value == "weight_decay" for a in node.args):
                self.report(node, "Adam(weight_decay=...) is L2 regularisation")


FAKE_RULES: dict[str, type[LintRule]] = {"SC405": FakeForward, "SC601": FakeConstInit, "SC602": FakeAdam}

BUGGY = """\
import torch
from torch import nn

model = nn.Linear(3, 4)
y = model.forward(torch.zeros(2, 3))
nn.init.zeros_(model.weight)
opt = Adam(model.parameters(), weight_decay=0.1)
"""

CLEAN = """\
import torch
from torch import nn

model = nn.Linear(3, 4)
y = model(torch.zeros(2, 3))
"""


@pytest.fixture
def fake_rules(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[LintRule]]:
    monkeypatch.setattr(shapecheck.rules, "all_rules", lambda: dict(FAKE_RULES))
    return FAKE_RULES


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty project directory as the working directory, with its own cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHAPECHECK_CACHE_DIR", raising=False)
    monkeypatch.delenv("SHAPECHECK_OUTPUT_FORMAT", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield tmp_path


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    from shapecheck.cli import app

    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m shapecheck.cli` in a fresh process (the real registry, no fakes)."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("SHAPECHECK_CACHE_DIR", "NO_COLOR")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "shapecheck.cli", *args],
        cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120,
    )


def test_fake_rules_are_what_the_engine_runs(fake_rules: dict[str, type[LintRule]]) -> None:
    from shapecheck.engine import lint_source

    found = [(d.location.row, d.code) for d in lint_source("m.py", BUGGY, ["SC405", "SC601", "SC602"])]
    assert found == [(5, "SC405"), (6, "SC601"), (7, "SC602")]
    assert lint_source("m.py", CLEAN, list(FAKE_RULES)) == []
