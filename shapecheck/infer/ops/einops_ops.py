"""einops: `rearrange reduce repeat einsum` and the `Rearrange`/`Reduce` layers.

Patterns are parsed as einops does: axis names, composite axes `(h w)`, `1`, `...`, anonymous
sizes (`(h 2)`), and `axes_lengths` keyword arguments. A composite input axis is split by
division: `(b, h * w, c)` with `"b (h w) c -> b h w c", h=8` gives `w = (h * w) // 8` and, when the
sizes are concrete, SC101 if 8 does not divide the axis. Results get `origin="einops"`.

The pattern is checked before the tensor, whatever is known of its shape (`pattern_problem`):
what einops rejects before it reads the tensor (no `->`, an axis on one side only, a new
`repeat` axis without its size, an unused axis length, bad names or brackets, two unknown sizes
in one composite axis) raises for every input, so it is SC101 even on an unknown tensor. The
layers prepare their recipes in the constructor, so `Rearrange(...)` is checked where it is
built (a registered op under the class name that returns the module).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shapecheck.infer import messages
from shapecheck.infer.ops._common import as_str, product, tensor, unknown_like
from shapecheck.infer.ops.einsum import check_labels, einsum_shapes, operand_count
from shapecheck.infer.ops.registry import OpCall, module, op
from shapecheck.infer.values import UNKNOWN, ModuleValue, ShapeValue, TensorValue, TupleValue, Value, as_dim
from shapecheck.shapes import Dim, Shape, compare

ELLIPSIS = "…"
GROUPED_ELLIPSIS = "(…)"  # `...` inside a composite axis on the right: `b ... c -> b (...) c`
REDUCTIONS = frozenset({"min", "max", "sum", "mean", "prod", "any", "all"})


class PatternError(ValueError):
    pass


@dataclass
class Side:
    """One side of a pattern: a list of groups; each group is a list of axis names or ints
    (anonymous axes: `1`, or the `2` of `(h 2)`)."""

    groups: list[list[str | int]]
    has_ellipsis: bool
    ellipsis_grouped: bool = False

    @property
    def names(self) -> list[str]:
        return [a for g in self.groups for a in g if isinstance(a, str) and a not in (ELLIPSIS, GROUPED_ELLIPSIS)]

    @property
    def anonymous(self) -> list[int]:
        """The anonymous axes other than 1 (`(h 2)`): einops gives each its own identity."""
        return [a for g in self.groups for a in g if isinstance(a, int) and a != 1]


def parse_side(text: str) -> Side:
    """One side of a pattern, read character by character as einops reads it: names are Python
    identifiers that neither start nor end with `_`, `...` appears at most once, parentheses
    are balanced and one level deep, a name appears once."""
    if "." in text:
        if text.count("...") != 1 or text.count(".") != 3:
            raise PatternError("dots may only form one '...' on each side")
        text = text.replace("...", ELLIPSIS)
    groups: list[list[str | int]] = []
    current: list[str | int] | None = None
    ellipsis = grouped = False
    seen: set[str] = set()

    def add(token: str) -> None:
        nonlocal ellipsis, grouped
        item: str | int
        if token == ELLIPSIS:
            ellipsis, grouped = True, current is not None
            item = ELLIPSIS if current is None else GROUPED_ELLIPSIS
        elif token.isdecimal():
            item = int(token)
            if item == 0:
                raise PatternError("an anonymous axis of length 0")
        elif not token.isidentifier():
            raise PatternError(f"invalid axis name {token!r}: not a Python identifier")
        elif token[0] == "_" or token[-1] == "_":
            raise PatternError(f"invalid axis name {token!r}: axis names may not start or end with '_'")
        else:
            if token in seen:
                raise PatternError(f"the axis name {token!r} is repeated on one side")
            seen.add(token)
            item = token
        if current is not None:
            current.append(item)
        else:
            groups.append([item])

    token = ""
    for char in text + " ":
        if char in "() ":
            if token:
                add(token)
            token = ""
            if char == "(":
                if current is not None:
                    raise PatternError("nested parentheses: a composite axis is one level deep")
                current = []
            elif char == ")":
                if current is None:
                    raise PatternError("unbalanced parentheses")
                groups.append(current)
                current = None
        elif char.isalnum() or char in ("_", ELLIPSIS):
            token += char
        else:
            raise PatternError(f"unexpected character {char!r}")
    if current is not None:
        raise PatternError("unbalanced parentheses")
    return Side(groups, ellipsis, grouped)


def parse_pattern(pattern: str) -> tuple[Side, Side]:
    if "->" not in pattern:
        raise PatternError("the pattern has no '->': einops needs 'input axes -> output axes'")
    if pattern.count("->") != 1:
        raise PatternError("the pattern has more than one '->'")
    left, right = pattern.split("->")
    return parse_side(left), parse_side(right)


def pattern_problem(kind: str, pattern: str, axes: Iterable[str] = (), reduction: str | None = None) -> str | None:
    """Why einops raises on `pattern` whatever the tensor's shape, or None.

    `kind` is rearrange / reduce / repeat; `axes` the names given sizes as keyword arguments;
    `reduction` the reduce operation when it is a literal string. Mirrors einops 0.8's
    `ParsedExpression` and `_prepare_transformation_recipe`: everything they check before they
    look at the tensor."""
    try:
        left, right = parse_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    if right.has_ellipsis and not left.has_ellipsis:
        return "'...' appears on the right side but not on the left"
    if left.ellipsis_grouped:
        return "'...' inside parentheses is allowed only on the right side"
    lnames, rnames = set(left.names), set(right.names)
    if kind == "rearrange":
        if left.anonymous or right.anonymous:
            return "rearrange takes no anonymous axes other than 1 (`(h 2)`): name the axis and pass its size"
        only = sorted(lnames ^ rnames) + (["..."] if left.has_ellipsis != right.has_ellipsis else [])
        if only:
            return f"axes {only} appear on one side only (rearrange keeps every axis)"
    elif kind == "repeat":
        only = sorted(lnames - rnames) + (["..."] if left.has_ellipsis and not right.has_ellipsis else [])
        if only or left.anonymous:
            return f"axes {only or left.anonymous} appear only on the left (repeat cannot drop an axis)"
        unsized = sorted(rnames - lnames - set(axes))
        if unsized:
            return f"the size of new axis {unsized[0]!r} is not given: pass {unsized[0]}=<size>"
    elif kind == "reduce":
        if reduction is not None and reduction not in REDUCTIONS:
            return f"unknown reduction {reduction!r}: one of {', '.join(sorted(REDUCTIONS))} (or a callable)"
        only = sorted(rnames - lnames)
        if only or right.anonymous:
            return f"axes {only or right.anonymous} appear only on the right (reduce cannot add an axis)"
    for name in axes:
        if not name.isidentifier() or name[0] == "_" or name[-1] == "_":
            return f"{name!r} is not a valid axis name"
        if name not in lnames | rnames:
            return f"axis {name!r} is given a size but the pattern does not use it"
    given = set(axes)
    for group in left.groups:
        free = [a for a in group if isinstance(a, str) and a != ELLIPSIS and a not in given]
        if len(free) > 1:
            return f"cannot infer the sizes of {free} from one axis: pass all but one of them as keyword arguments"
    return None


def _fail(call: OpCall, title: str, pattern: str, text: str, *notes: str) -> Value:
    call.report("SC101", *messages.op_error(f"{title}: {text} (pattern {pattern!r})", *notes))
    return UNKNOWN


def check_pattern(call: OpCall, kind: str, pattern: str, lengths: dict[str, Dim | None], reduction: str | None = None,
                  title: str | None = None) -> bool:
    """Report (SC101) a pattern einops rejects whatever the tensor; True when it is fine."""
    problem = pattern_problem(kind, pattern, lengths, reduction)
    if problem is None:
        return True
    _fail(call, title or f"einops.{kind}()", pattern, f"invalid pattern: {problem}",
          "einops raises on this pattern for every input, before it looks at the tensor")
    return False


def apply_pattern(call: OpCall, kind: str, t: TensorValue, pattern: str, lengths: dict[str, Dim | None]) -> Value:
    """rearrange / reduce / repeat of `t` by `pattern` (already accepted by `pattern_problem`)."""
    title = f"einops.{kind}()"
    fields = {"origin": "einops", "contiguous": True}
    left, right = parse_pattern(pattern)
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
    """The pattern is checked first, even when the tensor's shape is unknown: what einops rejects
    whatever the input is an error wherever it is written."""
    kind = call.name.rsplit(".", 1)[-1]
    pattern = as_str(call.arg(1, "pattern"))
    if pattern is None:
        return UNKNOWN
    lengths = _lengths(call.kwargs, ("tensor", "pattern", "reduction"))
    reduction = as_str(call.arg(2, "reduction")) if kind == "reduce" else None
    if not check_pattern(call, kind, pattern, lengths, reduction):
        return UNKNOWN
    t = tensor(call.arg(0, "tensor"))
    if t is None:
        return UNKNOWN
    return apply_pattern(call, kind, t, pattern, lengths)


@op("einops.einsum")
def einops_einsum(call: OpCall) -> Value:
    """`einops.einsum(a, b, "batch i d, batch j d -> batch i j")`: the pattern comes last, words as labels."""
    if not call.args:
        return UNKNOWN
    pattern = as_str(call.args[-1])
    values = call.args[:-1]
    if len(values) == 1 and isinstance(values[0], TupleValue):
        values = list(values[0].items)
    if pattern is None:
        return UNKNOWN
    if pattern.count("->") != 1:
        return _fail(call, "einops.einsum()", pattern, "the pattern needs exactly one '->'")
    lhs, rhs = pattern.split("->")
    terms = [[("..." if w == "..." else w) for w in term.split()] for term in lhs.split(",")]
    output = ["..." if w == "..." else w for w in rhs.split()]
    if not check_labels(call, "einops.einsum()", terms, output, operand_count(call.args[:-1])):
        return UNKNOWN
    tensors = [tensor(v) for v in values]
    if not tensors or any(t is None for t in tensors):
        return UNKNOWN
    return einsum_shapes(call, "einops.einsum()", terms, output, [t for t in tensors if t is not None],
                         [call.label(i, f"tensor {i}") for i in range(len(tensors))])


_LAYERS = ("einops.layers.torch.Rearrange", "einops.layers.torch.Reduce")


def _layer_pattern(qualname: str, args: Sequence[Value], kwargs: dict[str, Value]) -> tuple[str, str | None, str | None, dict[str, Dim | None]]:
    """(kind, pattern, reduction, axes lengths) of `Rearrange(pattern, **lengths)` /
    `Reduce(pattern, reduction, **lengths)`."""
    kind = "rearrange" if qualname.endswith("Rearrange") else "reduce"
    pattern = as_str(kwargs["pattern"] if "pattern" in kwargs else (args[0] if args else None))
    reduction = None
    if kind == "reduce":
        reduction = as_str(kwargs["reduction"] if "reduction" in kwargs else (args[1] if len(args) > 1 else None))
    return kind, pattern, reduction, {k: as_dim(v) for k, v in kwargs.items() if k not in ("pattern", "reduction")}


@op(*_LAYERS)
def einops_layer_init(call: OpCall) -> Value:
    """Building the layer (`Rearrange("b c h w -> b (h w) c")` in `__init__`): einops prepares
    its recipes in the constructor, so a bad pattern raises there. The result is the module."""
    kind, pattern, reduction, lengths = _layer_pattern(call.name, call.args, call.kwargs)
    if pattern is not None:
        check_pattern(call, kind, pattern, lengths, reduction, title=call.name.rsplit(".", 1)[-1])
    return ModuleValue(call.name, tuple(call.args), tuple(call.kwargs.items()))


@module(*_LAYERS)
def einops_layer(m: ModuleValue, call: OpCall) -> Value:
    t = tensor(call.arg(0, "input"))
    kind, pattern, reduction, lengths = _layer_pattern(m.qualname, m.args, dict(m.kwargs))
    if t is None or pattern is None or pattern_problem(kind, pattern, lengths, reduction) is not None:
        return UNKNOWN  # a bad pattern was reported where the layer is built
    return apply_pattern(call, kind, t, pattern, lengths)


def pack_problem(pattern: str, opname: str) -> str | None:
    """What einops' pack/unpack reject in a pattern, whatever the tensors (`analyze_pattern`):
    names separated by spaces, one `*`, no name twice, valid axis names."""
    axes = pattern.split()
    if len(axes) != len(set(axes)):
        return f"an axis appears twice in {opname} pattern {pattern!r}"
    if "*" not in axes:
        return f"{opname} pattern {pattern!r} has no '*' axis (the one that packs)"
    for axis in axes:
        if axis != "*" and (not axis.isidentifier() or axis[0] == "_" or axis[-1] == "_"):
            return f"invalid axis name {axis!r} in {opname} pattern {pattern!r}"
    return None


def _pack_fail(call: OpCall, text: str) -> Value:
    call.report("SC101", *messages.op_error(text))
    return UNKNOWN


@op("einops.pack")
def einops_pack(call: OpCall) -> Value:
    """`packed, ps = pack([a, b], "b * d")`: the axes before and after `*` are shared and must be
    equal; the `*` axes of each tensor are flattened and concatenated. `ps` holds each tensor's
    `*` axes (for `unpack`)."""
    pattern = as_str(call.arg(1, "pattern"))
    if pattern is None:
        return UNKNOWN
    problem = pack_problem(pattern, "pack")
    if problem is not None:
        return _pack_fail(call, f"einops.pack(): invalid pattern: {problem}")
    axes = pattern.split()
    before, after = axes.index("*"), len(axes) - axes.index("*") - 1
    seq = call.arg(0, "tensors")
    if not isinstance(seq, TupleValue) or not seq.items:
        return UNKNOWN
    ref: tuple[list[Dim], list[Dim], TensorValue, int] | None = None
    total = Dim.const(0)
    packed_shapes: list[Value] = []
    for i, item in enumerate(seq.items):
        t = tensor(item)
        if t is None or t.shape.rank is None:
            total = Dim.unknown()
            packed_shapes.append(UNKNOWN)
            continue
        rank = t.shape.rank
        if rank < before + after:
            return _pack_fail(call, f"einops.pack(): tensor #{i} is {t.shape} ({rank}-d) but pattern {pattern!r} "
                                    f"needs at least {before + after} dims")
        dims = [t.shape[k] for k in range(rank)]
        lead, star, trail = dims[:before], dims[before:rank - after], dims[rank - after:]
        if ref is None:
            ref = (lead, trail, t, i)
        else:
            for k, (a, b) in enumerate(zip(ref[0] + ref[1], lead + trail)):
                if compare(a, b, call.facts) == "different":
                    name = [x for x in axes if x != "*"][k]
                    return _pack_fail(call, f"einops.pack(): axis {name!r} is {a} in tensor #{ref[3]} {ref[2].shape} "
                                            f"but {b} in tensor #{i} {t.shape}")
        total = total + product(star)
        packed_shapes.append(ShapeValue(Shape.of(*star)))
    if ref is None:
        return UNKNOWN
    first = ref[2]
    packed = TensorValue(Shape.of(*ref[0], total, *ref[1]), dtype=first.dtype, device=first.device, library=first.library,
                         origin="einops")
    return TupleValue((packed, TupleValue(tuple(packed_shapes))))


@op("einops.unpack")
def einops_unpack(call: OpCall) -> Value:
    """`a, b = unpack(packed, ps, "b * d")`: each piece gets back its `*` axes from `ps` (one of
    them may be -1); the packed tensor has exactly the pattern's rank."""
    pattern = as_str(call.arg(2, "pattern"))
    if pattern is None:
        return UNKNOWN
    problem = pack_problem(pattern, "unpack")
    if problem is not None:
        return _pack_fail(call, f"einops.unpack(): invalid pattern: {problem}")
    axes = pattern.split()
    before, after = axes.index("*"), len(axes) - axes.index("*") - 1
    t, ps = tensor(call.arg(0, "tensor")), call.arg(1, "packed_shapes")
    if t is None or t.shape.rank is None:
        return UNKNOWN
    if t.shape.rank != before + 1 + after:
        return _pack_fail(call, f"einops.unpack(): the packed tensor is {t.shape} ({t.shape.rank}-d) but pattern "
                                f"{pattern!r} has {before + 1 + after} axes")
    if not isinstance(ps, TupleValue):
        return UNKNOWN
    dims = [t.shape[k] for k in range(t.shape.rank)]
    lead, size, trail = dims[:before], dims[before], dims[before + 1:]
    pieces: list[list[Dim] | None] = []
    for item in ps.items:
        sizes = [item.shape[k] for k in range(item.shape.rank)] if isinstance(item, ShapeValue) and item.shape.rank is not None \
            else _int_dims(item)
        pieces.append(sizes)
    inferred = [k for k, p in enumerate(pieces) if p is not None and any(d.value == -1 for d in p)]
    known = [product(p) for p in pieces if p is not None and not any(d.value == -1 for d in p)]
    known_total = Dim.const(0)
    for n in known:
        known_total = known_total + n
    if len(known) == len(pieces) and not inferred and compare(known_total, size, call.facts) == "different":
        return _pack_fail(call, f"einops.unpack(): axis '*' of {t.shape} is {size} but the packed shapes add up to "
                                f"{known_total}")
    out: list[Value] = []
    for k, p in enumerate(pieces):
        if p is None or k in inferred:
            out.append(TensorValue(Shape.unknown(), dtype=t.dtype, device=t.device, library=t.library, origin="einops"))
            continue
        out.append(TensorValue(Shape.of(*lead, *p, *trail), dtype=t.dtype, device=t.device, library=t.library,
                               origin="einops"))
    return TupleValue(tuple(out))


def _int_dims(value: Value) -> list[Dim] | None:
    if isinstance(value, TupleValue):
        out = [as_dim(v) for v in value.items]
        return None if any(d is None for d in out) else out  # type: ignore[return-value]
    return None
