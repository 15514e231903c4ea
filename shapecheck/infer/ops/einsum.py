"""`torch.einsum` / `numpy.einsum`: the equation is parsed (`"bhqd,bhkd->bhqk"`, `...`, spaces,
implicit output = the labels seen once, in alphabetical order, after the ellipsis axes).

Checks: one term per operand, one label per axis, a label's sizes agree across operands (torch
broadcasts a size 1), a label repeated inside one operand (a diagonal) has equal sizes, output
labels appear in the inputs once. Results get `origin="einsum"` (explicit intent: no SC102).
"""

from __future__ import annotations

from collections.abc import Sequence

from shapecheck.infer import messages
from shapecheck.infer.ops._common import as_str, tensor, unknown_like
from shapecheck.infer.ops.registry import OpCall, op
from shapecheck.infer.values import UNKNOWN, TensorValue, TupleValue, Value
from shapecheck.shapes import Dim, Shape, broadcast, compare

ELLIPSIS = "..."
Term = list[str]


class EquationError(ValueError):
    pass


def parse_equation(equation: str) -> tuple[list[Term], Term | None]:
    """`"ij,jk->ik"` -> ([["i","j"], ["j","k"]], ["i","k"]); labels are single letters; `...` is one item."""
    eq = equation.replace(" ", "")
    if eq.count("->") > 1:
        raise EquationError("more than one '->'")
    lhs, _, rhs = eq.partition("->")
    terms = [_term(t) for t in lhs.split(",")]
    output = _term(rhs) if "->" in eq else None
    return terms, output


def _term(text: str) -> Term:
    out: Term = []
    i = 0
    while i < len(text):
        if text.startswith("...", i):
            if ELLIPSIS in out:
                raise EquationError("more than one '...' in a term")
            out.append(ELLIPSIS)
            i += 3
            continue
        ch = text[i]
        if not (ch.isascii() and ch.isalpha()):
            raise EquationError(f"invalid subscript {ch!r}: only letters a-z, A-Z and '...' are allowed")
        out.append(ch)
        i += 1
    return out


def implicit_output(terms: Sequence[Term]) -> Term:
    counts: dict[str, int] = {}
    for term in terms:
        for label in term:
            if label != ELLIPSIS:
                counts[label] = counts.get(label, 0) + 1
    has_ellipsis = any(ELLIPSIS in t for t in terms)
    return ([ELLIPSIS] if has_ellipsis else []) + sorted(label for label, n in counts.items() if n == 1)


def labels_problem(terms: Sequence[Term], output: Term | None, n_operands: int | None) -> str | None:
    """What is wrong with an equation's labels whatever the operands' shapes, or None: a term
    count that is not the operand count, an output label absent from the inputs or repeated.
    (`...` in the output alone is fine: it stands for no axes.)"""
    if n_operands is not None and len(terms) != n_operands:
        return f"the equation has {len(terms)} operand term(s) but {n_operands} tensor(s) were given"
    seen_in = {label for term in terms for label in term}
    for label in output or ():
        if label == ELLIPSIS:
            continue
        if label not in seen_in:
            return f"output subscript {label} does not appear in the inputs"
        if output is not None and output.count(label) > 1:
            return f"output subscript {label} appears more than once"
    return None


def operand_count(values: Sequence[Value]) -> int | None:
    """How many operands were passed, when it is known: `einsum(eq, a, b)` is two, and so is
    `einsum(eq, [a, b])`; `einsum(eq, ops)` with `ops` not known could be a list of any length."""
    if len(values) == 1 and not isinstance(values[0], TensorValue):
        return len(values[0].items) if isinstance(values[0], TupleValue) else None
    return len(values) or None


def check_labels(call: OpCall, title: str, terms: Sequence[Term], output: Term | None, n_operands: int | None) -> bool:
    problem = labels_problem(terms, output, n_operands)
    if problem is not None:
        call.report("SC101", *messages.op_error(f"{title}: {problem}"))
    return problem is None


