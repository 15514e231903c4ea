"""`@shapecheck.check`: the checks, the exact error text, module scoping, the off switches."""

from __future__ import annotations

import inspect
import os
from typing import Optional

import pytest

torch = pytest.importorskip("torch")
jaxtyping = pytest.importorskip("jaxtyping")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from jaxtyping import Float, Int, Shaped  # noqa: E402
from torch import Tensor, nn  # noqa: E402

import shapecheck  # noqa: E402
from shapecheck import ShapeError  # noqa: E402
from shapecheck.runtime import decorator as decorator_module  # noqa: E402
from shapecheck.runtime.findings import shown_path  # noqa: E402

HERE = shown_path(os.path.abspath(__file__))  # relative to the working directory, as printed


def _next_line() -> int:
    """The line number just after the caller's line: where the failing call sits."""
    frame = inspect.currentframe()
    assert frame is not None and frame.f_back is not None
    return frame.f_back.f_lineno + 1


@shapecheck.check
def mm(x: Float[Tensor, "b d1"], y: Float[Tensor, "d1 d2"]) -> Float[Tensor, "b d2"]:
    return x @ y


@shapecheck.check
def shrink(x: Float[Tensor, "n"]) -> Float[Tensor, "n-1"]:
    return x  # wrong on purpose: the annotation promises one element less


def test_error_is_a_type_error_named_in_shapecheck() -> None:
    assert issubclass(ShapeError, TypeError)
    assert ShapeError.__module__ == "shapecheck"
    assert shapecheck.ShapeError is ShapeError


def test_passing_call_returns_the_result() -> None:
    out = mm(torch.ones(2, 3), torch.ones(3, 4))
    assert out.shape == (2, 4) and float(out[0, 0]) == 3.0


def test_argument_mismatch_exact_text() -> None:
    x, y = torch.zeros(2, 3), torch.zeros(5, 4)
    with pytest.raises(ShapeError) as info:
        line = _next_line()
        mm(x, y)
    assert str(info.value) == (
        f"{HERE}:{line}: mm(): argument 'y': dim 'd1' (axis 0) is 5, but 'd1' is already 3\n"
        "  expected: Float[Tensor, 'd1 d2']\n"
        "  actual:   float32 (5, 4)\n"
        "  dim bindings:\n"
        "    b  = 2  (from 'x')\n"
        "    d1 = 3  (from 'x')\n"
        "  devices:\n"
        "    x  cpu\n"
        "    y  cpu"
    )


def test_return_mismatch_exact_text_with_symbolic_dim() -> None:
    with pytest.raises(ShapeError) as info:
        line = _next_line()
        shrink(torch.zeros(4))
    assert str(info.value) == (
        f"{HERE}:{line}: shrink(): return value: dim 'n-1' (axis 0) is 4, but n-1 = 3\n"
        "  expected: Float[Tensor, 'n-1']\n"
        "  actual:   float32 (4,)\n"
        "  dim bindings:\n"
        "    n = 4  (from 'x')\n"
        "  devices:\n"
        "    x  cpu"
    )


def test_dtype_and_rank_reasons() -> None:
    with pytest.raises(ShapeError, match=r"argument 'x': dtype is int64, but the annotation wants Float$"
                       r"|argument 'x': dtype is int64, but the annotation wants Float\n"):
        mm(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 4))
    with pytest.raises(ShapeError) as info:
        mm(torch.zeros(2, 3, 1), torch.zeros(3, 4))
    first = str(info.value).splitlines()[0]
    assert first.endswith("mm(): argument 'x': rank is 3, but the annotation has 2 dims")
    assert "  dim bindings: (none yet)" in str(info.value)


