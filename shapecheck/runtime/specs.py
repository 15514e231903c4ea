"""Compile jaxtyping annotation classes into small checking specs, and check values against them.

We read what jaxtyping already parsed (`Float[Tensor, "b d"]` carries `.dims`, `.dtypes`,
`.index_variadic`, `.array_type`, `.dim_str`), so the runtime and jaxtyping agree on the
grammar and its quirks (`a=b` binds `b`, `#n` of size 1 binds nothing), but we do the checking
ourselves: jaxtyping's checks go through thread-local memos and `eval` (for `n-1`), and its
reason strings carry no binding origin. Symbolic dims are evaluated by a small arithmetic
evaluator over the bound dims (no `eval`); one that refers to anything else (jaxtyping's
`{self.x}` f-string form) is left unchecked: silence on unknowns.

    >>> spec = compile_annotation(Float[Tensor, "batch d"])
    >>> check_value(spec, torch.zeros(3, 4), memo := {}, {})   # '' and memo == {'batch': 3, 'd': 4}
"""

from __future__ import annotations

import ast
import operator
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

ANON, FIXED, NAMED, SYMBOLIC, FSTRING = 0, 1, 2, 3, 4
ARGS_KEY = "{arguments}"  # memo key of the call's arguments, present when a spec has f-string dims

Dim = tuple[int, Any, bool]  # (kind, payload, broadcastable)


@dataclass(frozen=True)
class ArraySpec:
    """One jaxtyping array annotation, precompiled for fast checks."""

    text: str  # as jaxtyping names it: "Float[Tensor, 'b d']"
    array_type: Any
    dtypes: frozenset[str] | None  # None: any dtype
    dtype_patterns: tuple[re.Pattern[str], ...]
    dtype_label: str  # "float" / "int"... for messages
    prefix: tuple[Dim, ...]  # dims before the variadic (all dims when there is none)
    suffix: tuple[Dim, ...]  # dims after the variadic
    variadic: bool
    variadic_name: str | None  # None for `...` / `*_`
    variadic_broadcast: bool

    @property
    def min_rank(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def dim_names(self) -> set[str]:
        names = {p for k, p, _ in (*self.prefix, *self.suffix) if k == NAMED}
        for k, p, _ in (*self.prefix, *self.suffix):
            if k == SYMBOLIC and p is not None:
                names |= {n.id for n in ast.walk(p) if isinstance(n, ast.Name)}
            if k == FSTRING:
                names.add(ARGS_KEY)
        if self.variadic_name:
            names.add(self.variadic_name)
        return names


@dataclass(frozen=True)
class Spec:
    """An argument's annotation: one or more array specs (a Union), maybe `None` allowed."""

    alternatives: tuple[ArraySpec, ...]
    optional: bool

    @property
    def text(self) -> str:
        parts = [a.text for a in self.alternatives]
        if self.optional:
            parts.append("None")
        return " | ".join(parts)


def is_array_annotation(obj: Any) -> bool:
    """True for a jaxtyping array class such as `Float[Tensor, "b"]` (not the bare `Float`)."""
    return isinstance(obj, type) and hasattr(obj, "dim_str") and hasattr(obj, "index_variadic") \
        and hasattr(obj, "dims") and hasattr(obj, "array_type")


def compile_annotation(annotation: Any) -> Spec | None:
    """A `Spec` for an annotation that mentions jaxtyping arrays; None for anything else."""
    if is_array_annotation(annotation):
        return Spec((_compile_array(annotation),), optional=False)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return compile_annotation(typing.get_args(annotation)[0])
    if origin is Union or (hasattr(types, "UnionType") and isinstance(annotation, types.UnionType)):
        members = typing.get_args(annotation)
        arrays = [m for m in members if is_array_annotation(m)]
        others = [m for m in members if not is_array_annotation(m)]
        # A union with a non-array member other than None (say `Tensor | float`) is checked
        # only when the value is an instance of one of the array types; see `check_value`.
        if not arrays:
            return None
        optional = type(None) in others
        if any(o is not type(None) for o in others):
            return Spec(tuple(_compile_array(a) for a in arrays), optional=True)
        return Spec(tuple(_compile_array(a) for a in arrays), optional=optional)
    return None


def _compile_dim(dim: Any) -> Dim:
    kind = type(dim).__name__
    bc = bool(getattr(dim, "broadcastable", False))
    if kind == "_FixedDim":
        return (FIXED, int(dim.size), bc)
    if kind == "_NamedDim":
        return (NAMED, str(dim.name), bc)
    if kind == "_SymbolicDim":
        text = str(dim.elem)
        if "{" in text:  # jaxtyping's f-string dims: "{dim}", "{self.size}", "{n}-1"
            return (FSTRING, text, bc)
        return (SYMBOLIC, _parse_expr(text), bc)
    return (ANON, None, False)


def _compile_array(cls: Any) -> ArraySpec:
    dims = tuple(cls.dims)
    iv = cls.index_variadic
    dtypes = cls.dtypes
    names: set[str] | None
    patterns: list[re.Pattern[str]] = []
    if isinstance(dtypes, (list, tuple)):
        names = set()
        for d in dtypes:
            if isinstance(d, str):
                names.add(d)
            elif isinstance(d, re.Pattern):
                patterns.append(d)
    else:  # jaxtyping's "any dtype" sentinel
        names = None
    label = getattr(getattr(cls, "dtype", None), "__name__", "Shaped")
    if iv is None:
        prefix, suffix, variadic, vname, vbc = tuple(_compile_dim(d) for d in dims), (), False, None, False
    else:
        vdim = dims[iv]
        vname = getattr(vdim, "name", None)
        vbc = bool(getattr(vdim, "broadcastable", False))
        prefix = tuple(_compile_dim(d) for d in dims[:iv])
        suffix = tuple(_compile_dim(d) for d in dims[iv + 1:])
        variadic = True
    return ArraySpec(
        text=f"{label}[{_type_name(cls.array_type)}, '{cls.dim_str}']",
        array_type=cls.array_type,
        dtypes=frozenset(names) if names is not None else None,
        dtype_patterns=tuple(patterns),
        dtype_label=label,
        prefix=prefix,
        suffix=suffix,
        variadic=variadic,
        variadic_name=vname,
        variadic_broadcast=vbc,
    )


def _type_name(t: Any) -> str:
    return "Any" if t is Any else getattr(t, "__name__", str(t))


# --- symbolic dims: a safe evaluator over bound dims -------------------------------------

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.Div: operator.truediv,
}
_FUNCS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}