def einsum_shapes(call: OpCall, title: str, terms: list[Term], output: Term | None, tensors: list[TensorValue],
                  labels: list[str]) -> Value:
    """The shared core of `torch.einsum` and `einops.einsum` (labels may be words there)."""
    first = tensors[0] if tensors else None
    if first is None:
        return UNKNOWN
    fields = {"origin": "einsum", "contiguous": True, "dtype": first.dtype, "device": first.device, "library": first.library}
    if not check_labels(call, title, terms, output, len(tensors)):
        return UNKNOWN
    out = output if output is not None else implicit_output(terms)
    sizes: dict[str, tuple[Dim, int]] = {}
    ellipsis_shapes: list[Shape] = []
    unknown = False
    for k, (term, t, label) in enumerate(zip(terms, tensors, labels)):
        if t.shape.rank is None:
            unknown = True
            continue
        rank = t.shape.rank
        named = [x for x in term if x != ELLIPSIS]
        if (ELLIPSIS in term and rank < len(named)) or (ELLIPSIS not in term and rank != len(named)):
            call.report("SC101", *messages.op_error(
                f"{title}: term {''.join(term) if len(max(term, key=len)) == 1 else ' '.join(term)!r} has {len(named)} subscript(s) "
                f"but {label} is {t.shape} ({rank}-d)", "one subscript per axis ('...' covers any number of axes)"))
            return UNKNOWN
        dims = [t.shape[i] for i in range(rank)]
        if ELLIPSIS in term:
            at = term.index(ELLIPSIS)
            span = rank - len(named)
            ellipsis_shapes.append(Shape.of(*dims[at:at + span]))
            axis_dims = dims[:at] + dims[at + span:]
        else:
            axis_dims = dims
        local: dict[str, Dim] = {}
        for name, d in zip(named, axis_dims):
            if name in local and compare(local[name], d, call.facts) == "different":
                call.report("SC101", *messages.op_error(
                    f"{title}: subscript {name} is repeated in the term for {label} {t.shape} with different sizes "
                    f"{local[name]} and {d}"))
                return UNKNOWN
            local[name] = d
            if name not in sizes:
                sizes[name] = (d, k)
                continue
            prev, where = sizes[name]
            verdict = compare(prev, d, call.facts)
            if verdict == "equal" or d.value == 1:
                continue
            if prev.value == 1:
                sizes[name] = (d, k)
                continue
            if verdict == "different":
                call.report("SC101", *messages.op_error(
                    f"{title}: subscript {name} is {prev} in {labels[where]} {tensors[where].shape} but {d} in {label} {t.shape}",
                    f"every axis labelled {name} must have the same size (or 1)"))
                return UNKNOWN
            if not prev.is_const and not prev.is_unknown and not d.is_const and not d.is_unknown:
                call.report("SC103", *messages.op_error(
                    f"{title}: subscript {name} is {prev} in {labels[where]} and {d} in {label}: this only works if {prev} == {d}",
                    "differently named dims are assumed to be different sizes"))
    if unknown:
        return TensorValue(Shape.unknown(), **fields)  # type: ignore[arg-type]
    ell: list[Dim] = []
    if ellipsis_shapes:
        result = broadcast(*ellipsis_shapes, facts=call.facts)
        if not result.ok:
            call.report("SC101", *messages.op_error(
                f"{title}: the '...' axes do not broadcast: " + ", ".join(str(s) for s in ellipsis_shapes)))
            return UNKNOWN
        if result.shape is None or result.shape.rank is None:
            return TensorValue(Shape.unknown(), **fields)  # type: ignore[arg-type]
        ell = [result.shape[i] for i in range(result.shape.rank)]
    dims_out: list[Dim] = []
    for name in out:
        if name == ELLIPSIS:
            dims_out.extend(ell)
        else:
            dims_out.append(sizes[name][0])
    return TensorValue(Shape.of(*dims_out), **fields)  # type: ignore[arg-type]


@op("torch.einsum", "numpy.einsum", "torch.functional.einsum")
def einsum(call: OpCall) -> Value:
    """The equation is checked before the operands: an invalid equation, a term count that is not
    the operand count or an output label no input has raises whatever the shapes."""
    equation = as_str(call.arg(0, "equation"))
    rest = call.args[1:]
    if len(rest) == 1 and isinstance(rest[0], TupleValue):
        rest = list(rest[0].items)
    tensors = [tensor(v) for v in rest]
    if equation is None:
        return UNKNOWN if not tensors or tensors[0] is None else unknown_like(tensors[0], origin="einsum")
    try:
        terms, output = parse_equation(equation)
    except EquationError as exc:
        call.report("SC101", *messages.op_error(f"einsum(): invalid equation {equation!r}: {exc}"))
        return UNKNOWN
    if not check_labels(call, "einsum()", terms, output, operand_count(rest)):
        return UNKNOWN
    if not tensors or any(t is None for t in tensors):
        return UNKNOWN if not tensors or tensors[0] is None else unknown_like(tensors[0], origin="einsum")
    return einsum_shapes(call, "einsum()", terms, output, [t for t in tensors if t is not None],
                         [call.label(i + 1, f"operand {i}") for i in range(len(tensors))])