def test_device_mixing_exact_text_and_opt_outs() -> None:
    @shapecheck.check
    def add(a: Float[Tensor, "n"], b: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return a

    a, b = torch.zeros(3), torch.zeros(3, device="meta")
    with pytest.raises(ShapeError) as info:
        line = _next_line()
        add(a, b)
    assert str(info.value) == (
        f"{HERE}:{line}: test_device_mixing_exact_text_and_opt_outs.<locals>.add(): arguments: "
        "tensors are on different devices: 'a' on cpu, 'b' on meta\n"
        "  dim bindings:\n"
        "    n = 3  (from 'a')\n"
        "  devices:\n"
        "    a  cpu\n"
        "    b  meta"
    )

    @shapecheck.check(devices=False)
    def add_anywhere(a: Float[Tensor, "n"], b: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return a

    @shapecheck.check(cross_device=("b",))
    def add_b_elsewhere(a: Float[Tensor, "n"], b: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return a

    assert add_anywhere(a, b) is a
    assert add_b_elsewhere(a, b=b) is a
    # A CPU scalar tensor may meet any device, as in torch itself.
    assert add(torch.zeros(3, device="meta"), torch.tensor(1.0).expand(3).contiguous().to("meta")).device.type == "meta"


def test_cpu_scalar_tensor_meets_any_device() -> None:
    @shapecheck.check
    def scale(x: Float[Tensor, "n"], s: Float[Tensor, ""]) -> Float[Tensor, "n"]:
        return x

    x = torch.zeros(3, device="meta")
    assert scale(x, torch.tensor(2.0)) is x


def test_module_class_binds_constructor_dims_per_instance() -> None:
    @shapecheck.check
    class Block(nn.Module):
        def __init__(self, d_model: int, n_heads: int = 2) -> None:
            super().__init__()
            self.proj = nn.Linear(d_model, d_model)

        def forward(self, x: Float[Tensor, "b s d_model"]) -> Float[Tensor, "b s d_model"]:
            return self.proj(x)

    small, wide = Block(4), Block(8)
    assert small(torch.zeros(2, 3, 4)).shape == (2, 3, 4)
    assert wide(torch.zeros(2, 3, 8)).shape == (2, 3, 8)
    # `batch` and `seq` are bound per call: another batch size is fine.
    assert small(torch.zeros(5, 7, 4)).shape == (5, 7, 4)
    with pytest.raises(ShapeError) as info:
        line = _next_line()
        small(torch.zeros(2, 3, 8))
    assert str(info.value).splitlines()[0] == (
        f"{HERE}:{line}: test_module_class_binds_constructor_dims_per_instance.<locals>.Block.forward(): "
        "argument 'x': dim 'd_model' (axis 2) is 8, but 'd_model' is already 4"
    )
    assert "    d_model = 4  (from Block(d_model=4))" in str(info.value)


def test_module_inherited_forward_is_wrapped() -> None:
    class Base(nn.Module):
        def forward(self, x: Float[Tensor, "b 3"]) -> Float[Tensor, "b 3"]:
            return x

    @shapecheck.check
    class Child(Base):
        pass

    Child()(torch.zeros(2, 3))
    with pytest.raises(ShapeError, match="axis 1 is 4, but the annotation fixes it to 3"):
        Child()(torch.zeros(2, 4))


def test_plain_class_methods_and_staticmethods() -> None:
    @shapecheck.check
    class Ops:
        def __init__(self, n: int) -> None:
            self.n = n

        def take(self, x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
            return x

        @staticmethod
        def pair(x: Float[Tensor, "k"], y: Float[Tensor, "k"]) -> Float[Tensor, "k"]:
            return x

    ops = Ops(3)
    ops.take(torch.zeros(3))
    with pytest.raises(ShapeError, match="'n' is already 3"):
        ops.take(torch.zeros(4))
    Ops.pair(torch.zeros(2), torch.zeros(2))
    with pytest.raises(ShapeError, match="argument 'y'"):
        Ops.pair(torch.zeros(2), torch.zeros(5))


def test_variadic_broadcastable_optional_and_kwargs() -> None:
    @shapecheck.check
    def f(x: Float[Tensor, "*batch d"], y: Float[Tensor, "*batch d"],
          mask: Optional[Shaped[Tensor, "#d"]] = None) -> Float[Tensor, "*batch d"]:
        return x

    f(torch.zeros(2, 5, 3), torch.zeros(2, 5, 3))
    f(torch.zeros(2, 5, 3), y=torch.zeros(2, 5, 3), mask=torch.zeros(1))
    f(torch.zeros(3), torch.zeros(3), mask=None)
    with pytest.raises(ShapeError, match=r"dims '\*batch' are \(4, 5\), but '\*batch' is already \(2, 5\)"):
        f(torch.zeros(2, 5, 3), torch.zeros(4, 5, 3))
    with pytest.raises(ShapeError, match="argument 'mask'"):
        f(torch.zeros(2, 3), torch.zeros(2, 3), mask=torch.zeros(2))


def test_tuple_return_and_int_dtype() -> None:
    @shapecheck.check
    def split(x: Float[Tensor, "n 2"]) -> tuple[Float[Tensor, "n"], Int[Tensor, "n"]]:
        return x[:, 0], x[:, 1].long()

    a, b = split(torch.zeros(4, 2))
    assert b.dtype == torch.long

    @shapecheck.check
    def wrong(x: Float[Tensor, "n 2"]) -> tuple[Float[Tensor, "n"], Int[Tensor, "n"]]:
        return x[:, 0], x[:, 1]

    with pytest.raises(ShapeError, match="return value: element 1: dtype is float32, but the annotation wants Int"):
        wrong(torch.zeros(4, 2))


def test_cached_pass_does_not_hide_a_later_failure() -> None:
    for _ in range(3):
        mm(torch.zeros(2, 3), torch.zeros(3, 4))
    with pytest.raises(ShapeError):
        mm(torch.zeros(2, 3), torch.zeros(4, 4))
    with pytest.raises(ShapeError):
        shrink(torch.zeros(4))
    with pytest.raises(ShapeError):
        shrink(torch.zeros(4))


def test_disable_env_returns_the_function_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    def f(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x

    monkeypatch.setenv("SHAPECHECK_DISABLE", "1")
    assert shapecheck.check(f) is f
    assert shapecheck.check(devices=False)(f) is f
    monkeypatch.setenv("SHAPECHECK_DISABLE", "0")
    assert shapecheck.check(f) is not f


def test_no_op_while_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decorator_module, "is_compiling", lambda: True)

    @shapecheck.check
    def f(x: Float[Tensor, "n"]) -> Float[Tensor, "n 2"]:
        return x

    assert f(torch.zeros(3)).shape == (3,)  # no ShapeError: the compiler is tracing


def test_torch_compile_runs_checked_function_without_false_errors() -> None:
    @shapecheck.check
    def f(x: Float[Tensor, "n"], y: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x * y + 1

    compiled = torch.compile(f, backend="eager")
    assert torch.equal(compiled(torch.ones(3), torch.ones(3)), torch.full((3,), 2.0))


def test_not_a_function_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="expects a function or a class, got int"):
        shapecheck.check(3)  # type: ignore[call-overload]


# --- agreement with jaxtyping's own verdict ------------------------------------------------

SPECS = ["a b", "a 3", "*batch a", "a *batch", "#a b", "a ...", "_ a", "a a", "n=a b", "*#batch a", "a-1 b", ""]
WRAPPERS = [Float, Int, Shaped, jaxtyping.Float32, jaxtyping.Bool, jaxtyping.Integer]
DTYPES = [torch.float32, torch.float64, torch.int64, torch.int32, torch.bool]


@settings(max_examples=200, deadline=None)
@given(
    first=st.sampled_from(SPECS),
    second=st.sampled_from(SPECS),
    wrapper=st.sampled_from(WRAPPERS),
    dtype=st.sampled_from(DTYPES),
    shape_x=st.lists(st.integers(1, 4), min_size=0, max_size=4),
    shape_y=st.lists(st.integers(1, 4), min_size=0, max_size=4),
)
def test_verdict_agrees_with_jaxtyping(first: str, second: str, wrapper: object, dtype: object,
                                       shape_x: list[int], shape_y: list[int]) -> None:
    ax, ay = wrapper[Tensor, first], Float[Tensor, second]  # type: ignore[index]
    x, y = torch.zeros(tuple(shape_x), dtype=dtype), torch.zeros(tuple(shape_y))
    try:
        with jaxtyping.jaxtyped("context"):
            theirs = isinstance(x, ax) and isinstance(y, ay)
    except jaxtyping.AnnotationError:
        return  # e.g. `a-1` before `a` is bound: jaxtyping refuses, we stay silent (checked below)

    @shapecheck.check
    def f(x: ax, y: ay) -> None:  # type: ignore[valid-type]
        return None

    try:
        f(x, y)
        ours = True
    except ShapeError:
        ours = False
    assert ours == theirs, (first, second, wrapper, dtype, shape_x, shape_y)


def test_inherited_constructor_still_binds_its_dims() -> None:
    class Base(nn.Module):
        def __init__(self, d_model: int) -> None:
            super().__init__()
            self.fc = nn.Linear(d_model, d_model)

    @shapecheck.check
    class Child(Base):
        def forward(self, x: Float[Tensor, "b d_model"]) -> Float[Tensor, "b d_model"]:
            return x

    Child(4)(torch.zeros(2, 4))
    with pytest.raises(ShapeError, match=r"'d_model' is already 4"):
        Child(4)(torch.zeros(2, 5))


def test_cached_pass_does_not_hide_a_device_change() -> None:
    @shapecheck.check
    def add(a: Float[Tensor, "n"], b: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return a

    for _ in range(3):
        add(torch.zeros(3), torch.zeros(3))
    with pytest.raises(ShapeError, match="'a' on cpu, 'b' on meta"):
        add(torch.zeros(3), torch.zeros(3, device="meta"))
    with pytest.raises(ShapeError, match="'a' on cpu, 'b' on meta"):
        add(torch.zeros(3), b=torch.zeros(3, device="meta"))  # keyword call: the generic path


def test_a_forward_reference_does_not_switch_off_the_other_checks() -> None:
    @shapecheck.check
    def f(x: Float[Tensor, "n"]) -> "DefinedLater":  # noqa: F821 - unresolvable at decoration
        return x

    with pytest.raises(ShapeError, match="argument 'x': rank is 2, but the annotation has 1 dims"):
        f(torch.zeros(2, 2))
