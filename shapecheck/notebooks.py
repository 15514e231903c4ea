r"""Jupyter notebooks as one Python source with a line map back to (cell, row), and back again:
diagnostics in cell coordinates, fixes written into cells, and where a cell line sits in the
notebook's JSON (for SARIF and GitHub annotations, which point into the file as stored).

libcst knows nothing of IPython syntax, so before parsing we keep the line count and blank out
what is not Python: a whole `%%cell magic` cell, `%line magic` and `!shell` lines, and `x = !cmd` /
`x = %magic` assignments (the right side becomes `None`, so `x` stays bound), and `obj?` help
lines. An indented magic becomes `pass` so that its block stays valid. Code cells are joined in
order (cells are numbered like ruff: the first *code* cell is cell 1); markdown and raw cells
are skipped.

    >>> nb = notebook_source('{"cells": [{"cell_type": "code", "source": ["%matplotlib inline\\n", "import torch"]}]}')
    >>> nb.source
    '\nimport torch\n'
    >>> nb.cell_row(2)
    (1, 2)
    >>> nb.remap("the backward call at line 2")
    'the backward call at cell 1, line 2'
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from shapecheck.diagnostics import Diagnostic, Edit, Fix, Location

_ASSIGN_MAGIC = re.compile(r"^(\s*[\w\.\[\]\s,()*]+?\s*=\s*)[!%].*$")
_HELP = re.compile(r"^\s*[\w\.]+\?{1,2}\s*$")
_LINE_REF = re.compile(r"\bline (\d+)\b")


class NotebookError(Exception):
    """The file is not a readable notebook (reported as SC901)."""


@dataclass(frozen=True)
class NotebookSource:
    source: str
    # for each 1-based line of `source`, the (cell, row in cell) it came from; index 0 unused
    line_map: tuple[tuple[int, int], ...]
    # rows of `source` whose text differs from the cell's (blanked magics): fixes never touch them
    cleaned: frozenset[int] = frozenset()
    # each code cell's original text, in order (cell 1 first)
    cells: tuple[str, ...] = ()

    def cell_row(self, row: int) -> tuple[int, int]:
        if 1 <= row < len(self.line_map):
            return self.line_map[row]
        return self.line_map[-1] if len(self.line_map) > 1 else (1, max(row, 1))

    def remap(self, text: str) -> str:
        """`line 19` of the joined source, as messages write it -> `cell 4, line 7`."""
        def sub(m: re.Match[str]) -> str:
            row = int(m.group(1))
            if not 1 <= row < len(self.line_map):
                return m.group(0)
            cell, local = self.line_map[row]
            return f"cell {cell}, line {local}"

        return _LINE_REF.sub(sub, text) if "line " in text else text

    def localize(self, d: Diagnostic) -> Diagnostic:
        """`d` (positioned in the joined source) in cell coordinates: cell, rows, message and
        notes. Its fix is kept when every edit lies in the diagnostic's cell, on lines that were
        not blanked; otherwise it is dropped (never advertised, never applied)."""
        cell, row = self.cell_row(d.location.row)
        end_cell, end_row = self.cell_row(d.end_location.row)
        start = Location(row, d.location.column)
        d.end_location = Location(end_row, d.end_location.column) if end_cell == cell else start
        d.location = start
        d.cell = cell
        if d.noqa_row:
            d.noqa_row = self.cell_row(d.noqa_row)[1]
        d.message = self.remap(d.message)
        d.notes = [self.remap(n) for n in d.notes]
        d.fix = self._local_fix(d.fix, cell)
        return d

    def _local_fix(self, fix: Fix | None, cell: int) -> Fix | None:
        if fix is None or not fix.edits:
            return None
        edits: list[Edit] = []
        for e in fix.edits:
            rows = range(e.location.row, e.end_location.row + 1)
            if any(r in self.cleaned or self.cell_row(r)[0] != cell for r in rows):
                return None
            if e.end_location.row >= len(self.line_map):
                return None
            edits.append(Edit(e.content, Location(self.cell_row(e.location.row)[1], e.location.column),
                              Location(self.cell_row(e.end_location.row)[1], e.end_location.column)))
        return replace(fix, edits=edits, node_edits=[])


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


def _load(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not a valid notebook (invalid JSON: {exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise NotebookError("not a valid notebook (JSON nested too deeply)") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError("not a valid notebook (no `cells` list)")
    return data


def _cell_text(cell: dict[str, Any], cell_no: int) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        src = "".join(s for s in src if isinstance(s, str))
    if not isinstance(src, str):
        raise NotebookError(f"not a valid notebook (cell {cell_no} has no text source)")
    return src


def notebook_source(text: str) -> NotebookSource:
    """The Python source of a notebook's code cells (see the module docstring)."""
    data = _load(text)
    lines: list[str] = []
    line_map: list[tuple[int, int]] = [(0, 0)]
    cleaned: set[int] = set()
    cells: list[str] = []
    for cell in data["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = _cell_text(cell, len(cells) + 1)
        cells.append(src)
        cell_lines = src.splitlines() or [""]
        is_cell_magic = cell_lines[0].lstrip().startswith("%%")
        for row, line in enumerate(cell_lines, start=1):
            new = "" if is_cell_magic else _clean_line(line)
            lines.append(new)
            line_map.append((len(cells), row))
            if new != line:
                cleaned.add(len(line_map) - 1)
    return NotebookSource("\n".join(lines) + "\n" if lines else "", tuple(line_map), frozenset(cleaned), tuple(cells))


# ---------------------------------------------------------------------------------------------
# writing fixes into cells


def apply_edits(text: str, edits: Sequence[Edit]) -> str | None:
    """`text` with non-overlapping `edits` (1-based rows/columns) applied; None if one is out of
    range or two overlap."""
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)

    def offset(loc: Location) -> int | None:
        if not 1 <= loc.row <= len(starts) or loc.column < 1:
            return None
        off = starts[loc.row - 1] + loc.column - 1
        return off if off <= len(text) else None

    spans: list[tuple[int, int, str]] = []
    for e in edits:
        a, b = offset(e.location), offset(e.end_location)
        if a is None or b is None or b < a:
            return None
        spans.append((a, b, e.content))
    spans.sort()
    for (_, b1, _), (a2, _, _) in zip(spans, spans[1:]):
        if a2 < b1:
            return None
    for a, b, content in reversed(spans):
        text = text[:a] + content + text[b:]
    return text