def _parse_expr(text: str) -> ast.expr | None:
    """Parse `n-1`, `2*d`, `min(a,b)`; None when it uses anything we do not evaluate."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        ok = isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.USub, ast.UAdd,
                               ast.Call, *tuple(_BINOPS)))
        if isinstance(node, ast.Constant):
            ok = isinstance(node.value, int)
        if isinstance(node, ast.Call):
            ok = isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords
        if not ok:
            return None
    return tree


_FIELD = re.compile(r"\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}")
_PARSED: dict[str, ast.expr | None] = {}


def format_dim(text: str, arguments: dict[str, Any]) -> tuple[ast.expr | None, str]:
    """Fill the `{name}` / `{self.attr}` fields of an f-string dim from the call's arguments, as
    jaxtyping does (but without `eval`: only names and attribute chains). Returns (the parsed
    expression or None, a reason when a field cannot be filled)."""
    def fill(match: re.Match[str]) -> str:
        root, *attrs = match.group(1).split(".")
        if root not in arguments:
            raise LookupError(f"'{root}' is not an argument of the call")
        value = arguments[root]
        for attr in attrs:
            value = getattr(value, attr)
        return f"({int(value)})" if isinstance(value, int) else str(value)

    try:
        filled = _FIELD.sub(fill, text)
    except (LookupError, AttributeError, TypeError, ValueError) as exc:
        return None, str(exc)
    if "{" in filled or "}" in filled:
        return None, "only {name} and {name.attr} fields are supported"
    if filled not in _PARSED:
        if len(_PARSED) > 4096:
            _PARSED.clear()
        _PARSED[filled] = _parse_expr(filled)
    return _PARSED[filled], ""


def unbound_names(node: ast.expr, memo: dict[str, Any]) -> list[str]:
    return sorted({n.id for n in ast.walk(node) if isinstance(n, ast.Name) and not isinstance(memo.get(n.id), int)
                   and not (isinstance(n, ast.Name) and n.id in _FUNCS)})


def eval_expr(node: ast.expr, memo: dict[str, Any]) -> int | None:
    """The value of a symbolic dim under `memo`, or None if a name is unbound."""
    if isinstance(node, ast.Constant):
        return int(node.value)
    if isinstance(node, ast.Name):
        value = memo.get(node.id)
        return value if isinstance(value, int) else None
    if isinstance(node, ast.UnaryOp):
        inner = eval_expr(node.operand, memo)
        if inner is None:
            return None
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = eval_expr(node.left, memo), eval_expr(node.right, memo)
        if left is None or right is None:
            return None
        try:
            result = _BINOPS[type(node.op)](left, right)
        except (ZeroDivisionError, OverflowError):
            return None
        return int(result) if float(result).is_integer() else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [eval_expr(a, memo) for a in node.args]
        if any(a is None for a in args):
            return None
        return int(_FUNCS[node.func.id](*args))
    return None


# --- checking ----------------------------------------------------------------------------

_DTYPE_NAMES: dict[Any, str] = {}


def dtype_name(obj: Any) -> str:
    """jaxtyping's dtype string: `float32` for `torch.float32` and for numpy's float32."""
    dtype = obj.dtype
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        pass
    if hasattr(dtype, "type") and hasattr(dtype.type, "__name__"):
        name = dtype.type.__name__
    elif isinstance(dtype, str):
        name = dtype
    else:
        name = repr(dtype).rsplit(".", 1)[-1]
    try:
        _DTYPE_NAMES[dtype] = name
    except TypeError:
        pass
    return name


def _check_dims(dims: tuple[Dim, ...], shape: tuple[int, ...] | Any, memo: dict[str, Any],
                offset: int = 0) -> str:
    for axis, ((kind, payload, bc), size) in enumerate(zip(dims, shape), offset):
        if kind == ANON or (bc and size == 1):
            continue
        if kind == NAMED:
            bound = memo.get(payload)
            if bound is None:
                memo[payload] = size
            elif bound != size:
                return f"dim '{payload}' (axis {axis}) is {size}, but '{payload}' is already {bound}"
        elif kind == FIXED:
            if size != payload:
                return f"axis {axis} is {size}, but the annotation fixes it to {payload}"
        else:
            if kind == FSTRING:
                node, why = format_dim(payload, memo.get(ARGS_KEY) or {})
                if node is None:
                    if why:
                        return f"dim '{payload}' (axis {axis}) cannot be evaluated: {why}"
                    continue
            else:
                node = payload
                if node is None:
                    continue  # an expression our evaluator does not take: not checked
            want = eval_expr(node, memo)
            expr = payload if kind == FSTRING else ast.unparse(node).replace(" ", "")
            if want is None:
                missing = unbound_names(node, memo)
                if missing:  # jaxtyping raises here too ("some axis names have not been processed")
                    names = ", ".join(f"'{n}'" for n in missing)
                    return (f"dim '{expr}' (axis {axis}) uses {names}, which no earlier argument binds; a symbolic "
                            "dim may only use dims bound before it (usually in the return annotation)")
                continue
            if want != size:
                return f"dim '{expr}' (axis {axis}) is {size}, but {expr} = {want}"
    return ""


def _broadcast(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            return None
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(reversed(out))


def check_array(spec: ArraySpec, obj: Any, memo: dict[str, Any]) -> str:
    """'' when `obj` matches `spec` (binding new dims into `memo`), else the reason."""
    if spec.array_type is Any:
        if not (hasattr(obj, "shape") and hasattr(obj, "dtype")):
            return f"expected an array, got {type(obj).__name__}"
    elif not isinstance(obj, spec.array_type):
        return f"expected {_type_name(spec.array_type)}, got {type(obj).__name__}"
    if spec.dtypes is not None:
        name = dtype_name(obj)
        if name not in spec.dtypes and not any(p.match(name) for p in spec.dtype_patterns):
            return f"dtype is {name}, but the annotation wants {spec.dtype_label}"
    shape = tuple(obj.shape)
    rank = len(shape)
    if not spec.variadic:
        if rank != len(spec.prefix):
            return f"rank is {rank}, but the annotation has {len(spec.prefix)} dims"
        return _check_dims(spec.prefix, shape, memo)
    if rank < spec.min_rank:
        return f"rank is {rank}, but the annotation needs at least {spec.min_rank} dims"
    np_, ns = len(spec.prefix), len(spec.suffix)
    reason = _check_dims(spec.prefix, shape[:np_], memo)
    if reason or (ns and (reason := _check_dims(spec.suffix, shape[rank - ns:], memo, rank - ns))):
        return reason
    if spec.variadic_name is None:
        return ""
    middle = shape[np_:rank - ns]
    key, flag = "*" + spec.variadic_name, "*" + spec.variadic_name + "#"
    bound = memo.get(key)
    if bound is None:
        memo[key], memo[flag] = middle, spec.variadic_broadcast
        return ""
    # jaxtyping's rule: a binding made by `*#name` stretches to what later uses need; a
    # binding made by plain `*name` is fixed, and a later `*#name` must broadcast *to* it.
    name = f"'*{spec.variadic_name}'"
    if memo.get(flag):
        merged = _broadcast(bound, middle)
        if merged is None:
            return f"dims {name} are {middle}, which do not broadcast with {bound}"
        if not spec.variadic_broadcast and merged != middle:
            return f"dims {name} are {middle}, which {bound} cannot be broadcast to"
        memo[key], memo[flag] = merged, spec.variadic_broadcast
    elif spec.variadic_broadcast:
        if _broadcast(bound, middle) != bound:
            return f"dims {name} are {middle}, which do not broadcast to {bound}"
    elif bound != middle:
        return f"dims {name} are {middle}, but {name} is already {bound}"
    return ""


def check_value(spec: Spec, obj: Any, memo: dict[str, Any]) -> str:
    """'' when `obj` satisfies one alternative of `spec`; the first alternative's reason otherwise."""
    if obj is None and spec.optional:
        return ""
    alts = spec.alternatives
    if len(alts) == 1 and not spec.optional:
        return check_array(alts[0], obj, memo)
    if spec.optional and not any(_is_instance(a, obj) for a in alts):
        return ""  # e.g. `Tensor | float` given a float: not ours to check
    first = ""
    for alt in alts:
        trial = dict(memo)
        reason = check_array(alt, obj, trial)
        if not reason:
            memo.update(trial)
            return ""
        first = first or reason
    return first


