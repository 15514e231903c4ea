"""Broadcasting: concrete shapes against torch.broadcast_shapes (the oracle), then the symbolic
cases where only an assumption makes the operands compatible."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from shapecheck.shapes import Dim, Facts, Shape, Variadic, broadcast

concrete_shapes = st.lists(st.integers(0, 5), min_size=0, max_size=5).map(tuple)


def _oracle(*shapes: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return tuple(torch.broadcast_shapes(*shapes))
    except RuntimeError:
        return None


@settings(max_examples=200, deadline=None)
@given(st.lists(concrete_shapes, min_size=1, max_size=4))
def test_concrete_broadcast_matches_torch(shapes: list[tuple[int, ...]]) -> None:
    expected = _oracle(*shapes)
    result = broadcast(*(Shape.of(*s) for s in shapes))
    if expected is None:
        assert not result.ok and result.shape is None and result.error is not None
        err = result.error
        sizes = [d.value for _, _, d in err.operands]
        assert len(set(sizes)) == 2 and 1 not in sizes  # names two genuinely clashing sizes
        for i, axis, dim in err.operands:
            assert shapes[i][axis] == dim.value
    else:
        assert result.ok and result.shape == Shape.of(*expected)
        assert result.assumptions == []
        for i, axis in result.stretched:  # a stretched operand had 1 (or nothing) where the result is > 1
            assert expected[axis] != 1
            assert -axis > len(shapes[i]) or shapes[i][axis] == 1


@settings(max_examples=200, deadline=None)
@given(concrete_shapes, concrete_shapes)
def test_trap_means_result_bigger_than_every_operand(x: tuple[int, ...], y: tuple[int, ...]) -> None:
    result = broadcast(Shape.of(*x), Shape.of(*y))
    if not result.ok:
        return
    out = _oracle(x, y)
    assert out is not None
    if result.is_trap:
        assert out != x and out != y
    elif len(x) == len(y) and 0 not in out and 1 not in out:
        assert out in (x, y) or result.is_trap


def test_the_classic_trap() -> None:
    r = broadcast(Shape.of("N"), Shape.of("N", 1))
    assert r.ok and r.shape == Shape.of("N", "N")
    assert r.is_trap
    assert sorted(r.stretched) == [(0, -2), (1, -1)]
    assert r.stretched_operands(-2) == [0]
    assert r.assumptions == []


def test_not_a_trap_when_one_operand_is_the_result() -> None:
    r = broadcast(Shape.of("b", "t", "d"), Shape.of("d"))
    assert r.ok and r.shape == Shape.of("b", "t", "d") and not r.is_trap
    assert sorted(r.stretched) == [(1, -3), (1, -2)]
    r = broadcast(Shape.of("b", 1, "d"), Shape.of(1, "t", "d"))
    assert r.is_trap  # an outer product: intentional or not, the caller decides by provenance


def test_different_names_need_an_assumption() -> None:
    r = broadcast(Shape.of("batch", 3), Shape.of("seq", 3))
    assert r.ok and r.error is None
    assert r.assumptions == [(Dim.sym("batch"), Dim.sym("seq"))]
    assert r.shape == Shape.of("batch", 3)


def test_symbol_against_constant() -> None:
    r = broadcast(Shape.of("n"), Shape.of(5))
    assert r.ok and r.assumptions == [(Dim.sym("n"), Dim.const(5))]
    assert r.shape == Shape.of(5)  # if it broadcasts at all, the size is 5
    r = broadcast(Shape.of("n"), Shape.of(1))
    assert r.ok and r.assumptions == [] and r.shape == Shape.of("n")


def test_same_symbol_is_fine_and_facts_are_used() -> None:
    r = broadcast(Shape.of("b", "n"), Shape.of("b", "n"))
    assert r.ok and r.assumptions == [] and r.stretched == [] and not r.is_trap
    facts = Facts()
    d, h = Dim.sym("d"), Dim.sym("h")
    facts.assume_divides(h, d)
    r = broadcast(Shape.of("b", h * (d // h)), Shape.of("b", d), facts=facts)
    assert r.ok and r.assumptions == []


def test_sizes_that_can_never_agree_fail() -> None:
    n = Dim.sym("n")
    r = broadcast(Shape.of(n + 1), Shape.of(n + 2))
    assert not r.ok and r.error is not None and r.error.axis == -1
    # n vs n + 1 broadcasts only if n == 1: an assumption, not an error
    r = broadcast(Shape.of(n), Shape.of(n + 1))
    assert r.ok and r.assumptions == [(n, Dim.const(1))] and r.shape == Shape.of(n + 1)
    r = broadcast(Shape.of(2 * n), Shape.of(3))
    assert r.ok and r.assumptions == [(2 * n, Dim.const(3))]


def test_failure_names_both_operands_axes() -> None:
    r = broadcast(Shape.of(64, 10), Shape.of(64))
    assert r.error is not None
    assert r.error.axis == -1
    assert r.error.operands == ((0, -1, Dim.const(10)), (1, -1, Dim.const(64)))
    assert str(r.error) == "axis -1: 10 (operand 0) vs 64 (operand 1)"


def test_unknowns_are_silent() -> None:
    u = Dim.unknown()
    r = broadcast(Shape.of(u, 3), Shape.of(4, 3))
    assert r.ok and r.assumptions == [] and r.shape == Shape.of(4, 3)
    r = broadcast(Shape.of(u), Shape.of(1))
    assert r.ok and r.shape is not None and r.shape[0] == u and r.stretched == []
    r = broadcast(Shape.unknown(), Shape.of(3))
    assert r.ok and r.shape is not None and r.shape.is_unknown
    r = broadcast(Shape.unknown(), Shape.of(3), Shape.of(4))
    assert r.ok  # unknown rank anywhere: no claim at all


def test_scalars_and_empty() -> None:
    assert broadcast().shape == Shape.of()
    r = broadcast(Shape.of(), Shape.of("n", 3))
    assert r.ok and r.shape == Shape.of("n", 3) and not r.is_trap
    r = broadcast(Shape.of(0), Shape.of(1))
    assert r.ok and r.shape == Shape.of(0)


def test_variadics() -> None:
    r = broadcast(Shape.of("*batch", "d"), Shape.of("d"))
    assert r.ok and r.shape == Shape.of("*batch", "d")
    r = broadcast(Shape.of("*batch", 3), Shape.of(4))
    assert not r.ok and r.error is not None and r.error.axis == -1
    r = broadcast(Shape.of("*b", 3), Shape.of(4, 5, 3))
    assert r.ok and r.shape is not None
    assert r.shape.variadic == Variadic(None) and r.shape.suffix == (Dim.const(3),)
    r = broadcast(Shape.of("*b", 3), Shape.of(4, 3), Shape.of(5, 3))
    assert not r.ok and r.error is not None and r.error.axis == -2  # 4 vs 5, whatever *b is
    r = broadcast(Shape.of("*b", "n", 3), Shape.of("*b", 1, 3))
    assert r.ok and r.shape == Shape.of("*b", "n", 3)
    assert r.stretched == [(1, -2)]
    r = broadcast(Shape.of("*b", 3), Shape.of("*c", 3))
    assert r.shape == Shape.of("...", 3)


@pytest.mark.parametrize("n_ops", [2, 3])
def test_symbolic_result_is_the_non_one_size(n_ops: int) -> None:
    shapes = [Shape.of("b", 1, "d"), Shape.of(1, "t", 1), Shape.of("d")][:n_ops]
    r = broadcast(*shapes)
    assert r.ok and r.assumptions == []
    assert r.shape == Shape.of("b", "t", "d")


# ----- symbolic soundness: instantiate the symbols and ask torch ----------------------------------
sym_dims = st.sampled_from(["a", "b", "a + 1", "2 * b", 1, 1, 2, 3])
sym_shapes = st.lists(sym_dims, max_size=4)
ENVS = [{"a": a, "b": b} for a in (1, 2, 3) for b in (1, 2, 3)]


def _instantiate(shape: Shape, env: dict[str, int]) -> tuple[int, ...]:
    out = []
    for d in shape.axes:
        assert isinstance(d, Dim)
        v = d.evaluate(env)
        assert v is not None
        out.append(v)
    return tuple(out)


@settings(max_examples=200, deadline=None)
@given(st.lists(sym_shapes, min_size=2, max_size=3))
def test_symbolic_broadcast_is_sound(specs: list[list]) -> None:
    shapes = [Shape.of(*s) for s in specs]
    result = broadcast(*shapes)
    for env in ENVS:
        concrete = [_instantiate(s, env) for s in shapes]
        expected = _oracle(*concrete)
        holds = all(x.evaluate(env) == y.evaluate(env) for x, y in result.assumptions)
        if not result.ok:
            assert expected is None, (specs, env)  # an error is an error for every size
        elif not result.assumptions:
            assert expected is not None and expected == _instantiate(result.shape, env), (specs, env)  # type: ignore[arg-type]
        elif holds:
            assert expected is not None and expected == _instantiate(result.shape, env), (specs, env)  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(st.lists(concrete_shapes, min_size=2, max_size=3), st.data())
def test_variadic_broadcast_is_sound(shapes: list[tuple[int, ...]], data: st.DataObject) -> None:
    """Hide a random prefix of some shapes behind `*v`: we may know less, never something false."""
    cuts = [data.draw(st.integers(0, len(s))) if data.draw(st.booleans()) else None for s in shapes]
    abstract = [Shape.of("*v", *s[c:]) if c is not None else Shape.of(*s) for s, c in zip(shapes, cuts)]
    result = broadcast(*abstract)
    expected = _oracle(*shapes)
    if not result.ok:
        assert expected is None
    elif expected is not None:
        assert result.shape is not None
        suffix = [d.value for d in result.shape.suffix]
        assert tuple(suffix) == expected[len(expected) - len(suffix):] if suffix else True
