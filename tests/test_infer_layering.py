"""Inference produces facts, rules read them: no module under `shapecheck/infer/` imports
`shapecheck.rules` (DESIGN.md section 4 of STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

INFER = Path(__file__).resolve().parent.parent / "shapecheck" / "infer"


def test_infer_never_imports_rules() -> None:
    offenders = []
    for path in sorted(INFER.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n == "shapecheck.rules" or n.startswith("shapecheck.rules.")]
    assert offenders == []
