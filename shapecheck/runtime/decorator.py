"""`@shapecheck.check`: check jaxtyping annotations and devices when a function is called.

    @shapecheck.check
    def attention(q: Float[Tensor, "b s d"], k: Float[Tensor, "b t d"]) -> Float[Tensor, "b s t"]:
        ...

Dims are bound across one call (arguments, then the return value). On an `nn.Module` class
(or any class) the decorator wraps `forward` and every other method with array annotations,
and goes one step further than jaxtyping: an integer constructor parameter whose name is a dim
used in the class's annotations (`d_model`, `n_heads`) is bound once per instance, so
`forward(x: Float[Tensor, "b s d_model"])` on a module built with `d_model=64` requires 64.

All tensor arguments must share a device (a 0-dim CPU tensor may meet any device, as in torch);
opt out with `@check(devices=False)`, or per argument with `@check(cross_device=("lengths",))`.

Cost: the checking plan (which parameters carry annotations, at which positions) is built once
at decoration; a call costs a few microseconds. `SHAPECHECK_DISABLE=1` at import time makes the
decorator return the function itself (zero cost), and while `torch.compile` traces, the wrapper
calls straight through.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
import sys
import typing
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import torch

from shapecheck.runtime._torch_compat import is_compiling, is_fx_tracing
from shapecheck.runtime.errors import Binding, ShapeError, ShapeReport, format_report
from shapecheck.runtime.findings import shown_path
from shapecheck.runtime.specs import ARGS_KEY, Spec, check_value, compile_annotation, describe, jaxtyping_memo_stack

F = TypeVar("F", bound=Callable[..., Any])

_FALSE = {"", "0", "false", "no", "off"}
_INSTANCE_DIMS = "_shapecheck_dims"


def disabled() -> bool:
    """`SHAPECHECK_DISABLE` set to anything but 0/false/no/off turns the runtime checks off."""
    return os.environ.get("SHAPECHECK_DISABLE", "").strip().lower() not in _FALSE


@dataclass(frozen=True)
class TupleSpec:
    """`tuple[Float[...], Int[...]]`: one spec (or None) per element."""

    items: tuple[Spec | None, ...]

    @property
    def text(self) -> str:
        return "tuple[" + ", ".join(s.text if s else "Any" for s in self.items) + "]"


AnySpec = Spec | TupleSpec


@dataclass(frozen=True)
class _Param:
    name: str
    index: int  # positional index, -1 when keyword-only
    keyword: bool  # may be passed by keyword
    spec: AnySpec | None
    star: bool = False  # *args: the spec applies to every extra positional


@dataclass
class _Plan:
    qualname: str
    params: tuple[_Param, ...]  # only the annotated ones
    names: tuple[str, ...]  # positional parameter names, for the devices table
    ret: AnySpec | None
    devices: bool
    cross_device: frozenset[str]
    star_index: int  # index of *args, or -1
    defined_at: str
    is_method: bool = False  # first parameter is `self`: seed the memo from the instance
    dims: set[str] = field(default_factory=set)
    needs_arguments: bool = False  # an f-string dim ("{self.size}") reads the call's arguments


def _compile(annotation: Any) -> AnySpec | None:
    spec = compile_annotation(annotation)
    if spec is not None:
        return spec
    if typing.get_origin(annotation) is tuple:
        args = typing.get_args(annotation)
        if args and args[-1] is not Ellipsis:
            items = tuple(compile_annotation(a) for a in args)
            if any(items):
                return TupleSpec(items)
    return None


def _hints(fn: Callable[..., Any], localns: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolved annotations; string ones (`from __future__ import annotations`) are evaluated
    in the function's globals plus the locals of the scope that applied the decorator."""
    try:
        return typing.get_type_hints(fn, localns=localns, include_extras=True)
    except Exception:  # e.g. `-> "Output"` defined later: resolve the others one by one
        pass
    hints: dict[str, Any] = {}
    globalns = getattr(fn, "__globals__", {})
    for name, value in getattr(fn, "__annotations__", {}).items():
        holder = type("_Annotation", (), {"__annotations__": {name: value}})
        try:
            hints[name] = typing.get_type_hints(holder, globalns=globalns, localns=localns,
                                                include_extras=True)[name]
        except Exception:  # noqa: BLE001 - an annotation we cannot resolve is not checked
            continue
    return hints


