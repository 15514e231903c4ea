"""Suppression comments and per-file-ignores.

Comments are found with `tokenize`, so a `# noqa` inside a string literal never counts:

- `x = a @ b  # noqa: SC101, SC103` or a blanket `# noqa`: the diagnostics that *start* on this
  line (ruff's rule). A diagnostic that starts inside a multi-line string may also be suppressed
  at the end of that string's last line, where ruff asks for it.
- `# shapecheck: ignore[SC101]` (bare `# shapecheck: ignore` = every code): trailing, the same
  line; alone on its own line, the next line of code (Fixit's `# lint-ignore` placement).
- `# shapecheck: noqa` on its own line anywhere in the file: every diagnostic of the file;
  `# shapecheck: noqa: SC201, SC202` only those codes. `# flake8: noqa` is NOT honoured (it
  would silence another tool's blanket opt-out).
- per-file-ignores: `{glob: [codes]}` from the config, matched against the path relative to the
  project root (or the bare file name when the glob has no `/`).

Codes in comments are prefixes like everywhere else (`# noqa: SC2` covers SC201).

SC902 (unused-suppression, opt-in) reports a directive naming an SC code that suppressed
nothing. Blanket `# noqa` is never reported: it may belong to flake8 or ruff. SC903 (a crash)
is never suppressed: a broken analysis is not a finding the user can waive.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import pathspec

from shapecheck.diagnostics import RULES, Diagnostic, Location

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_FILE_NOQA = re.compile(
    r"#\s*shapecheck\s*:\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
_IGNORE = re.compile(r"#\s*shapecheck\s*:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_CODE = re.compile(r"[A-Z]+[0-9]+", re.IGNORECASE)
UNSUPPRESSIBLE = frozenset({"SC903"})


@dataclass
class Directive:
    """One suppression comment; `codes` None = blanket."""

    kind: str  # "noqa" | "ignore" | "file"
    row: int  # where the comment is
    column: int
    end_column: int
    codes: tuple[str, ...] | None
    target_rows: frozenset[int] = frozenset()
    used: set[str] = field(default_factory=set)

    def covers(self, code: str) -> str | None:
        """The selector in this directive that covers `code` (`"*"` for blanket), else None."""
        if self.codes is None:
            return "*"
        for sel in self.codes:
            if code.startswith(sel):
                return sel
        return None


def _codes(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    return tuple(c.upper() for c in _CODE.findall(text))


@dataclass
class Suppressions:
    directives: list[Directive]
    # a row inside a multi-line string -> the row the string ends on
    string_end: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_source(cls, source: str) -> Suppressions:
        """Directives of `source`. A file that does not tokenize keeps the comments before the error."""
        if "#" not in source:
            return cls([])
        directives: list[Directive] = []
        string_end: dict[int, int] = {}
        code_rows: list[int] = []  # rows that start a token other than a comment/NL
        own_line_ignores: list[Directive] = []
        last_row_with_code = 0
        try:
            for tok in tokenize.generate_tokens(io.StringIO(source).readline):
                ttype, text, (srow, scol), (erow, ecol), _ = tok
                if ttype == tokenize.COMMENT:
                    own_line = srow != last_row_with_code
                    directives.extend(cls._parse_comment(text, srow, scol, own_line, own_line_ignores))
                elif ttype not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                                   tokenize.ENDMARKER):
                    last_row_with_code = erow
                    if not code_rows or code_rows[-1] != srow:
                        code_rows.append(srow)
                    if erow > srow and ttype == tokenize.STRING:
                        for r in range(srow, erow):
                            string_end[r] = erow
        except (tokenize.TokenError, IndentationError, SyntaxError):
            pass
        for d in own_line_ignores:
            nxt = next((r for r in code_rows if r > d.row), None)
            d.target_rows = frozenset({nxt} if nxt is not None else set())
        return cls(directives, string_end)

    @staticmethod
    def _parse_comment(
        text: str, row: int, col: int, own_line: bool, own_line_ignores: list[Directive]
    ) -> list[Directive]:
        found: list[Directive] = []
        end = col + len(text) + 1
        m = _FILE_NOQA.search(text)
        if m:
            # on its own line: the whole file; trailing code: this line, as a `# noqa` would be
            # (ruff ignores a trailing `# ruff: noqa` with a warning; silently doing nothing
            # is the one wrong answer)
            kind = "file" if own_line else "noqa"
            found.append(Directive(kind, row, col + 1, end, _codes(m.group("codes")),
                                   frozenset() if own_line else frozenset({row})))
            return found
        m = _IGNORE.search(text)
        if m:
            codes = _codes(m.group("codes")) if m.group("codes") is not None else None
            d = Directive("ignore", row, col + 1, end, codes, frozenset({row}))
            if own_line:
                own_line_ignores.append(d)
            found.append(d)
        m = _NOQA.search(text)
        if m:
            found.append(Directive("noqa", row, col + 1, end, _codes(m.group("codes")), frozenset({row})))
        return found

    def suppressed_by(self, diagnostic: Diagnostic) -> Directive | None:
        if diagnostic.code in UNSUPPRESSIBLE:
            return None
        row = diagnostic.location.row
        rows = {row, self.string_end.get(row, row)}
        for d in self.directives:
            if d.kind == "file" or rows & d.target_rows:
                sel = d.covers(diagnostic.code)
                if sel is not None:
                    d.used.add(sel)
                    return d
        return None


class PerFileIgnores:
    """`per-file-ignores` globs -> codes (prefixes)."""

    def __init__(self, entries: Sequence[tuple[str, Sequence[str]]]) -> None:
        self.entries = [
            (pathspec.GitIgnoreSpec.from_lines([pattern]), tuple(c.upper() for c in codes))
            for pattern, codes in entries
        ]

    def codes_for(self, relpath: str) -> tuple[str, ...]:
        """Every selector that applies to the file at `relpath` (posix, relative to the root)."""
        name = PurePosixPath(relpath).name
        out: list[str] = []
        for spec, codes in self.entries:
            if spec.match_file(relpath) or spec.match_file(name):
                out.extend(codes)
        return tuple(out)


def apply_suppressions(
    source: str,
    diagnostics: Iterable[Diagnostic],
    *,
    file_ignores: Sequence[str] = (),
    selected: frozenset[str] | None = None,
    filename: str = "",
) -> list[Diagnostic]:
    """The diagnostics left after comments and per-file-ignores, plus SC902 findings when SC902
    is selected."""
    diagnostics = list(diagnostics)
    ignore_sel = tuple(c.upper() for c in file_ignores)
    kept = [
        d for d in diagnostics
        if d.code in UNSUPPRESSIBLE or not any(d.code.startswith(sel) for sel in ignore_sel)
    ]
    want_unused = selected is not None and "SC902" in selected and not any(
        "SC902".startswith(sel) for sel in ignore_sel
    )
    if "#" not in source or ("noqa" not in source.lower() and "shapecheck" not in source.lower()):
        return _with_noqa_rows(source, kept, None)
    sup = Suppressions.from_source(source)
    if not sup.directives:
        return _with_noqa_rows(source, kept, sup)
    out = _with_noqa_rows(source, [d for d in kept if sup.suppressed_by(d) is None], sup)
    if want_unused:
        assert selected is not None
        for d in unused_directives(sup, selected, filename):
            if sup.suppressed_by(d) is None and not any(d.code.startswith(sel) for sel in ignore_sel):
                out.append(d)
        out.sort(key=Diagnostic.sort_key)
    return out


def _with_noqa_rows(source: str, diagnostics: list[Diagnostic], sup: Suppressions | None) -> list[Diagnostic]:
    """Set `noqa_row` on findings that start inside a multi-line string (the row its `# noqa`
    must go on: after the closing quotes)."""
    if not diagnostics or ('"""' not in source and "'''" not in source):
        return diagnostics
    if sup is None or "#" not in source:  # from_source skips tokenizing a file without comments
        sup = _strings_only(source)
    for d in diagnostics:
        end = sup.string_end.get(d.location.row)
        if end is not None and end != d.location.row:
            d.noqa_row = end
    return diagnostics