def _is_instance(spec: ArraySpec, obj: Any) -> bool:
    if spec.array_type is Any:
        return hasattr(obj, "shape") and hasattr(obj, "dtype")
    return isinstance(obj, spec.array_type)


def jaxtyping_memo_stack() -> list[Any] | None:
    """jaxtyping's per-thread stack of shape memos (private: `jaxtyping._storage`), or None.

    `isinstance(x, Float[Tensor, "b"])` reads the top of this stack; pushing a call's bindings
    there gives jaxtyping's semantics to isinstance checks inside a checked function.
    """
    storage = _STORAGE[0]
    if storage is None:
        try:
            from jaxtyping import _storage
        except ImportError:
            return None
        storage = _STORAGE[0] = _storage._shape_storage
    try:
        return storage.memo_stack  # type: ignore[no-any-return]
    except AttributeError:
        storage.memo_stack = []
        return storage.memo_stack  # type: ignore[no-any-return]


_STORAGE: list[Any] = [None]


def describe(obj: Any) -> str:
    """`float32 (32, 5)` for an array, the type name for anything else."""
    if hasattr(obj, "shape") and hasattr(obj, "dtype"):
        return f"{dtype_name(obj)} {tuple(int(s) for s in obj.shape)}"
    return type(obj).__name__