def fix_notebook(text: str, diagnostics: Sequence[Diagnostic], applies: Callable[[Diagnostic], bool],
                 validate: Callable[[str], bool]) -> tuple[str, list[Diagnostic], list[tuple[int, str, str]]]:
    """Write the applicable fixes of `diagnostics` (in cell coordinates, see `localize`) into the
    notebook `text`. One diagnostic's edits go in whole or not at all; a cell whose fixes would
    overlap keeps the first; the result is kept only if the joined source still parses
    (`validate`). Returns the new notebook text, the applied diagnostics, and (cell, old, new) of
    each changed cell (for `--diff`)."""
    data = _load(text)
    code_cells = [c for c in data["cells"] if isinstance(c, dict) and c.get("cell_type") == "code"]
    by_cell: dict[int, list[Diagnostic]] = {}
    for d in diagnostics:
        if d.cell is not None and applies(d) and d.fix is not None:
            by_cell.setdefault(d.cell, []).append(d)
    applied: list[Diagnostic] = []
    changed: list[tuple[int, str, str]] = []
    for cell_no, ds in sorted(by_cell.items()):
        if not 1 <= cell_no <= len(code_cells):
            continue
        cell = code_cells[cell_no - 1]
        old = _cell_text(cell, cell_no)
        accepted: list[Diagnostic] = []
        new = old
        for d in sorted(ds, key=Diagnostic.sort_key):
            attempt = apply_edits(old, [e for a in (*accepted, d) for e in a.fix.edits])  # type: ignore[union-attr]
            if attempt is not None:
                accepted.append(d)
                new = attempt
        if new == old:
            continue
        cell["source"] = new.splitlines(keepends=True) if isinstance(cell.get("source"), list) else new
        applied.extend(accepted)
        changed.append((cell_no, old, new))
    if not changed:
        return text, [], []
    out = json.dumps(data, indent=_indent(text), ensure_ascii=False) + ("\n" if text.endswith("\n") else "")
    if not validate(notebook_source(out).source):
        return text, [], []
    return out, applied, changed


def _indent(text: str) -> int:
    """The indentation the notebook was written with (nbformat writes 1)."""
    m = re.search(r"\n( +)\"", text)
    return len(m.group(1)) if m else 1


# ---------------------------------------------------------------------------------------------
# where a cell line is in the stored file


def json_rows(text: str) -> dict[tuple[int, int], int]:
    """(cell, row) -> the line of the notebook file that holds that source line, for notebooks
    stored one source line per JSON string (as nbformat writes them). Lines that cannot be found
    are absent; callers fall back to the file's first line."""
    try:
        data = _load(text)
    except NotebookError:
        return {}
    out: dict[tuple[int, int], int] = {}
    cursor = 0
    cell_no = 0
    for cell in data["cells"]:
        if not isinstance(cell, dict):
            continue
        found = text.find('"cell_type"', cursor)
        if found < 0:
            break
        cursor = found + 1
        if cell.get("cell_type") != "code":
            continue
        cell_no += 1
        src = cell.get("source", "")
        pieces = src if isinstance(src, list) else str(src).splitlines(keepends=True)
        key_at = text.find('"source"', cursor)
        if key_at < 0:
            continue
        pos = key_at
        for row, piece in enumerate(pieces, start=1):
            if not isinstance(piece, str):
                break
            at = -1
            # one JSON string per line (nbformat), else the escaped text inside one long string
            for literal in (json.dumps(piece, ensure_ascii=False), json.dumps(piece),
                            json.dumps(piece, ensure_ascii=False)[1:-1], json.dumps(piece)[1:-1]):
                if literal:
                    at = text.find(literal, pos)
                if at >= 0:
                    break
            if at < 0:
                break
            out[(cell_no, row)] = text.count("\n", 0, at) + 1
            pos = at + len(literal)
        cursor = max(cursor, pos)
    return out


_ROWS_CACHE: dict[str, dict[tuple[int, int], int]] = {}


def file_row(filename: str, cell: int, row: int) -> int:
    """The line of the notebook file `filename` that holds (cell, row); 1 when unknown. For
    reporters that point into the stored file (SARIF, GitHub annotations)."""
    if filename not in _ROWS_CACHE:
        try:
            with open(filename, encoding="utf-8") as fh:
                _ROWS_CACHE[filename] = json_rows(fh.read(64 << 20))
        except (OSError, UnicodeDecodeError):
            _ROWS_CACHE[filename] = {}
    return _ROWS_CACHE[filename].get((cell, row), 1)
