"""SARIF output: valid against the official SARIF 2.1.0 schema (vendored in tests/data, see its
NOTICE) and carrying every field GitHub code scanning requires."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from test_cli_support import BUGGY, DATA, fake_rules, invoke, project  # noqa: F401 - fixtures

from shapecheck.diagnostics import Diagnostic, Location
from shapecheck.report import Report, render

SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def validate(log: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(log)


@pytest.mark.usefixtures("fake_rules")
def test_sarif_from_the_cli_is_schema_valid_and_github_ready(project: Path) -> None:
    (project / "src").mkdir()
    (project / "src" / "m.py").write_text(BUGGY)
    (project / "nb.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": BUGGY}]}))
    code, out, _ = invoke("check", "--no-cache", "--output-format", "sarif")
    assert code == 1
    log = json.loads(out)
    validate(log)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["SC405", "SC601"]
    for r in rules:  # GitHub: id, shortDescription.text, fullDescription.text, help.text required
        assert r["name"] and r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"]
        assert r["helpUri"].endswith(f"rules/{r['id']}.md")
    first = run["results"][0]
    assert first["ruleId"] == "SC405" and first["level"] == "warning"
    assert first["message"]["text"] == "cell 1: `model.forward(...)` skips the module's hooks"
    loc = first["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "nb.ipynb"
    # the notebook is stored on one line: the result points at that line of the file, the cell
    # coordinates go in the properties (cell rows are not lines of the .ipynb)
    assert loc["region"] == {"startLine": 1}
    assert first["properties"] == {"cell": 1, "cellRow": 5, "cellColumn": 5}
    uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]]
    assert "src/m.py" in uris  # relative, forward slashes: what GitHub matches against the repo


def test_sarif_levels_and_uri_escaping() -> None:
    ds = [
        Diagnostic("SC101", "e", "my dir/a.py", Location(1, 1), Location(1, 1)),
        Diagnostic("SC102", "w", "a.py", Location(2, 3), Location(4, 1)),
        Diagnostic("SC212", "i", "a.py", Location(3, 1), Location(3, 5)),
    ]
    log = json.loads(render("sarif", Report(ds)))
    validate(log)
    results = log["runs"][0]["results"]
    assert [r["level"] for r in results] == ["error", "warning", "note"]
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "my%20dir/a.py"
    assert [r["ruleIndex"] for r in results] == [0, 1, 2]


def test_schema_rejects_a_broken_log() -> None:
    """The vendored schema really checks something."""
    log = json.loads(render("sarif", Report([Diagnostic("SC101", "e", "a.py", Location(1, 1), Location(1, 1))])))
    log["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(log)