def _decorating_scope() -> dict[str, Any] | None:
    """Locals of the first frame outside this module: where `@check` was written."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None or frame.f_code.co_name == "<module>":
        return None
    return dict(frame.f_locals)


def _spec_dims(spec: AnySpec | None) -> set[str]:
    if spec is None:
        return set()
    if isinstance(spec, TupleSpec):
        return set().union(*(_spec_dims(s) for s in spec.items))
    return set().union(*(a.dim_names() for a in spec.alternatives))


def _plan(fn: Callable[..., Any], devices: bool, cross_device: Iterable[str],
          localns: dict[str, Any] | None = None) -> _Plan:
    sig = inspect.signature(fn)
    hints = _hints(fn, localns)
    params: list[_Param] = []
    names: list[str] = []
    star_index = -1
    for index, p in enumerate(sig.parameters.values()):
        spec = _compile(hints[p.name]) if p.name in hints else None
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
            if spec is not None:
                params.append(_Param(p.name, index, p.kind is p.POSITIONAL_OR_KEYWORD, spec))
        elif p.kind is p.VAR_POSITIONAL:
            star_index = index
            if spec is not None:
                params.append(_Param(p.name, index, False, spec, star=True))
        elif p.kind is p.KEYWORD_ONLY and spec is not None:
            params.append(_Param(p.name, -1, True, spec))
    ret = None
    # A generator's annotation describes what it yields, not the call's value; a coroutine
    # function's describes the awaited value, which the async wrapper checks.
    if "return" in hints and not (inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)):
        ret = _compile(hints["return"])
    code = getattr(fn, "__code__", None)
    defined_at = f"{code.co_filename}:{code.co_firstlineno}" if code else "?"
    plan = _Plan(
        qualname=getattr(fn, "__qualname__", getattr(fn, "__name__", "?")),
        params=tuple(params), names=tuple(names), ret=ret, devices=devices,
        cross_device=frozenset(cross_device), star_index=star_index, defined_at=defined_at,
        is_method=bool(names) and names[0] == "self",
    )
    plan.dims = set().union(*(_spec_dims(p.spec) for p in params), _spec_dims(ret))
    plan.needs_arguments = ARGS_KEY in plan.dims
    plan.dims.discard(ARGS_KEY)
    return plan


# --- the checks -------------------------------------------------------------------------

def _check_any(spec: AnySpec, value: Any, memo: dict[str, Any]) -> str:
    if isinstance(spec, Spec):
        return check_value(spec, value, memo)
    if not isinstance(value, tuple) or len(value) != len(spec.items):
        got = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
        return f"expected a tuple of {len(spec.items)}, got {got}"
    for i, (item, v) in enumerate(zip(spec.items, value)):
        if item is not None and (reason := check_value(item, v, memo)):
            return f"element {i}: {reason}"
    return ""


def _arg(plan_param: _Param, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
    i = plan_param.index
    if 0 <= i < len(args):
        return True, args[i]
    if plan_param.keyword and plan_param.name in kwargs:
        return True, kwargs[plan_param.name]
    return False, None


def _check_args(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any],
                memo: dict[str, Any]) -> tuple[str, str, AnySpec | None, Any]:
    """('', ...) when all arguments pass; else (subject, reason, spec, value)."""
    for p in plan.params:
        if p.star:
            for j, v in enumerate(args[p.index:]):
                if (reason := _check_any(p.spec, v, memo)):  # type: ignore[arg-type]
                    return f"argument '*{p.name}[{j}]'", reason, p.spec, v
            continue
        present, value = _arg(p, args, kwargs)
        if present and (reason := _check_any(p.spec, value, memo)):  # type: ignore[arg-type]
            return f"argument '{p.name}'", reason, p.spec, value
    return "", "", None, None


def _named_args(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    for i, v in enumerate(args):
        if i < len(plan.names) and (plan.star_index < 0 or i < plan.star_index):
            yield plan.names[i], v
        else:
            yield f"args[{i}]", v
    yield from kwargs.items()


def _device_problem(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    # Hot path: plain loops, no generators; `.device.type` costs ~1 us so it is read only
    # when two devices differ (a CPU scalar tensor may meet any device, as in torch).
    tensor = torch.Tensor
    first: Any = None
    first_tensor: Any = None
    exempt = plan.cross_device
    names = plan.names
    for i, v in enumerate(args):
        if isinstance(v, tensor):
            if exempt and i < len(names) and names[i] in exempt:
                continue
            dev = v.device
            if first is None:
                first, first_tensor = dev, v
            elif dev != first and not _cpu_scalar(v) and not _cpu_scalar(first_tensor):
                return _device_text(plan, args, kwargs)
    for k, v in kwargs.items():
        if isinstance(v, tensor) and k not in exempt:
            dev = v.device
            if first is None:
                first, first_tensor = dev, v
            elif dev != first and not _cpu_scalar(v) and not _cpu_scalar(first_tensor):
                return _device_text(plan, args, kwargs)
    return ""


def _cpu_scalar(v: Any) -> bool:
    return isinstance(v, torch.Tensor) and v.ndim == 0 and v.device.type == "cpu"


def _device_text(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    first_name, first = "", None
    for name, v in _named_args(plan, args, kwargs):
        if not isinstance(v, torch.Tensor) or name in plan.cross_device or _cpu_scalar(v):
            continue
        if first is None:
            first_name, first = name, v.device
        elif v.device != first:
            return f"tensors are on different devices: '{first_name}' on {first}, '{name}' on {v.device}"
    return "tensors are on different devices"


# --- failure reports (slow path only) -----------------------------------------------------

_OWN_DIR = os.path.dirname(os.path.abspath(__file__))
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))


def call_site(depth: int = 2) -> str:
    """file:line of the first frame outside shapecheck.runtime and torch (the user's call)."""
    frame = sys._getframe(depth)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not (filename.startswith(_OWN_DIR) or filename.startswith(_TORCH_DIR)) and filename != "<string>":
            return f"{shown_path(filename)}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return "<unknown>"


def _bindings(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any], seed: dict[str, Any],
              owner: str) -> tuple[list[Binding], dict[str, Any]]:
    """Recheck the arguments one by one to learn which argument bound each dim."""
    memo: dict[str, Any] = dict(seed)
    if plan.needs_arguments:
        memo[ARGS_KEY] = _arguments(plan, args, kwargs)
    origins = {k: f"{owner}({k}={v})" for k, v in seed.items() if k != ARGS_KEY}
    for p in plan.params:
        values = list(enumerate(args[p.index:])) if p.star else []
        if not p.star:
            present, value = _arg(p, args, kwargs)
            values = [(0, value)] if present else []
        for j, v in values:
            before = set(memo)
            failed = _check_any(p.spec, v, memo)  # type: ignore[arg-type]
            label = f"'*{p.name}[{j}]'" if p.star else f"'{p.name}'"
            for k in set(memo) - before:
                origins[k] = label
            if failed:
                return _table(memo, origins), memo
    return _table(memo, origins), memo


