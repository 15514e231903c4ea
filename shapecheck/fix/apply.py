"""Apply fixes: the text edits of diagnostics, one non-overlapping round at a time, re-parsed.

Rules build their fixes as libcst node replacements; the engine turns them into text `Edit`s
(1-based rows and columns) once positions are known. Here the edits of one round are sorted and
applied in one pass; an edit that overlaps one already accepted in this round is left for the
next round (after a re-lint its diagnostic comes back with fresh positions). A round whose result
does not parse is dropped whole: a fix never leaves broken code behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import libcst as cst

from shapecheck.diagnostics import Applicability, Diagnostic, Edit, Location
from shapecheck.engine import lint_source
from shapecheck.parsing import depth_problem, run_deep

MAX_ROUNDS = 10


@dataclass
class FixResult:
    """The fixed source, the diagnostics whose fixes were applied (every round), and what
    is still reported on the fixed source."""

    source: str
    applied: list[Diagnostic] = field(default_factory=list)
    remaining: list[Diagnostic] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.applied)


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _line_starts(source: str) -> list[int]:
    """Offsets of the lines' starts; a line ends at LF, CRLF or a lone CR, as libcst counts rows
    (a CR-only file's fixes land where its diagnostics point)."""
    return [0, *(m.end() for m in _NEWLINE.finditer(source))]


def _newline_at(source: str, offset: int) -> str:
    """The line ending of the line holding `offset` (LF at the end of a file without one)."""
    m = _NEWLINE.search(source, offset)
    return m.group() if m else "\n"


def _offset(starts: list[int], loc: Location, length: int) -> int | None:
    if loc.row < 1 or loc.row > len(starts) or loc.column < 1:
        return None
    off = starts[loc.row - 1] + loc.column - 1
    return off if off <= length else None


def applicable(diagnostic: Diagnostic, *, unsafe: bool) -> bool:
    fix = diagnostic.fix
    if fix is None or not fix.edits:
        return False
    if fix.applicability is Applicability.SAFE:
        return True
    return unsafe and fix.applicability is Applicability.UNSAFE


def apply_fixes(source: str, diagnostics: list[Diagnostic], *, unsafe: bool) -> tuple[str, list[Diagnostic]]:
    """Apply the fixes of `diagnostics` to `source` in one round.

    Only SAFE fixes unless `unsafe`; DISPLAY_ONLY never. A fix whose edits overlap an edit
    already accepted this round is skipped whole (the next round picks it up). If the result does
    not parse, nothing is applied. Returns the new source and the diagnostics applied.
    """
    starts = _line_starts(source)
    taken: list[tuple[int, int]] = []
    accepted: list[tuple[int, int, str]] = []
    applied: list[Diagnostic] = []
    ordered = sorted(
        (d for d in diagnostics if applicable(d, unsafe=unsafe)),
        key=lambda d: min((e.location.row, e.location.column) for e in d.fix.edits),  # type: ignore[union-attr]
    )
    for diag in ordered:
        assert diag.fix is not None
        spans: list[tuple[int, int, str]] = []
        for edit in diag.fix.edits:
            span = _span(starts, edit, len(source))
            if span is None:
                spans = []
                break
            spans.append(span)
        if not spans or _overlaps(spans, taken):
            continue
        if any(_overlap((a, b), (c, d)) for i, (a, b, _) in enumerate(spans) for (c, d, _) in spans[i + 1 :]):
            continue
        taken.extend((a, b) for a, b, _ in spans)
        accepted.extend(spans)
        applied.append(diag)
    if not accepted:
        return source, []
    out: list[str] = []
    pos = 0
    for start, end, content in sorted(accepted, key=lambda s: (s[0], s[1])):
        out.append(source[pos:start])
        if "\n" in content:  # inserted lines take the ending of the line they go into
            newline = _newline_at(source, start)
            if newline != "\n":
                content = content.replace("\r\n", "\n").replace("\n", newline)
        out.append(content)
        pos = end
    out.append(source[pos:])
    new = "".join(out)
    if depth_problem(new) is not None:
        return source, []
    try:
        run_deep(cst.parse_module, new)
    except (cst.ParserSyntaxError, RecursionError, MemoryError):
        return source, []
    return new, applied


def _span(starts: list[int], edit: Edit, length: int) -> tuple[int, int, str] | None:
    a = _offset(starts, edit.location, length)
    b = _offset(starts, edit.end_location, length)
    if a is None or b is None or b < a:
        return None
    return a, b, edit.content


def _overlap(x: tuple[int, int], y: tuple[int, int]) -> bool:
    # Two insertions at the same point conflict too: their order would be arbitrary.
    if x[0] == x[1] == y[0] == y[1]:
        return True
    return x[0] < y[1] and y[0] < x[1]


def _overlaps(spans: Iterable[tuple[int, int, str]], taken: list[tuple[int, int]]) -> bool:
    return any(_overlap((a, b), t) for a, b, _ in spans for t in taken)


def fix_source(filename: str, source: str, select: Iterable[str] | None = None, *, unsafe: bool = False) -> FixResult:
    """Lint and apply fixes until nothing changes (at most `MAX_ROUNDS` rounds).

    `remaining` is the lint of the final source: what is left for the user (including the
    diagnostics whose fixes are unsafe and were not asked for).
    """
    codes = list(select) if select is not None else None
    applied: list[Diagnostic] = []
    current = source
    diagnostics = lint_source(filename, current, codes)
    for _ in range(MAX_ROUNDS):
        new, done = apply_fixes(current, diagnostics, unsafe=unsafe)
        if not done or new == current:
            break
        applied.extend(done)
        current = new
        diagnostics = lint_source(filename, current, codes)
    return FixResult(current, applied, diagnostics)
