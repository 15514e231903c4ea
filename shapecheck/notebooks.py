"""Jupyter notebooks as one Python source with a line map back to (cell, row).

libcst knows nothing of IPython syntax, so before parsing we keep the line count and blank out
what is not Python: a whole `%%cell magic` cell, `%line magic` and `!shell` lines, and `x = !cmd` /
`x = %magic` assignments (the right side becomes `None`, so `x` stays bound), and `obj?` help
lines. An indented magic becomes `pass` so that its block stays valid. Code cells are joined in
order (cells are numbered like ruff: the first *code* cell is cell 1); markdown and raw cells
are skipped.

    >>> nb = notebook_source('{"cells": [{"cell_type": "code", "source": ["%matplotlib inline\\n", "import torch"]}]}')
    >>> nb.source
    '\\nimport torch\\n'
    >>> nb.cell_row(2)
    (1, 2)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

_ASSIGN_MAGIC = re.compile(r"^(\s*[\w\.\[\]\s,()*]+?\s*=\s*)[!%].*$")
_HELP = re.compile(r"^\s*[\w\.]+\?{1,2}\s*$")


class NotebookError(Exception):
    """The file is not a readable notebook (reported as SC901)."""


@dataclass(frozen=True)
class NotebookSource:
    source: str
    # for each 1-based line of `source`, the (cell, row in cell) it came from; index 0 unused
    line_map: tuple[tuple[int, int], ...]

    def cell_row(self, row: int) -> tuple[int, int]:
        if 1 <= row < len(self.line_map):
            return self.line_map[row]
        return self.line_map[-1] if len(self.line_map) > 1 else (1, max(row, 1))


def _clean_line(line: str) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith(("%", "!")):
        return f"{indent}pass" if indent else ""
    if _HELP.match(line):
        return f"{indent}pass" if indent else ""
    m = _ASSIGN_MAGIC.match(line)
    if m:
        return f"{m.group(1)}None"
    return line


def notebook_source(text: str) -> NotebookSource:
    """The Python source of a notebook's code cells (see the module docstring)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not a valid notebook (invalid JSON: {exc.msg} at line {exc.lineno})") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise NotebookError("not a valid notebook (no `cells` list)")
    lines: list[str] = []
    line_map: list[tuple[int, int]] = [(0, 0)]
    cell_no = 0
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        cell_no += 1
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            raise NotebookError(f"not a valid notebook (cell {cell_no} has no text source)")
        cell_lines = src.splitlines() or [""]
        is_cell_magic = cell_lines[0].lstrip().startswith("%%")
        for row, line in enumerate(cell_lines, start=1):
            lines.append("" if is_cell_magic else _clean_line(line))
            line_map.append((cell_no, row))
    return NotebookSource("\n".join(lines) + "\n" if lines else "", tuple(line_map))
