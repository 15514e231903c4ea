"""The rule protocol: one class per rule, examples in the class, one shared libcst pass.

A rule is a `LintRule` subclass with a `CODE` (its name, severity and default come from
`shapecheck.diagnostics.RULES`), a docstring written under ruff's headings, and `VALID`/`INVALID`
examples that the tests execute and `rules/<CODE>.md` renders. All selected rules of a file run
as `BatchableCSTVisitor`s in one `libcst.visit_batched` pass over the module.

Rules never compute positions: they report nodes, and the engine resolves positions afterwards,
only for files that have findings (positions cost a full regeneration of the module).

Marks: in an `INVALID` example, a line that must be flagged ends with a comment naming the code,
`# SC201` (several: `# SC201 SC202`). The example must be flagged exactly on its marked lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import libcst as cst

from shapecheck.diagnostics import RULES, Fix, RuleInfo, Severity
from shapecheck.names import ImportTable

T = TypeVar("T")


@dataclass(frozen=True)
class Valid:
    """Code the rule must stay silent on."""

    code: str
    title: str = ""


@dataclass(frozen=True)
class Invalid:
    """Code the rule must flag on the lines marked `# SCxxx`.

    `expected_fixed`: the whole example after `--fix` (and `--unsafe-fixes` when `unsafe`).
    """

    code: str
    title: str = ""
    expected_fixed: str | None = None


MARK_RE = re.compile(r"#\s*((?:SC\d{3}\s*)+)\s*$")


def expected_marks(source: str) -> set[tuple[int, str]]:
    """`{(row, code)}` for every `# SCxxx` mark at the end of a line."""
    marks: set[tuple[int, str]] = set()
    for row, line in enumerate(source.splitlines(), start=1):
        m = MARK_RE.search(line)
        if m:
            for code in m.group(1).split():
                marks.add((row, code))
    return marks


@dataclass
class RawFinding:
    """A finding before positions are resolved."""

    code: str
    node: cst.CSTNode
    message: str
    notes: list[str] = field(default_factory=list)
    fix: Fix | None = None
    severity: Severity | None = None


@dataclass
class FileContext:
    """Everything a rule may read about one file. Facts are computed lazily and once per file,
    shared by every rule that asks (`ctx.fact("training-loops", build)`)."""

    path: Path
    source: str
    module: cst.Module
    names: ImportTable
    project: Any = None  # shapecheck.infer project index, when built
    findings: list[RawFinding] = field(default_factory=list)
    _facts: dict[str, Any] = field(default_factory=dict)

    def fact(self, key: str, build: Callable[[FileContext], T]) -> T:
        if key not in self._facts:
            self._facts[key] = build(self)
        return self._facts[key]

    def qualify(self, node: cst.BaseExpression) -> str | None:
        return self.names.qualify(node)


_VISITOR_NAMES: dict[type, list[str]] = {}


class LintRule(cst.BatchableCSTVisitor):
    """Base of every rule. Subclasses set CODE, VALID, INVALID and visit what they need.

    Keep `visit_*` cheap: in a batched pass every rule's `visit_Call` sees every call.
    """

    CODE: ClassVar[str] = ""
    VALID: ClassVar[list[Valid]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def __init__(self, ctx: FileContext) -> None:
        super().__init__()
        self.ctx = ctx

    @classmethod
    def info(cls) -> RuleInfo:
        return RULES[cls.CODE]

    def get_visitors(self) -> Mapping[str, Callable[..., Any]]:
        """libcst's version runs `inspect.getmembers` over ~1,600 attributes on every instance,
        i.e. per rule per file (~30 ms each); the names depend only on the class, so cache them."""
        names = _VISITOR_NAMES.get(type(self))
        if names is None:
            names = _VISITOR_NAMES[type(self)] = [
                name
                for name in dir(type(self))
                if name.startswith(("visit_", "leave_"))
                and callable(getattr(type(self), name))
                and not getattr(getattr(type(self), name), "_is_no_op", False)
            ]
        return {name: getattr(self, name) for name in names}

    def report(
        self,
        node: cst.CSTNode,
        message: str,
        *,
        notes: list[str] | None = None,
        fix: Fix | None = None,
        code: str | None = None,
        severity: Severity | None = None,
    ) -> None:
        self.ctx.findings.append(
            RawFinding(code or self.CODE, node, message, list(notes or []), fix, severity)
        )
