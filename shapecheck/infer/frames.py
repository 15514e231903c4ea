"""The interpreter's bookkeeping: what a run of a function records (assignments, returns,
findings) and the frame it runs in. Shared by the statement interpreter (interpreter.py) and the
call machinery (calls.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from shapecheck.infer.ops.registry import ShapeFinding
from shapecheck.infer.summary import ClassInfo, ModuleSummary
from shapecheck.infer.values import Value
from shapecheck.names import dotted
from shapecheck.shapes import AnnotationError, Dim, Facts

_EMPTY = cst.Module([])
# what a frame with guessed size names still reports: failures for every size (the names may not
# mean what the name-based checks assume: `N` is tokens in timm's xcit, not a batch)
_CERTAIN = frozenset({"SC101", "SC104", "SC106", "SC108"})


def source_of(node: cst.CSTNode) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        name = dotted(node)
        if name is not None:
            return name
    if not _small(node):
        return "(...)"  # a label for a long expression: rendering it for every op of a chain is quadratic
    try:
        return _EMPTY.code_for_node(node)
    except Exception:  # noqa: BLE001 - a label is cosmetic
        return ""


def _small(node: cst.CSTNode, limit: int = 120) -> bool:
    """Whether `node` has at most `limit` syntactic descendants (stops counting at the limit)."""
    from shapecheck.tree import child_nodes

    stack, seen = [node], 0
    while stack:
        seen += 1
        if seen > limit:
            return False
        stack.extend(child_nodes(stack.pop()))
    return True


@dataclass
class Assignment:
    """`target = value` as the interpreter saw it (the last, widened pass through loops)."""

    node: cst.CSTNode  # the statement
    target: str
    value: Value



@dataclass
class FunctionResult:
    name: str
    node: cst.FunctionDef | None  # None: module-level code
    assignments: list[Assignment] = field(default_factory=list)
    returns: list[Value] = field(default_factory=list)
    context: bool = False  # a run with a caller's argument values (not the function's own)



@dataclass
class FileAnalysis:
    functions: list[FunctionResult] = field(default_factory=list)
    findings: list[ShapeFinding] = field(default_factory=list)
    annotation_errors: list[tuple[cst.BaseExpression, AnnotationError]] = field(default_factory=list)

    def by_code(self, code: str) -> list[ShapeFinding]:
        return [f for f in self.findings if f.code == code]


class _Budget:
    """Bounds the work spent inlining callees in one file (keeps `check` near parse speed)."""

    def __init__(self, inlines: int = 200) -> None:
        self.inlines = inlines



@dataclass
class Frame:
    summary: ModuleSummary
    env: dict[str, Value]
    facts: Facts
    divisions: dict[Dim, tuple[Dim, Dim]]
    cls: ClassInfo | None = None
    fn: cst.FunctionDef | None = None
    record: bool = True
    depth: int = 0
    loop_depth: int = 0
    result: FunctionResult | None = None
    returns: list[Value] = field(default_factory=list)
    findings: list[ShapeFinding] = field(default_factory=list)
    record_findings: bool = False  # findings kept though assignments are not (a loop's first pass)
    first_step: bool = False  # under `if i == 0:` in a loop: the first batch, which is full
    # sizes named from `b, t = x.shape` on an unknown argument (`Interpreter.discover_rank`): real
    # sizes, but nothing says what they equal: only certain failures are reported
    guessed: bool = False

    def fork(self, record: bool | None = None) -> Frame:
        return Frame(
            self.summary, dict(self.env), self.facts, self.divisions, self.cls, self.fn,
            self.record if record is None else record, self.depth, self.loop_depth,
            self.result, self.returns, self.findings, self.record_findings and record is not False,
            self.first_step, self.guessed,
        )

    @property
    def in_module_method(self) -> bool:
        return self.cls is not None and self.cls.is_module

    def report(self, code: str, message: str, notes: list[str], node: cst.CSTNode, severity: str | None = None) -> None:
        if (self.record or self.record_findings) and not (self.guessed and code not in _CERTAIN):
            self.findings.append(ShapeFinding(code, message, notes, node, severity))

