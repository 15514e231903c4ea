"""SARIF 2.1.0 for GitHub code scanning (research/linter-anchors.md A4).

One run; `tool.driver.rules` lists every rule that fired, with the fields GitHub requires
(`id`, `name`, `shortDescription`, `fullDescription`, `help`, `helpUri`, default level); each
result has `ruleId`, `ruleIndex`, `level`, `message.text` and one physical location whose URI is
relative to the source root (`%SRCROOT%`), with a 1-based region whose `endColumn` is the column
after the range. The output validates against the official schema (tests/data/).
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

from shapecheck import __version__
from shapecheck.diagnostics import RULES, Severity
from shapecheck.report import Report, Styler

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
PRECISION = {Severity.ERROR: "very-high", Severity.WARNING: "high", Severity.INFO: "medium"}
PROBLEM = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "recommendation"}


def rule_descriptor(code: str) -> dict[str, Any]:
    info = RULES[code]
    summary = info.summary[0].upper() + info.summary[1:]
    return {
        "id": code,
        "name": info.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": f"{info.name} ({code}): {info.summary}."},
        "help": {"text": f"See {info.url}", "markdown": f"[{code} {info.name}]({info.url})"},
        "helpUri": info.url,
        "defaultConfiguration": {"level": LEVEL[info.severity], "enabled": info.default},
        "properties": {
            "tags": [info.family],
            "precision": PRECISION[info.severity],
            "problem.severity": PROBLEM[info.severity],
        },
    }


def render(report: Report, style: Styler) -> str:
    codes = sorted({d.code for d in report.diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for d in report.diagnostics:
        text = d.message if d.cell is None else f"cell {d.cell}: {d.message}"
        if d.cell is None:
            region = {
                "startLine": d.location.row,
                "startColumn": d.location.column,
                "endLine": max(d.end_location.row, d.location.row),
                "endColumn": max(d.end_location.column, 1),
            }
        else:
            # a notebook: the line of the .ipynb file that holds the cell's line (columns inside
            # a JSON string mean nothing to a viewer); the cell coordinates are in the properties
            from shapecheck.notebooks import file_row

            region = {"startLine": file_row(d.filename, d.cell, d.location.row)}
        result: dict[str, Any] = {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": LEVEL.get(d.severity, "error"),  # type: ignore[arg-type]
            "message": {"text": text},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": quote(os.fsencode(d.filename.replace("\\", "/"))), "uriBaseId": "%SRCROOT%"},
                        "region": region,
                    }
                }
            ],
        }
        if d.cell is not None:
            result["properties"] = {"cell": d.cell, "cellRow": d.location.row, "cellColumn": d.location.column}
        results.append(result)
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "shapecheck",
                        "informationUri": "https://github.com/shapecheck/shapecheck",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [rule_descriptor(c) for c in codes],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