def _strings_only(source: str) -> Suppressions:
    string_end: dict[int, int] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                for r in range(tok.start[0], tok.end[0]):
                    string_end[r] = tok.end[0]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return Suppressions([], string_end)


def unused_directives(sup: Suppressions, selected: frozenset[str], filename: str) -> list[Diagnostic]:
    """SC902 for every SC code named in a directive that suppressed nothing."""
    out: list[Diagnostic] = []
    for d in sup.directives:
        if d.codes is None:
            continue
        unused = [c for c in d.codes if c.startswith("SC") and c not in d.used]
        if not unused:
            continue
        parts: list[str] = []
        unknown = [c for c in unused if not any(code.startswith(c) for code in RULES)]
        disabled = [c for c in unused if c not in unknown and not any(
            code.startswith(c) for code in selected)]
        plain = [c for c in unused if c not in unknown and c not in disabled]
        if plain:
            parts.append(f"unused: {', '.join(plain)}")
        if disabled:
            parts.append(f"non-enabled: {', '.join(disabled)}")
        if unknown:
            parts.append(f"unknown: {', '.join(unknown)}")
        label = {"noqa": "`# noqa`", "ignore": "`# shapecheck: ignore`", "file": "`# shapecheck: noqa`"}[d.kind]
        out.append(
            Diagnostic(
                "SC902",
                f"unused {label} directive ({'; '.join(parts)})",
                filename,
                Location(d.row, d.column),
                Location(d.row, d.end_column),
                notes=["nothing on this line is reported for these codes any more; remove them from the comment"],
            )
        )
    return out


