"""`@shapecheck.check` keeps what the decorated object is (issue 14, runtime): slotted classes,
TorchScript and FX, coroutine and generator functions, recursion depth."""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("jaxtyping")

from jaxtyping import Float  # noqa: E402
from torch import Tensor, nn  # noqa: E402

import shapecheck  # noqa: E402


def test_class_with_slots_keeps_instantiating_and_binds_its_dims() -> None:
    @shapecheck.check
    class Proj:
        __slots__ = ("d", "__weakref__")

        def __init__(self, d: int) -> None:
            self.d = d

        def apply(self, x: Float[Tensor, "b d"]) -> Float[Tensor, "b d"]:
            return x

    p = Proj(4)
    assert p.apply(torch.zeros(2, 4)).shape == (2, 4)
    with pytest.raises(shapecheck.ShapeError, match="'d' is already 4"):
        p.apply(torch.zeros(2, 3))  # d=4 bound by the constructor, as for classes with a __dict__

    @shapecheck.check
    class NoWeakref:
        __slots__ = ("d",)

        def __init__(self, d: int) -> None:
            self.d = d

        def apply(self, x: Float[Tensor, "d"]) -> Float[Tensor, "d"]:
            return x

    assert NoWeakref(4).apply(torch.zeros(3)).shape == (3,)  # no place for instance dims: per call


def test_slotted_dataclass() -> None:
    @shapecheck.check
    @dataclasses.dataclass(slots=True)
    class Pair:
        a: Float[Tensor, " n"]
        b: Float[Tensor, " n"]

    assert Pair(torch.zeros(2), torch.zeros(2)).a.shape == (2,)
    with pytest.raises(shapecheck.ShapeError, match="field 'b'"):
        Pair(torch.zeros(2), torch.zeros(3))


@shapecheck.check
class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d, d)

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.fc(x)) + x


def test_decorated_module_scripts_and_fx_traces() -> None:
    torch.manual_seed(0)
    block = Block(4)
    x = torch.randn(2, 4)
    scripted = torch.jit.script(block)  # compiles the undecorated forward: TorchScript runs no Python checks
    traced = torch.fx.symbolic_trace(block)  # the wrapper steps aside while fx traces with Proxies
    assert torch.equal(scripted(x), block(x)) and torch.equal(traced(x), block(x))
    assert "relu" in traced.code
    assert hasattr(type(block).forward, "__shapecheck_plan__")  # the eager module is still checked


def test_coroutine_and_generator_functions_keep_their_kind() -> None:
    @shapecheck.check
    async def score(x: Float[Tensor, "n"]) -> Float[Tensor, "n"]:
        return x[:1]

    @shapecheck.check
    def batches(x: Float[Tensor, "n d"]):  # noqa: ANN202
        yield from x

    @shapecheck.check
    async def stream(x: Float[Tensor, "n"]):  # noqa: ANN202
        yield x

    assert inspect.iscoroutinefunction(score) and inspect.isgeneratorfunction(batches)
    assert inspect.isasyncgenfunction(stream)
    assert asyncio.run(score(torch.zeros(1))).shape == (1,)
    with pytest.raises(shapecheck.ShapeError, match="return value"):
        asyncio.run(score(torch.zeros(3)))  # the awaited value is checked
    assert len(list(batches(torch.zeros(3, 2)))) == 3
    with pytest.raises(shapecheck.ShapeError, match="argument 'x'"):
        next(batches(torch.zeros(3)))


def test_recursion_depth_is_not_halved() -> None:
    @shapecheck.check
    def depth(x: Float[Tensor, "n"], k: int) -> Float[Tensor, "n"]:
        return x if k == 0 else depth(x, k - 1)

    def plain(k: int) -> int:
        return 0 if k == 0 else plain(k - 1)

    def deepest(fn: object) -> int:
        lo, hi = 1, 20_000
        while lo < hi - 1:
            mid = (lo + hi) // 2
            try:
                fn(mid)  # type: ignore[operator]
                lo = mid
            except RecursionError:
                hi = mid
        return lo

    limit = sys.getrecursionlimit()
    x = torch.zeros(2)
    assert deepest(lambda k: depth(x, k)) >= deepest(plain) - 32
    assert sys.getrecursionlimit() == limit  # restored