def _table(memo: dict[str, Any], origins: dict[str, str]) -> list[Binding]:
    return [Binding(k, v, origins.get(k, "?")) for k, v in memo.items() if not k.endswith("#") and k != ARGS_KEY]


def _arguments(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call's arguments by name (what jaxtyping's f-string dims and isinstance checks see)."""
    named = dict(zip(plan.names if plan.star_index < 0 else plan.names[:plan.star_index], args))
    named.update(kwargs)
    return named


def _devices(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, str]:
    return {n: str(v.device) for n, v in _named_args(plan, args, kwargs) if isinstance(v, torch.Tensor)}


def _raise(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any], seed: dict[str, Any],
           subject: str, reason: str, spec: AnySpec | None, value: Any) -> typing.NoReturn:
    owner = type(args[0]).__name__ if args and seed else ""
    seed = {k: v for k, v in seed.items() if k != ARGS_KEY}
    # The table shows what the arguments bound: what a return value is judged against.
    bindings, _ = _bindings(plan, args, kwargs, seed, owner)
    report = ShapeReport(
        where=call_site(3), function=plan.qualname, subject=subject, reason=reason,
        expected=spec.text if spec is not None else "",
        actual=describe(value) if spec is not None else "",
        bindings=bindings, devices=_devices(plan, args, kwargs),
    )
    raise ShapeError(format_report(report)) from None


# --- wrapping ---------------------------------------------------------------------------

_MISSING = object()
_CACHE_LIMIT = 512


def _shape_key(plan: _Plan, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """(shape, dtype) of every checked argument: the check's result depends on nothing else.

    None (do not cache) when an argument is not a plain tensor (tuples, numpy arrays...).
    """
    parts: list[Any] = []
    tensor, parameter = torch.Tensor, torch.nn.Parameter
    n = len(args)
    for p in plan.params:
        i = p.index
        if p.star or not isinstance(p.spec, Spec):
            return None
        if 0 <= i < n:
            v = args[i]
        elif p.keyword and p.name in kwargs:
            v = kwargs[p.name]
        else:
            parts.append(_MISSING)
            continue
        t = type(v)
        if t is tensor or t is parameter:
            parts.append(v.shape)
            parts.append(v.dtype)
        elif v is None:
            parts.append(None)
        else:
            return None
    return tuple(parts)


_DEVICE_KEY = object()  # marks a memo key that includes the devices


def _fast_indices(plan: _Plan) -> tuple[int, ...] | None:
    """Positions of the annotated parameters when they are all the positional parameters
    (besides `self`), none variadic and none a tuple; None otherwise."""
    if plan.star_index >= 0 or plan.cross_device:
        return None
    indices = []
    for p in plan.params:
        if p.index < 0 or p.star or not isinstance(p.spec, Spec):
            return None
        indices.append(p.index)
    expected = set(range(1 if plan.is_method else 0, len(plan.names)))
    if set(indices) != expected or not indices:
        return None
    return tuple(sorted(indices))


def _wrap(fn: Callable[..., Any], devices: bool, cross_device: Iterable[str],
          localns: dict[str, Any] | None = None) -> Callable[..., Any]:
    plan = _plan(fn, devices, cross_device, localns)
    params, ret, check_devices = plan.params, plan.ret, plan.devices
    if not params and ret is None and not check_devices:
        return fn
    compiling, fx_tracing = is_compiling, is_fx_tracing
    is_method = plan.is_method
    no_seed: dict[str, Any] = {}
    # Memo of passed checks: the outcome is a function of the shapes and dtypes alone, so a
    # training loop that calls with the same shapes pays for a dict lookup, not a re-check.
    # When every positional parameter is annotated and the call is positional (the usual
    # `forward(self, x)`), the key also holds the devices, so a hit skips the device check too.
    # An f-string dim ("{self.size}") depends on more than shapes: such plans are not memoised.
    passed: dict[Any, dict[str, Any]] = {}
    returned_ok: set[Any] = set()
    tensor, parameter = torch.Tensor, torch.nn.Parameter
    fast = _fast_indices(plan) if not plan.needs_arguments else None
    nargs = len(plan.names)
    needs_arguments = plan.needs_arguments
    memo_stack = jaxtyping_memo_stack

    def check_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        """Check the arguments; (memo key, bindings, instance seed)."""
        if is_method and args:
            seed = getattr(args[0], "__dict__", None)
            seed = seed.get(_INSTANCE_DIMS, no_seed) if seed is not None else _slot_dims(args[0])
        else:
            seed = no_seed
        key: Any = None
        with_devices = False
        if fast is not None and not kwargs and len(args) == nargs:
            parts: list[Any] | None = [_DEVICE_KEY]
            for i in fast:
                a = args[i]
                t = type(a)
                if t is tensor or t is parameter:
                    parts += (a.shape, a.dtype, a.device)  # type: ignore[operator]
                else:
                    parts = None
                    break
            if parts is not None:
                key, with_devices = tuple(parts), True
        if key is None and not needs_arguments:
            key = _shape_key(plan, args, kwargs)
        if key is not None and seed:
            key = (key, tuple(seed.items()))
        memo = passed.get(key) if key is not None else None
        if memo is None:
            memo = dict(seed) if seed else {}
            if needs_arguments:
                memo[ARGS_KEY] = _arguments(plan, args, kwargs)
            if params:
                subject, reason, spec, value = _check_args(plan, args, kwargs, memo)
                if reason:
                    _raise(plan, args, kwargs, seed, subject, reason, spec, value)
            if check_devices and (reason := _device_problem(plan, args, kwargs)):
                _raise(plan, args, kwargs, seed, "arguments", reason, None, None)
            if key is not None:  # stored only once both checks passed
                if len(passed) >= _CACHE_LIMIT:
                    passed.clear()
                    returned_ok.clear()
                passed[key] = memo
        elif check_devices and not with_devices and (reason := _device_problem(plan, args, kwargs)):
            _raise(plan, args, kwargs, seed, "arguments", reason, None, None)
        return key, memo, seed

    def check_return(key: Any, memo: dict[str, Any], seed: dict[str, Any], out: Any,
                     args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        rkey = (key, out.shape, out.dtype) if key is not None and type(out) is tensor else None
        if rkey is None or rkey not in returned_ok:
            if (reason := _check_any(ret, out, dict(memo))):  # type: ignore[arg-type]
                _raise(plan, args, kwargs, seed, "return value", reason, ret, out)
            if rkey is not None:
                returned_ok.add(rkey)

    def enter(memo: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[Any] | None:
        """Make the call's bindings jaxtyping's current memo, so `isinstance(x, Float[Tensor, "b"])`
        in the body sees them (jaxtyping's own decorator does the same)."""
        stack = memo_stack()
        if stack is None:
            return None
        single = {k: v for k, v in memo.items() if k[0] not in "*{"}
        variadic = {k[1:]: (bool(memo.get(k + "#")), v) for k, v in memo.items() if k[0] == "*" and k[-1] != "#"}
        arguments = memo.get(ARGS_KEY) or _arguments(plan, args, kwargs)
        stack.append((single, variadic, {}, arguments))
        return stack

    if inspect.iscoroutinefunction(fn):
        async def checked_async(*args: Any, **kwargs: Any) -> Any:
            if compiling() or fx_tracing():
                return await fn(*args, **kwargs)
            key, memo, seed = check_call(args, kwargs)
            out = await fn(*args, **kwargs)
            if ret is not None:  # the annotation of a coroutine function describes the awaited value
                check_return(key, memo, seed, out, args, kwargs)
            return out

        wrapper: Callable[..., Any] = functools.wraps(fn)(checked_async)
    elif inspect.isgeneratorfunction(fn):
        def checked_gen(*args: Any, **kwargs: Any) -> Any:
            if not (compiling() or fx_tracing()):
                check_call(args, kwargs)
            return (yield from fn(*args, **kwargs))

        wrapper = functools.wraps(fn)(checked_gen)
    elif inspect.isasyncgenfunction(fn):
        async def checked_asyncgen(*args: Any, **kwargs: Any) -> Any:
            if not (compiling() or fx_tracing()):
                check_call(args, kwargs)
            async for item in fn(*args, **kwargs):
                yield item

        wrapper = functools.wraps(fn)(checked_asyncgen)
    else:
        depth = [0, 0]  # active calls of this function (recursion), recursion limit we raised from

        def checked(*args: Any, **kwargs: Any) -> Any:
            if compiling() or fx_tracing():
                return fn(*args, **kwargs)
            key, memo, seed = check_call(args, kwargs)
            stack = enter(memo, args, kwargs)
            depth[0] += 1
            if depth[0] > _DEEP:
                _deepen(depth)
            try:
                out = fn(*args, **kwargs)
            finally:
                depth[0] -= 1
                if stack is not None:
                    stack.pop()
                if depth[1] and not depth[0]:
                    sys.setrecursionlimit(depth[1])
                    depth[1] = 0
            if ret is not None:
                check_return(key, memo, seed, out, args, kwargs)
            return out

        wrapper = functools.wraps(fn)(checked)
    wrapper.__shapecheck_plan__ = plan  # type: ignore[attr-defined]
    return wrapper


_DEEP = 64  # recursion depth of one checked function after which our frames stop counting


def _deepen(depth: list[int]) -> None:
    """Each checked call adds one frame; a recursive function would hit RecursionError at half its
    usual depth. Past `_DEEP` levels, lift the limit by the frames we added (restored on return)."""
    limit = sys.getrecursionlimit()
    if not depth[1]:
        depth[1] = limit
    want = depth[1] + depth[0] + 8
    if limit < want:
        sys.setrecursionlimit(want + 64)


def _plan_dims(wrapped: Any) -> set[str]:
    plan = getattr(wrapped, "__shapecheck_plan__", None)
    return set(plan.dims) if plan is not None else set()


def _wrap_member(member: Any, devices: bool, cross_device: Iterable[str],
                 localns: dict[str, Any] | None) -> tuple[Any, set[str]]:
    if isinstance(member, (staticmethod, classmethod)):
        inner = _wrap(member.__func__, devices, cross_device, localns)
        return type(member)(inner), _plan_dims(inner)
    if isinstance(member, property):
        fget = _wrap(member.fget, devices, cross_device, localns) if member.fget else None
        fset = _wrap(member.fset, devices, cross_device, localns) if member.fset else None
        return property(fget, fset, member.fdel, member.__doc__), _plan_dims(fget) | _plan_dims(fset)
    wrapped = _wrap(member, devices, cross_device, localns)
    return wrapped, _plan_dims(wrapped)


def _member_function(member: Any) -> Any:
    if isinstance(member, (staticmethod, classmethod)):
        return member.__func__
    if isinstance(member, property):
        return member.fget
    return member


def _check_class(cls: type, devices: bool, cross_device: Iterable[str],
                 localns: dict[str, Any] | None = None) -> type:
    is_module = issubclass(cls, torch.nn.Module)
    dims: set[str] = set()
    checked = 0
    is_dataclass = dataclasses.is_dataclass(cls)
    for name, member in list(vars(cls).items()):
        func = _member_function(member)
        if not inspect.isfunction(func) or getattr(func, "__no_type_check__", False):
            continue
        if name == "__init__" and (is_dataclass or not _has_arrays(func, localns)):
            continue  # a dataclass's fields are checked after __init__ (below), as jaxtyping does
        if name != "forward" and not _has_arrays(func, localns):
            continue
        wrapped, member_dims = _wrap_member(member, devices, cross_device, localns)
        dims |= member_dims
        checked += 1
        setattr(cls, name, wrapped)
    if is_module and "forward" not in vars(cls):
        forward = getattr(cls, "forward", None)
        if inspect.isfunction(forward) and not hasattr(forward, "__shapecheck_plan__"):
            wrapped = _wrap(forward, devices, cross_device, localns)
            dims |= _plan_dims(wrapped)
            checked += wrapped is not forward
            cls.forward = wrapped  # type: ignore[attr-defined]
    if is_dataclass:
        fields = _field_specs(cls, localns)
        if fields:
            cls.__init__ = _check_fields_after(cls.__init__, fields, devices)  # type: ignore[misc]
            checked += len(fields)
    # The constructor may be inherited (a subclass that only overrides forward).
    init = getattr(cls, "__init__", None)
    if dims and inspect.isfunction(init) and init is not torch.nn.Module.__init__:
        cls.__init__ = _bind_constructor(init, dims)  # type: ignore[misc]
    if is_module:
        _support_scripting(cls)
    try:
        cls.__shapecheck_checked__ = checked  # type: ignore[attr-defined]
    except (AttributeError, TypeError):
        pass
    return cls


def _support_scripting(cls: type) -> None:
    """`torch.jit.script(model)` compiles `forward` from its source; it cannot compile our
    wrapper (*args, **kwargs), so the scripted module runs the undecorated methods (unchecked:
    TorchScript cannot run Python checks). `torch.fx.symbolic_trace` calls through the wrapper,
    which steps aside while fx traces (see `is_fx_tracing`)."""
    def __prepare_scriptable__(self: Any) -> Any:
        import copy

        clone = copy.copy(self)
        originals = {}
        for klass in type(self).__mro__:
            for name, member in vars(klass).items():
                inner = getattr(member, "__wrapped__", None)
                if name not in originals and hasattr(member, "__shapecheck_plan__") and inner is not None:
                    originals[name] = inner
        plain = type(type(self).__name__, (type(self),), {**originals, "__prepare_scriptable__": None})
        clone.__class__ = plain
        return clone

    if "__prepare_scriptable__" not in vars(cls):
        cls.__prepare_scriptable__ = __prepare_scriptable__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Field:
    name: str
    spec: AnySpec


def _field_specs(cls: type, localns: dict[str, Any] | None) -> list[_Field]:
    try:
        hints = typing.get_type_hints(cls, localns=localns, include_extras=True)
    except Exception:  # noqa: BLE001 - resolve what we can, one by one
        hints = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            holder = type("_Annotation", (), {"__annotations__": {f.name: f.type}})
            try:
                hints[f.name] = typing.get_type_hints(holder, globalns=vars(sys.modules.get(cls.__module__, sys)),
                                                      localns=localns, include_extras=True)[f.name]
            except Exception:  # noqa: BLE001
                continue
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        spec = _compile(hints[f.name]) if f.name in hints else None
        if spec is not None:
            out.append(_Field(f.name, spec))
    return out


def _check_fields_after(init: Callable[..., Any], fields: list[_Field], devices: bool) -> Callable[..., Any]:
    """Check a dataclass's array fields, with dims bound across fields, once `__init__` ran."""
    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if is_compiling():
            return
        memo: dict[str, Any] = {}
        values = {f.name: getattr(self, f.name, None) for f in fields}
        memo[ARGS_KEY] = {"self": self, **values}
        for f in fields:
            if (reason := _check_any(f.spec, values[f.name], memo)):
                _raise_field(type(self).__qualname__, f, values, memo, reason)
        if devices:
            devs = {str(v.device) for v in values.values()
                    if isinstance(v, torch.Tensor) and not _cpu_scalar(v)}
            if len(devs) > 1:
                report = ShapeReport(where=call_site(2), function=f"{type(self).__qualname__}.__init__",
                                     subject="fields", reason="tensors are on different devices",
                                     devices={n: str(v.device) for n, v in values.items()
                                              if isinstance(v, torch.Tensor)})
                raise ShapeError(format_report(report)) from None

    return __init__


def _raise_field(owner: str, field_: _Field, values: dict[str, Any], memo: dict[str, Any], reason: str) -> None:
    bindings = [Binding(k, v, "fields") for k, v in memo.items() if not k.endswith("#") and k != ARGS_KEY]
    report = ShapeReport(where=call_site(3), function=f"{owner}.__init__", subject=f"field '{field_.name}'",
                         reason=reason, expected=field_.spec.text, actual=describe(values[field_.name]),
                         bindings=bindings,
                         devices={n: str(v.device) for n, v in values.items() if isinstance(v, torch.Tensor)})
    raise ShapeError(format_report(report)) from None


# Instance dims of objects without a `__dict__` (`__slots__`, `@dataclass(slots=True)`).
_SLOT_DIMS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _slot_dims(obj: Any) -> dict[str, Any]:
    try:
        return _SLOT_DIMS.get(obj, {})
    except TypeError:  # neither a __dict__ nor weak references: no instance dims
        return {}


def _has_arrays(fn: Callable[..., Any], localns: dict[str, Any] | None) -> bool:
    return any(_compile(a) is not None for a in _hints(fn, localns).values())


def _bind_constructor(init: Callable[..., Any], dims: set[str]) -> Callable[..., Any]:
    """Record `d_model=64` from `__init__(self, d_model: int)` as a per-instance dim binding."""
    sig = inspect.signature(init)
    wanted = [n for n in sig.parameters if n in dims]
    if not wanted:
        return init

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        try:
            bound = sig.bind(self, *args, **kwargs)
        except TypeError:
            return
        bound.apply_defaults()
        values = {n: bound.arguments[n] for n in wanted
                  if type(bound.arguments.get(n)) is int}
        if not values:
            return
        own = getattr(self, "__dict__", None)
        if own is not None:
            own[_INSTANCE_DIMS] = {**own.get(_INSTANCE_DIMS, {}), **values}
            return
        try:  # __slots__: kept beside the instance
            _SLOT_DIMS[self] = {**_SLOT_DIMS.get(self, {}), **values}
        except TypeError:
            pass

    return __init__


@overload
def check(obj: F, /) -> F: ...
@overload
def check(*, devices: bool = True, cross_device: Iterable[str] = ()) -> Callable[[F], F]: ...


def check(obj: Any = None, /, *, devices: bool = True, cross_device: Iterable[str] = ()) -> Any:
    """Check jaxtyping annotations (and that tensor arguments share a device) on every call.

    Use bare (`@check`) or with options (`@check(devices=False)`,
    `@check(cross_device=("lengths",))` for arguments that may live on another device).
    """
    if obj is None:
        return lambda o: check(o, devices=devices, cross_device=cross_device)
    if disabled() or getattr(obj, "__no_type_check__", False):
        return obj  # `@typing.no_type_check` opts out, as with jaxtyping and type checkers
    cross = tuple(cross_device)
    localns = _decorating_scope()
    if isinstance(obj, type):
        return _check_class(obj, devices, cross, localns)
    if isinstance(obj, (staticmethod, classmethod, property)):
        return _wrap_member(obj, devices, cross, localns)[0]
    if not callable(obj):
        raise TypeError(f"shapecheck.check expects a function or a class, got {type(obj).__name__}")
    return _wrap(obj, devices, cross, localns)
