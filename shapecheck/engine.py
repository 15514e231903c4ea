"""Lint one file: parse once, run every selected rule in one batched pass, resolve positions.

This is the per-file core that the CLI (discovery, config, suppression, caching, reporting)
drives. It never imports torch.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange

from shapecheck.diagnostics import Diagnostic, Edit, Location
from shapecheck.names import ImportTable
from shapecheck.parsing import cpython_rejection, depth_problem, run_deep
import shapecheck.rules
from shapecheck.rules.base import FileContext, LintRule, RawFinding
from shapecheck.tree import positions_of, tree_of


def parse_error(filename: str, exc: cst.ParserSyntaxError, source: str | None = None) -> Diagnostic:
    """SC901. libcst's own parser messages are terse ("expected one of ..."), so when CPython's
    parser also rejects the file we report its message and position ("'(' was never closed")."""
    row, col = exc.raw_line, exc.raw_column + 1
    message = exc.message.removeprefix("parser error: ") if exc.message else "invalid syntax"
    if source is not None:
        import ast

        try:
            ast.parse(source)
        except SyntaxError as err:
            message = err.msg
            if err.lineno:
                row, col = err.lineno, max(err.offset or 1, 1)
        except (ValueError, RecursionError, MemoryError):
            pass
        else:
            message = f"libcst cannot parse this (valid) Python: {message}"
    return Diagnostic(
        "SC901",
        f"could not parse the file: {message}",
        filename,
        Location(row, col),
        Location(row, col),
    )


def internal_error(filename: str, exc: BaseException) -> Diagnostic:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else ""
    return Diagnostic(
        "SC903",
        f"internal error while analysing this file: {type(exc).__name__}: {exc}{where}",
        filename,
        Location(1, 1),
        Location(1, 1),
        notes=["please report this at https://github.com/shapecheck/shapecheck/issues"],
    )


def lint_source(
    filename: str,
    source: str,
    select: Iterable[str] | None = None,
    *,
    project: object = None,
) -> list[Diagnostic]:
    """All diagnostics of the selected rules on `source`, unsuppressed, sorted by position.

    SC901 for a file that does not parse; SC903 when a rule crashes (the other files go on).
    """
    too_deep = depth_problem(source)
    if too_deep is not None:
        return [_at("SC901", f"could not parse the file: {too_deep.message}", filename, too_deep.row, too_deep.column)]
    return run_deep(_lint_parsed, filename, source, select, project)


def _lint_parsed(filename: str, source: str, select: Iterable[str] | None, project: object) -> list[Diagnostic]:
    """Parse and lint, on the deep-stack thread (`parsing.run_deep`)."""
    try:
        module = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return [parse_error(filename, exc, source)]
    except (RecursionError, MemoryError) as exc:
        return [_at("SC901", f"could not parse the file: too deep for the parser ({type(exc).__name__})", filename)]
    try:
        return lint_module(filename, source, module, select, project=project)
    except Exception as exc:  # noqa: BLE001 - RecursionError included: one file failing never stops the run
        # a file CPython itself rejects (a NUL in a literal, a 5,000-digit int) is the user's to fix (SC901)
        rejection = cpython_rejection(source)
        if rejection is not None:
            return [_at("SC901", f"could not parse the file: CPython rejects it: {rejection}", filename)]
        return [internal_error(filename, exc)]


def _at(code: str, message: str, filename: str, row: int = 1, column: int = 1) -> Diagnostic:
    return Diagnostic(code, message, filename, Location(row, column), Location(row, column))


def lint_module(
    filename: str,
    source: str,
    module: cst.Module,
    select: Iterable[str] | None = None,
    *,
    project: object = None,
) -> list[Diagnostic]:
    rules = shapecheck.rules.all_rules()  # looked up at call time: tests swap the registry
    codes = [c for c in (select if select is not None else rules) if c in rules]
    ctx = FileContext(Path(filename), source, module, ImportTable.from_module(module), project)
    visitors = [rules[c](ctx) for c in codes]
    if visitors:
        run_visitors(ctx, visitors)
    if not ctx.findings:
        return []
    return resolve(filename, module, ctx.findings, positions_of(ctx))


def run_visitors(ctx: FileContext, visitors: list[LintRule]) -> None:
    """Call every rule's `visit_<Node>` in pre-order over the shared tree index.

    Same order and calls as `libcst.visit_batched`, at a fraction of its cost (see
    `shapecheck.tree`). A rule that needs what the index lacks (`leave_*`, attribute visitors)
    gets libcst's own batched pass.
    """
    handlers: dict[type, list[Callable[[cst.CSTNode], object]]] = {}
    fallback: list[LintRule] = []
    for visitor in visitors:
        methods = visitor.get_visitors()
        node_types = [getattr(cst, name[6:], None) if name.startswith("visit_") else None for name in methods]
        if any(t is None or not isinstance(t, type) for t in node_types):
            fallback.append(visitor)
            continue
        for node_type, method in zip(node_types, methods.values()):
            handlers.setdefault(node_type, []).append(method)
    if handlers:
        for node in tree_of(ctx).preorder:
            calls = handlers.get(type(node))
            if calls is not None:
                for call in calls:
                    call(node)
    if fallback:
        cst.visit_batched(ctx.module, fallback)


def resolve(filename: str, module: cst.Module, findings: list[RawFinding], positions: Any) -> list[Diagnostic]:
    """Turn node-based findings into positioned diagnostics (only files with findings pay)."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, int, int, str]] = set()
    for f in findings:
        rng: CodeRange | None = positions.get(f.node)
        if rng is None:
            continue
        start = Location(rng.start.line, rng.start.column + 1)
        end = Location(rng.end.line, rng.end.column + 1)
        key = (f.code, start.row, start.column, f.message)
        if key in seen:
            continue
        seen.add(key)
        fix = f.fix
        if fix is not None and fix.node_edits and not fix.edits:
            edits: list[Edit] = []
            for ne in fix.node_edits:
                r = positions.get(ne.node)
                if r is None:
                    edits = []
                    break
                content = "" if ne.replacement is None else module.code_for_node(ne.replacement)
                edits.append(
                    Edit(content, Location(r.start.line, r.start.column + 1), Location(r.end.line, r.end.column + 1))
                )
            fix.edits = edits
            if not edits:
                fix = None
        out.append(Diagnostic(f.code, f.message, filename, start, end, f.severity, f.notes, fix))
    out.sort(key=Diagnostic.sort_key)
    return out
