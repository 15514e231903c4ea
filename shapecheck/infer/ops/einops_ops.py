"""einops: `rearrange reduce repeat einsum` and the `Rearrange`/`Reduce` layers.

Patterns are parsed as einops does: axis names, composite axes `(h w)`, `1`, `...`, anonymous
sizes (`(h 2)`), and `axes_lengths` keyword arguments. A composite input axis is split by
division: `(b, h * w, c)` with `"b (h w) c -> b h w c", h=8` gives `w = (h * w) // 8` and, when the
sizes are concrete, SC101 if 8 does not divide the axis. Results get `origin="einops"`.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapecheck.infer import messages
from shapecheck.infer.ops._common import as_str, product, tensor, unknown_like
from shapecheck.infer.ops.einsum import einsum_shapes
from shapecheck.infer.ops.registry import OpCall, module, op
from shapecheck.infer.values import UNKNOWN, ModuleValue, TensorValue, TupleValue, Value, as_dim
from shapecheck.shapes import Dim, Shape, compare

ELLIPSIS = "…"
GROUPED_ELLIPSIS = "(…)"  # `...` inside a composite axis on the right: `b ... c -> b (...) c`


class PatternError(ValueError):
    pass


@dataclass
class Side:
    """One side of a pattern: a list of groups; each group is a list of axis names or ints."""

    groups: list[list[str | int]]
    has_ellipsis: bool

    @property
    def names(self) -> list[str]:
        return [a for g in self.groups for a in g if isinstance(a, str) and a not in (ELLIPSIS, GROUPED_ELLIPSIS)]


def parse_side(text: str, *, output: bool = False) -> Side:
    """One side of a pattern. Only the output side may put `...` inside parentheses (einops
    flattens the ellipsis axes into that composite axis); on the input side it is an error."""
    text = text.replace("...", f" {ELLIPSIS} ")
    groups: list[list[str | int]] = []
    current: list[str | int] | None = None
    ellipsis = False
    for token in text.replace("(", " ( ").replace(")", " ) ").split():
        if token == "(":
            if current is not None:
                raise PatternError("nested parentheses")
            current = []
        elif token == ")":
            if current is None:
                raise PatternError("unbalanced parentheses")
            groups.append(current)
            current = None
        else:
            item: str | int
            if token == ELLIPSIS:
                if ellipsis:
                    raise PatternError("'...' can appear only once on each side")
                if current is not None and not output:
                    raise PatternError("'...' inside parentheses is allowed only on the right side")
                ellipsis = True
                item = ELLIPSIS if current is None else GROUPED_ELLIPSIS
            elif token.isdigit():
                item = int(token)
            elif token.isidentifier() and token != "_":
                item = token
            else:
                raise PatternError(f"invalid axis name {token!r}")
            if current is not None:
                current.append(item)
            else:
                groups.append([item])
    if current is not None:
        raise PatternError("unbalanced parentheses")
    names = [a for g in groups for a in g if isinstance(a, str) and a not in (ELLIPSIS, GROUPED_ELLIPSIS)]
    if len(set(names)) != len(names):
        raise PatternError("an axis name is repeated on one side")
    return Side(groups, ellipsis)


def parse_pattern(pattern: str) -> tuple[Side, Side]:
    if pattern.count("->") != 1:
        raise PatternError("the pattern needs exactly one '->'")
    left, right = pattern.split("->")
    return parse_side(left), parse_side(right, output=True)


def _fail(call: OpCall, title: str, pattern: str, text: str, *notes: str) -> Value:
    call.report("SC101", *messages.op_error(f"{title}: {text} (pattern {pattern!r})", *notes))
    return UNKNOWN


def apply_pattern(call: OpCall, kind: str, t: TensorValue, pattern: str, lengths: dict[str, Dim | None]) -> Value:
    """rearrange / reduce / repeat of `t` by `pattern`."""
    title = f"einops.{kind}()"
    fields = {"origin": "einops", "contiguous": True}
    try:
        left, right = parse_pattern(pattern)
    except PatternError as exc:
        return _fail(call, title, pattern, f"invalid pattern: {exc}")
    lnames, rnames = set(left.names), set(right.names)
    if left.has_ellipsis != right.has_ellipsis and not (kind == "reduce" and left.has_ellipsis):
        return _fail(call, title, pattern, "'...' must appear on both sides")
    if kind == "rearrange" and lnames != rnames:
        return _fail(call, title, pattern, f"the two sides name different axes: {sorted(lnames ^ rnames)}")
    if kind == "reduce" and not rnames <= lnames:
        return _fail(call, title, pattern, f"axes {sorted(rnames - lnames)} appear only on the right")
    if kind == "repeat" and not lnames <= rnames:
        return _fail(call, title, pattern, f"axes {sorted(lnames - rnames)} appear only on the left")
    rank = t.shape.rank
    if rank is None:
        return unknown_like(t, **fields)
    n_groups = len([g for g in left.groups if g != [ELLIPSIS]])
    if (left.has_ellipsis and rank < n_groups) or (not left.has_ellipsis and rank != n_groups):
        return _fail(call, title, pattern, f"the input is {t.shape} ({rank}-d) but the left side has {n_groups} axes")
    sizes: dict[str, Dim] = {k: v for k, v in lengths.items() if v is not None}
    unknown_lengths = {k for k, v in lengths.items() if v is None}
    dims = [t.shape[i] for i in range(rank)]
    ellipsis_dims: list[Dim] = []
    pos = 0
    for group in left.groups:
        if group == [ELLIPSIS]:
            span = rank - n_groups
            ellipsis_dims = dims[pos:pos + span]
            pos += span
            continue
        size = dims[pos]
        pos += 1
        known = [sizes[a] if isinstance(a, str) and a in sizes else (Dim.const(a) if isinstance(a, int) else None) for a in group]
        missing = [a for a, k in zip(group, known) if k is None]
        if any(isinstance(a, str) and a in unknown_lengths for a in missing):
            return unknown_like(t, **fields)
        if len(missing) > 1:
            return _fail(call, title, pattern, f"cannot infer the sizes of {missing} from one axis of size {size}",
                         "pass all but one of them as keyword arguments")
        known_product = product(k for k in known if k is not None)
        if missing:
            q = size // known_product
            if size.value is not None and known_product.value is not None:
                if known_product.value == 0 or size.value % known_product.value:
                    return _fail(call, title, pattern, f"axis of size {size} cannot be split into {group}: "
                                 f"{known_product} does not divide it")
            elif call.facts is not None:
                call.facts.assume_divides(known_product, size)
                q = call.facts.simplify(q)
            sizes[str(missing[0])] = q
        elif compare(known_product, size, call.facts) == "different":
            return _fail(call, title, pattern, f"axes {group} multiply to {known_product} but the input axis is {size}")
    out: list[Dim] = []
    for group in right.groups:
        if group == [ELLIPSIS]:
            out.extend(ellipsis_dims)
            continue
        parts: list[Dim] = []
        for a in group:
            if a == GROUPED_ELLIPSIS:
                parts.extend(ellipsis_dims)
            elif isinstance(a, int):
                parts.append(Dim.const(a))
            elif a in sizes:
                parts.append(sizes[a])
            elif a in unknown_lengths:
                parts.append(Dim.unknown())
            else:
                return _fail(call, title, pattern, f"the size of new axis {a!r} is not given", f"pass {a}=<size>")
        d = product(parts)
        out.append(call.facts.simplify(d) if call.facts is not None else d)
    return TensorValue(Shape.of(*out), dtype=t.dtype, device=t.device, library=t.library, **fields)  # type: ignore[arg-type]


def _lengths(kwargs: dict[str, Value], skip: tuple[str, ...] = ()) -> dict[str, Dim | None]:
    return {k: as_dim(v) for k, v in kwargs.items() if k not in skip}


@op("einops.rearrange", "einops.reduce", "einops.repeat")
def einops_op(call: OpCall) -> Value:
    kind = call.name.rsplit(".", 1)[-1]
    t = tensor(call.arg(0, "tensor"))
    pattern = as_str(call.arg(1, "pattern"))
    if t is None or pattern is None:
        return UNKNOWN
    return apply_pattern(call, kind, t, pattern, _lengths(call.kwargs, ("tensor", "pattern", "reduction")))


@op("einops.einsum")
def einops_einsum(call: OpCall) -> Value:
    """`einops.einsum(a, b, "batch i d, batch j d -> batch i j")`: the pattern comes last, words as labels."""
    if not call.args:
        return UNKNOWN
    pattern = as_str(call.args[-1])
    values = call.args[:-1]
    if len(values) == 1 and isinstance(values[0], TupleValue):
        values = list(values[0].items)
    tensors = [tensor(v) for v in values]
    if pattern is None or not tensors or any(t is None for t in tensors):
        return UNKNOWN
    if "->" not in pattern:
        return _fail(call, "einops.einsum()", pattern, "the pattern needs '->'")
    lhs, rhs = pattern.split("->")
    terms = [[("..." if w == "..." else w) for w in term.split()] for term in lhs.split(",")]
    output = ["..." if w == "..." else w for w in rhs.split()]
    return einsum_shapes(call, "einops.einsum()", terms, output, [t for t in tensors if t is not None],
                         [call.label(i, f"tensor {i}") for i in range(len(tensors))])


@module("einops.layers.torch.Rearrange", "einops.layers.torch.Reduce")
def einops_layer(m: ModuleValue, call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    pattern = as_str(m.kwarg("pattern", 0))
    if t is None or pattern is None:
        return UNKNOWN
    kind = "rearrange" if m.qualname.endswith("Rearrange") else "reduce"
    lengths = {k: as_dim(v) for k, v in m.kwargs if k not in ("pattern", "reduction")}
    return apply_pattern(call, kind, t, pattern, lengths)
