"""A baseline for a legacy codebase: record today's findings once, then report only new ones.

    shapecheck check --baseline .shapecheck-baseline.json    # first run: records, exits 0
    shapecheck check --baseline .shapecheck-baseline.json    # later runs: only new findings

A finding is identified by its file (relative to the baseline file's folder), its code and the
text of the line it starts on (whitespace-trimmed), not by its row: adding a line above an old
finding does not make it new, while a second identical finding on another line is new (entries
are counted, as basedpyright and mypy-baseline do). Fixing old findings never fails a run; the
file can be re-recorded with `--update-baseline`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from shapecheck.config import ConfigError
from shapecheck.diagnostics import Diagnostic

VERSION = 1


def _key(d: Diagnostic, base: Path, cwd: Path, lines: dict[str, list[str]]) -> tuple[str, str, str]:
    path = (cwd / d.filename).resolve()
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        rel = path.as_posix()
    if d.cell is not None:
        return (rel, d.code, f"cell {d.cell}: {d.message}")
    if d.filename not in lines:
        try:
            lines[d.filename] = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            lines[d.filename] = []
    text = lines[d.filename]
    line = text[d.location.row - 1].strip() if 0 < d.location.row <= len(text) else d.message
    return (rel, d.code, line)


def record(path: Path, diagnostics: Sequence[Diagnostic], cwd: Path) -> int:
    base = path.resolve().parent
    lines: dict[str, list[str]] = {}
    entries = [
        {"file": f, "code": c, "line": t}
        for f, c, t in sorted(_key(d, base, cwd, lines) for d in diagnostics if d.code != "SC903")
    ]
    data = {"version": VERSION, "tool": "shapecheck", "findings": entries}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the baseline {path}: {exc.strerror or exc}") from None
    return len(entries)


def load(path: Path) -> Counter[tuple[str, str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["findings"]
        if data.get("version") != VERSION or not isinstance(entries, list):
            raise ValueError("unknown version")
        return Counter((str(e["file"]), str(e["code"]), str(e["line"])) for e in entries)
    except OSError as exc:
        raise ConfigError(f"cannot read the baseline {path}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, RecursionError):
        raise ConfigError(f"{path}: not a shapecheck baseline (re-record it with --update-baseline)") from None


def filter_new(path: Path, diagnostics: Sequence[Diagnostic], cwd: Path) -> tuple[list[Diagnostic], int]:
    """The diagnostics not in the baseline, and how many were matched by it."""
    remaining = load(path)
    base = path.resolve().parent
    lines: dict[str, list[str]] = {}
    out: list[Diagnostic] = []
    matched = 0
    for d in diagnostics:
        key = _key(d, base, cwd, lines)
        if d.code != "SC903" and remaining[key] > 0:
            remaining[key] -= 1
            matched += 1
            continue
        out.append(d)
    return out, matched
