"""Whole-program shapes: callee summaries per abstract argument signature (DESIGN §2a).

Real code is unannotated: the sizes live in the driver (`torch.randn(8, 1, 28, 28)`, a
DataLoader, argparse defaults, constructor arguments). When a call reaches a project function or
an unannotated `forward`, the interpreter runs the callee with the caller's values. This module
holds what makes that affordable and honest:

- a memo table: one summary (return value + findings) per (function, receiver, argument
  signature), so the cost grows with distinct call sites, not with paths;
- a recursion guard: a function already on the analysis stack is *unknown*, never a guess;
- replay: a summary's findings are reported again at every call that reuses it. Findings in the
  file being checked stay at their own node (the line in `forward` that fails); findings inside
  another file are re-anchored at the call in this file, with a note naming where they happen;
- the per-context assignments of same-file callees, for the reveal view (`shapecheck shapes`).

The context-free run of every function (parameters from annotations or unknown) still happens;
a finding seen in several contexts is reported once (first one wins).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from shapecheck.infer.ops.registry import ShapeFinding

MAX_CALL_DEPTH = 8  # driver -> train() -> model() -> Block -> Attention -> helper ...
MAX_BLIND_DEPTH = 2  # a call that passes nothing known (a function's own run calling helpers)
MAX_RUNS = 400  # callee bodies actually run per file (memo hits are free)


@dataclass
class Summary:
    """What running `fn` with one argument signature produced."""

    value: Any
    findings: list[ShapeFinding]
    module: Any  # the ModuleSummary the callee lives in
    where: str  # "Net.forward" (for re-anchored notes)


@dataclass
class CallContexts:
    """Per-analysis memo of callee summaries (shared by the interpreters of one file's run)."""

    root: Any  # the ModuleSummary of the file being checked
    memo: dict[Hashable, Summary] = field(default_factory=dict)
    active: set[int] = field(default_factory=set)  # id() of the functions on the analysis stack
    runs: int = MAX_RUNS
    results: list[Any] = field(default_factory=list)  # FunctionResult of same-file contexts
    guessed: set[str] = field(default_factory=set)  # size symbols named by `discover_rank`

    def carries_guess(self, actual: dict[str, Any]) -> bool:
        """Whether an argument's shape mentions a size named by `discover_rank`."""
        if not self.guessed:
            return False
        for v in actual.values():
            shape = getattr(v, "shape", None)
            dims = getattr(shape, "dims", None) if shape is not None else None
            if dims and any(callable(getattr(d, "symbols", None)) and self.guessed & d.symbols() for d in dims):
                return True
        return False

    def key(self, fn: cst.FunctionDef, receiver: object, actual: dict[str, Any]) -> Hashable:
        return (id(fn), id(receiver) if receiver is not None else None,
                tuple(sorted((k, signature(v)) for k, v in actual.items())))

    def on_stack(self, fn: cst.FunctionDef) -> bool:
        return id(fn) in self.active

    def replay(self, summary: Summary, report: Any, call: cst.CSTNode, caller_module: Any) -> None:
        """Report the summary's findings through `report` (the caller frame's)."""
        for f in summary.findings:
            if summary.module is caller_module:
                report(f.code, f.message, list(f.notes), f.node, f.severity)
            else:
                where = f"inside {summary.where}" + (f" ({summary.module.name})" if getattr(summary.module, "name", "") else "")
                report(f.code, f"{f.message} ({where}, called here)", [f"{where}, with the arguments of this call", *f.notes],
                       call, f.severity)


def signature(value: object) -> Hashable:
    """A hashable stand-in for an abstract value: equal values share a summary."""
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value  # type: ignore[return-value]


def dedupe(findings: list[ShapeFinding]) -> list[ShapeFinding]:
    """One finding per (code, node): the same line seen from several contexts is one finding."""
    seen: set[tuple[str, int]] = set()
    out: list[ShapeFinding] = []
    for f in findings:
        key = (f.code, id(f.node))
        if key in seen:
            continue
        seen.add(key)
        out.append(f)
    return out