def add_noqa(source: str, diagnostics: Iterable[Diagnostic]) -> tuple[str, int]:
    """`--add-noqa` (ruff's): a `# noqa: CODES` on the line where each finding's directive goes
    (its `noqa_row`), merged into an existing `# noqa: ...` there. Lines with a blanket `# noqa`,
    lines ending in a backslash continuation, SC901/SC903 are left alone. Returns the new source
    and how many lines were changed; the source is returned unchanged if the result would not
    tokenize as the original did."""
    wanted: dict[int, set[str]] = {}
    for d in diagnostics:
        if d.code in ("SC901", "SC903") or d.cell is not None:
            continue
        wanted.setdefault(d.noqa_row or d.location.row, set()).add(d.code)
    if not wanted:
        return source, 0
    lines = source.splitlines(keepends=True)
    comments = comments_by_row(source)
    changed = 0
    for row, codes in sorted(wanted.items()):
        if not 1 <= row <= len(lines):
            continue
        text = lines[row - 1]
        body = text.rstrip("\r\n")
        ending = text[len(body):]
        if body.rstrip().endswith("\\"):
            continue
        comment = comments.get(row)
        if comment is not None:
            m = _NOQA.search(comment[1])
            if m and m.group("codes") is None:
                continue  # blanket noqa: already covers everything
            if m:
                have = list(_codes(m.group("codes")) or ())
                new_codes = [c for c in sorted(codes) if not any(c.startswith(h) for h in have)]
                if not new_codes:
                    continue
                start = comment[0] + m.start()
                merged = f"# noqa: {', '.join([*have, *new_codes])}"
                body = body[:start] + merged + body[comment[0] + m.end():]
                lines[row - 1] = body + ending
                changed += 1
                continue
        lines[row - 1] = f"{body.rstrip()}  # noqa: {', '.join(sorted(codes))}{ending}"
        changed += 1
    new = "".join(lines)
    if changed and not _same_tokens(source, new):
        return source, 0
    return new, changed


def comments_by_row(source: str) -> dict[int, tuple[int, str]]:
    out: dict[int, tuple[int, str]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out[tok.start[0]] = (tok.start[1], tok.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _same_tokens(old: str, new: str) -> bool:
    """Both sources tokenize to the same tokens once comments are dropped."""
    def tokens(src: str) -> list[tuple[int, str]] | None:
        try:
            return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(src).readline)
                    if t.type not in (tokenize.COMMENT, tokenize.NL)]
        except (tokenize.TokenError, IndentationError, SyntaxError):
            return None

    before = tokens(old)
    return before is not None and before == tokens(new)
