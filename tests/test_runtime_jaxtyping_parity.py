"""`@shapecheck.check` against jaxtyping's own semantics, case by case.

The cases are our torch versions of what jaxtyping's test suite checks (test_array.py,
test_decorator.py: return and argument errors, fixed/anonymous/variadic/broadcast dims,
symbolic and f-string dims, isinstance inside the body, dataclasses, properties,
no_type_check, nesting), written for this file. Each case builds a function with a given
decorator and lists calls with the expected outcome; the same table runs under
`jaxtyping.jaxtyped(typechecker=beartype)` when beartype is installed
(`benchmarks/runtime_real/parity.py` prints both pass counts).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("jaxtyping")

from jaxtyping import Float, Float32, Int, Shaped  # noqa: E402
from torch import Tensor  # noqa: E402

import shapecheck  # noqa: E402

OK, ERR = "ok", "error"
Decorator = Callable[[Any], Any]


def t(*shape: int, dtype: Any = None) -> Tensor:
    return torch.zeros(shape, dtype=dtype or torch.float32)


CASES: dict[str, Callable[[Decorator], list[tuple[Callable[[], Any], str]]]] = {}


def case(fn: Callable[[Decorator], list[tuple[Callable[[], Any], str]]]) -> Callable[..., Any]:
    CASES[fn.__name__] = fn
    return fn


@case
def return_transposed(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float[Tensor, "b c"]) -> Float[Tensor, "c b"]:
        return x.T

    @dec
    def h(x: Float[Tensor, "b c"]) -> Float[Tensor, "b c"]:
        return x.T

    return [(lambda: g(t(3, 4)), OK), (lambda: h(t(3, 4)), ERR), (lambda: h(t(3, 3)), OK)]


@case
def two_args(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Shaped[Tensor, "b c"], y: Shaped[Tensor, "c d"]) -> Shaped[Tensor, "b d"]:
        return x @ y

    return [(lambda: g(t(3, 4), t(4, 5)), OK), (lambda: g(t(3, 4), t(5, 4)), ERR)]


@case
def any_dtype(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Shaped[Tensor, "a b"]) -> Shaped[Tensor, "a b"]:
        return x

    calls = [(lambda d=d: g(t(2, 3, dtype=d)), OK)
             for d in (torch.float32, torch.bool, torch.int8, torch.uint8, torch.complex64, torch.bfloat16)]
    return [*calls, (lambda: g(t(3)), ERR)]


@case
def dtype_and_rank(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def f(x: Float32[Tensor, "n"], i: Int[Tensor, "n"]) -> Float32[Tensor, "n"]:
        return x

    return [(lambda: f(t(3), t(3, dtype=torch.int64)), OK), (lambda: f(t(3, dtype=torch.float64),
                                                                     t(3, dtype=torch.int64)), ERR),
            (lambda: f(t(3), t(3)), ERR), (lambda: f(t(3, 1), t(3, dtype=torch.int64)), ERR)]


@case
def nested_calls_bind_separately(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def h(x: Float32[Tensor, "c b"], transpose: bool) -> Float32[Tensor, "b c"]:
        return x.T if transpose else x

    @dec
    def g(x: Float32[Tensor, "b c"], transpose: bool) -> Float32[Tensor, "c b"]:
        return h(x, transpose)

    return [(lambda: g(t(2, 3), True), OK), (lambda: g(t(3, 3), False), OK), (lambda: g(t(2, 3), False), ERR)]


@case
def fixed_dims(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float32[Tensor, "4 5 foo"], y: Float32[Tensor, " foo"]) -> Float32[Tensor, "4 5"]:
        return x @ y

    return [(lambda: g(t(4, 5, 2), t(2)), OK), (lambda: g(t(3, 5, 2), t(2)), ERR)]


@case
def anonymous_dims(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float32[Tensor, "foo _"], y: Float32[Tensor, " _"]) -> None:
        pass

    return [(lambda: g(t(3, 4), t(5)), OK), (lambda: g(t(3), t(5)), ERR)]


@case
def named_variadic(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float32[Tensor, "*batch foo"], y: Float32[Tensor, " *batch"], z: Float32[Tensor, " foo"]) -> None:
        pass

    @dec
    def h(x: Float32[Tensor, " foo *batch"], y: Float32[Tensor, " foo *batch bar"]) -> None:
        pass

    return [(lambda: g(t(5), t(), t(5)), OK), (lambda: g(t(3, 5), t(3), t(5)), OK),
            (lambda: g(t(5), t(3), t(5)), ERR), (lambda: g(t(3, 5), t(), t(5)), ERR),
            (lambda: h(t(4), t(4, 3)), OK), (lambda: h(t(4), t(3, 4)), ERR), (lambda: h(t(4, 3), t(3, 4)), ERR)]


@case
def anonymous_variadic(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float32[Tensor, "... foo"], y: Float32[Tensor, " foo"]) -> None:
        pass

    return [(lambda: g(t(5), t(5)), OK), (lambda: g(t(3, 5), t(5)), OK), (lambda: g(t(3, 4, 5), t(5)), OK),
            (lambda: g(t(5), t(1)), ERR), (lambda: g(t(3, 4, 5), t(1)), ERR)]


@case
def broadcast_fixed_and_named(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float32[Tensor, "#4"]) -> None:
        pass

    @dec
    def h(x: Float32[Tensor, " #foo"], y: Float32[Tensor, " #foo"]) -> None:
        pass

    return [(lambda: g(t(4)), OK), (lambda: g(t(1)), OK), (lambda: g(t(3)), ERR),
            (lambda: h(t(3), t(3)), OK), (lambda: h(t(3), t(1)), OK), (lambda: h(t(1), t(4)), OK),
            (lambda: h(t(3), t(4)), ERR)]


@case
def broadcast_variadic_named(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float32[Tensor, " *#foo"], y: Float32[Tensor, " *#foo"]) -> None:
        pass

    return [(lambda: g(t(4), t(4, 4)), OK), (lambda: g(t(3), t(4)), ERR), (lambda: g(t(5, 6), t(1)), OK),
            (lambda: g(t(4, 4), t(5, 1)), ERR), (lambda: g(t(5, 6), t(5, 1)), OK), (lambda: g(t(1, 6), t(4, 4)), ERR)]


@case
def symbolic_dims(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def make_slice(x: Float32[Tensor, " dim"]) -> Float32[Tensor, " dim-1"]:
        return x[1:]

    @dec
    def cat(x: Float32[Tensor, " dim"]) -> Float32[Tensor, " 2*dim"]:
        return torch.cat([x, x])

    @dec
    def bad_slice(x: Float32[Tensor, " dim"]) -> Float32[Tensor, " dim-1"]:
        return x

    return [(lambda: make_slice(t(5)), OK), (lambda: cat(t(5)), OK), (lambda: make_slice(t(3, 4)), ERR),
            (lambda: bad_slice(t(5)), ERR)]


@case
def symbolic_dim_never_bound(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def foo(x: Float32[Tensor, " 2*dim"]) -> None:
        pass

    return [(lambda: foo(t(4)), ERR)]


@case
def fstring_dims(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def pad(x: Float32[Tensor, "n"], extra: int) -> Float32[Tensor, "n+{extra}"]:
        return torch.cat([x, torch.zeros(extra)])

    @dec
    def bad_pad(x: Float32[Tensor, "n"], extra: int) -> Float32[Tensor, "n+{extra}"]:
        return x

    class Layer:
        size = 3

        @dec
        def make(self, x: Float32[Tensor, "b"]) -> Float32[Tensor, "b {self.size}"]:
            return torch.zeros(x.shape[0], 4 if x.shape[0] == 7 else 3)

    return [(lambda: pad(t(2), 3), OK), (lambda: bad_pad(t(2), 3), ERR), (lambda: Layer().make(t(2)), OK),
            (lambda: Layer().make(t(7)), ERR)]


@case
def isinstance_sees_the_bindings(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def g(x: Float32[Tensor, "b c"]) -> Float32[Tensor, " z"]:
        y = x.T
        assert isinstance(y, Float32[Tensor, "c b"])
        assert not isinstance(y, Float32[Tensor, "b z"])  # b != c here
        out = torch.zeros(50)
        assert isinstance(out, Float32[Tensor, "z"])  # binds z
        return out

    @dec
    def h(x: Float32[Tensor, "b"]) -> bool:
        return isinstance(torch.zeros(3), Float32[Tensor, "b"])

    return [(lambda: g(t(2, 3)), OK), (lambda: h(t(3)) or 1 / 0, OK), (lambda: h(t(2)) and 1 / 0, OK)]


@case
def dataclass_fields(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    @dataclasses.dataclass
    class Batch:
        x: Float32[Tensor, "b d"]
        y: Float32[Tensor, " b"]
        name: str = "batch"

    return [(lambda: Batch(t(2, 3), t(2)), OK), (lambda: Batch(t(2, 3), t(3)), ERR),
            (lambda: Batch(t(2), t(2)), ERR)]


@case
def dataclass_with_slots(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    @dataclasses.dataclass(slots=True)
    class Pair:
        a: Float32[Tensor, " n"]
        b: Float32[Tensor, " n"]

    return [(lambda: Pair(t(2), t(2)), OK), (lambda: Pair(t(2), t(3)), ERR)]


@case
def properties(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    class N:
        def __init__(self, n: int) -> None:
            self.n = n

        @dec
        @property
        def ones(self) -> Float32[Tensor, "2 2"]:
            return torch.zeros(self.n, 2)

    return [(lambda: N(2).ones, OK), (lambda: N(3).ones, ERR)]


@case
def no_type_check(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    @typing.no_type_check
    def f(x: Float32[Tensor, "n"]) -> Float32[Tensor, "n"]:
        return torch.zeros(5)

    return [(lambda: f(t(2)), OK)]


@case
def optional_and_union(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    @dec
    def f(x: Float32[Tensor, "n"], mask: Float32[Tensor, "n"] | None = None) -> None:
        pass

    return [(lambda: f(t(3)), OK), (lambda: f(t(3), None), OK), (lambda: f(t(3), t(3)), OK),
            (lambda: f(t(3), t(4)), ERR)]


@case
def classmethod_and_staticmethod(dec: Decorator) -> list[tuple[Callable[[], Any], str]]:
    class M:
        @dec
        @staticmethod
        def s(x: Float32[Tensor, "n"]) -> Float32[Tensor, "n"]:
            return x[:1]

        @classmethod
        @dec
        def c(cls, x: Float32[Tensor, "n"]) -> Float32[Tensor, "n"]:
            return x

    return [(lambda: M.s(t(1)), OK), (lambda: M.s(t(3)), ERR), (lambda: M.c(t(3)), OK)]


def run_case(name: str, dec: Decorator) -> tuple[int, int, list[str]]:
    """(passed, total, failures) of one case under a decorator."""
    try:
        calls = CASES[name](dec)
    except Exception as exc:  # noqa: BLE001 - a decorator that cannot even be applied fails every call
        return 0, 1, [f"{name}: decoration failed: {type(exc).__name__}: {exc}"]
    passed, failures = 0, []
    for i, (call, expected) in enumerate(calls):
        try:
            call()
            got = OK
        except Exception:  # noqa: BLE001 - jaxtyping raises TypeCheckError, AnnotationError or NameError
            got = ERR
        if got == expected:
            passed += 1
        else:
            failures.append(f"{name}[{i}]: expected {expected}, got {got}")
    return passed, len(calls), failures


@pytest.mark.parametrize("name", sorted(CASES))
def test_shapecheck_agrees_with_jaxtyping_semantics(name: str) -> None:
    passed, total, failures = run_case(name, shapecheck.check)
    assert not failures and passed == total


def test_the_pytest_plugin_counts_only_what_it_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    from shapecheck.runtime.importhook import instrument_module

    module = types.ModuleType("fake_pkg_mod")
    monkeypatch.setitem(sys.modules, "fake_pkg_mod", module)
    exec(  # noqa: S102 - a module built in the test
        "import dataclasses\n"
        "from jaxtyping import Float\n"
        "from torch import Tensor\n"
        "@dataclasses.dataclass\n"
        "class Batch:\n"
        "    x: Float[Tensor, 'b d']\n"
        "class Plain:\n"
        "    def helper(self, n: int) -> int:\n"
        "        return n\n"
        "def f(x: Float[Tensor, 'n']) -> Float[Tensor, 'n']:\n"
        "    return x\n", module.__dict__)
    assert instrument_module(module) == 2  # Batch (its field) and f; not Plain
    with pytest.raises(shapecheck.ShapeError, match="field 'x'"):
        module.Batch(torch.zeros(3))
