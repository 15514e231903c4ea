"""Dim normal form, Facts and compare: exact identities, then random expression trees checked
against plain Python integer arithmetic (floor semantics) at random positive assignments."""

from __future__ import annotations

import operator
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shapecheck.shapes import Dim, Facts, Shape, compare, evaluate_expr
from shapecheck.shapes.dims import can_be_one

a, b, c, n, h, w = (Dim.sym(x) for x in ("a", "b", "c", "n", "h", "w"))
d_model, n_heads = Dim.sym("d_model"), Dim.sym("n_heads")


# ----- identities from the spec ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("left", "right"),
    [
        (a * b, b * a),
        (a + b - a, b),
        ((a * b) // b, a),
        (2 * c // 2, c),
        ((2 * n + 2) // 2, n + 1),
        ((a + b) * (a - b), a * a - b * b),
        ((h * w * 3) // 3, h * w),
        ((2 * n) // 4, n // 2),
        ((6 * n + 4) // 2, 3 * n + 2),
        (n // 1, n),
        ((n + 4) % 2, n % 2),
        ((2 * n) % 2, 0),
        ((a * b) % b, 0),
        ((a * b + a) // a, b + 1),
        (((a + 1) * (b + 2)) // (a + 1), b + 2),
        (Dim.const(7) // 2, 3),
        (Dim.const(-7) // 2, -4),
        (Dim.const(7) % -2, -1),
        (n.ceil_div(2), (n + 1) // 2),
        (Dim.const(7).ceil_div(2), 4),
        (n - n, 0),
        ((a * b * n) // (a * b * h), n // h),  # view(b, s, h, -1): numel // (b*s*h)
        ((2 * a * n) // (4 * a * h), n // (2 * h)),
        ((a * n) % (a * h), a * (n % h)),
        ((a * n + 1) // (a * h), (n * a + 1) // (h * a)),  # no common factor with the constant term
    ],
)
def test_normal_form_identities(left: Dim, right: Dim | int) -> None:
    assert left == right
    assert hash(left) == hash(Dim.of(right))


def _conv(h: Dim | int, k: int, p: int, s: int, d: int = 1) -> Dim:
    return (Dim.of(h) + 2 * p - d * (k - 1) - 1) // s + 1


def test_conv_output_sizes_fold() -> None:
    assert _conv(32, 3, 1, 1) == 32
    assert _conv(h, 3, 1, 1) == h
    assert _conv(h, 3, 1, 2) == (h - 1) // 2 + 1
    assert _conv(h, 5, 2, 1) == h
    assert _conv(h, 2, 0, 2) == h // 2  # 2x2 max-pool
    assert str(_conv(h, 3, 1, 2)) == "(h + 1) // 2"
    for hv in range(1, 40):
        assert _conv(h, 3, 1, 2).evaluate({"h": hv}) == (hv + 2 - 2 - 1) // 2 + 1


def test_unknown_is_fresh_and_poisons_arithmetic() -> None:
    u = Dim.unknown()
    assert u == u
    assert u != Dim.unknown()
    assert (u + 1).is_unknown and (u * 0).is_unknown and (n // u).is_unknown
    assert u.value is None and not u.is_const and u.symbols() == frozenset()
    assert compare(u, u) == "equal"
    assert compare(u, Dim.unknown()) == "unknown"
    assert compare(u, Dim.const(3)) == "unknown"
    assert (n // 0).is_unknown and (n % 0).is_unknown


def test_inspection() -> None:
    assert Dim.const(3).value == 3 and Dim.const(3).is_const
    assert Dim.const(0).value == 0
    assert n.value is None and not n.is_const and n.is_symbol and n.name == "n"
    assert (n + 1).name is None
    assert (d_model // n_heads * h).symbols() == frozenset({"d_model", "n_heads", "h"})
    assert Dim.const(3) == 3 and 3 == Dim.const(3) and Dim.const(3) != 4
    with pytest.raises(TypeError):
        Dim.const(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Dim.sym("")


@pytest.mark.parametrize(
    ("dim", "text"),
    [
        (Dim.sym("batch"), "batch"),
        (d_model // n_heads, "d_model // n_heads"),
        (h * w, "h * w"),
        (w * h, "h * w"),
        (n + 1, "n + 1"),
        (Dim.const(3), "3"),
        (Dim.const(0), "0"),
        (1 - n, "-n + 1"),
        (n_heads * (d_model // n_heads), "n_heads * (d_model // n_heads)"),
        (2 * (n // 3), "2 * (n // 3)"),
        ((h * w) // 2, "h * w // 2"),
        (n // (a * b), "n // (a * b)"),
        ((n - 1) % 4, "(n + 3) % 4"),
        (Dim.unknown(), "?"),
    ],
)
def test_str(dim: Dim, text: str) -> None:
    assert str(dim) == text


# ----- Facts ------------------------------------------------------------------------------------
def test_divisibility_facts() -> None:
    f = Facts()
    head = d_model // n_heads
    assert compare(n_heads * head, d_model) == "unknown"  # N*(X//N) != X in general
    f.assume_divides(n_heads, d_model)
    assert f.simplify(n_heads * head) == d_model
    assert f.simplify(head * n_heads) == d_model
    assert f.simplify(2 * n_heads * head + 1) == 2 * d_model + 1
    assert f.simplify(d_model % n_heads) == 0
    assert compare(n_heads * head, d_model, f) == "equal"
    assert f.divides(n_heads, d_model)
    assert f.divides(3, 6 * n) and not f.divides(4, 6 * n)
    g = f.copy()
    g.assume_divides(2, n)
    assert g.simplify(2 * (n // 2)) == n
    assert f.simplify(2 * (n // 2)) == 2 * (n // 2)  # the copy did not leak back


def test_divisibility_facts_match_reduced_atoms() -> None:
    f = Facts()
    f.assume_divides(a * b * h, a * b * n)  # as a view's -1 would record it
    assert f.simplify(h * ((a * b * n) // (a * b * h))) == n
    f = Facts()
    f.assume_divides(2, n + 2)
    assert f.simplify(2 * ((n + 2) // 2)) == n + 2
    assert f.divides(2, n) and f.divides(2, n + 4) and not f.divides(3, n)
    f = Facts()
    f.assume_divides(4, 2 * n)
    assert f.simplify(4 * ((2 * n) // 4)) == 2 * n
    f = Facts()
    f.assume_divides(h, d_model)
    assert f.simplify(((h * (d_model // h)) // 2) * 2) == f.simplify((d_model // 2) * 2)  # inside atoms


def test_equality_facts() -> None:
    f = Facts()
    f.assume_equal(Dim.sym("seq"), Dim.sym("batch"))
    assert compare(Dim.sym("seq"), Dim.sym("batch"), f) == "equal"
    assert compare(Dim.sym("seq") + 1, Dim.sym("batch"), f) == "different"
    f.assume_equal(h, 2 * w)
    assert compare(h // 2, w, f) == "equal"
    f.assume_equal(a * b, c * c)  # no bare symbol side: kept as a pair
    assert compare(a * b, c * c, f) == "equal"
    assert compare(a * b, c * c) == "unknown"


def test_compare() -> None:
    assert compare(Dim.const(3), Dim.const(4)) == "different"
    assert compare(Dim.const(3), Dim.const(3)) == "equal"
    assert compare(n, n + 1) == "different"
    assert compare(a, b) == "unknown"  # could be the same size
    assert compare(n, Dim.const(5)) == "unknown"
    assert compare(2 * n, n) == "different"  # n >= 1
    assert compare(n * n, n) == "unknown"  # equal at n = 1
    assert compare(a + b, a) == "different"
    assert compare(n // 2, n) == "unknown"
    assert compare(b * a + 1 - 1, a * b) == "equal"


def test_can_be_one() -> None:
    assert can_be_one(n) and can_be_one(Dim.const(1)) and can_be_one(Dim.unknown())
    assert not can_be_one(n + 1) and not can_be_one(Dim.const(4)) and not can_be_one(2 * n)


def test_multi_head_reshape_round_trip() -> None:
    """(b, s, d) -> view (b, s, h, d // h) -> transpose(1, 2) -> transpose(1, 2) -> reshape (b, s, h * (d // h))."""
    bb, s, d, hh = Dim.sym("b"), Dim.sym("s"), Dim.sym("d"), Dim.sym("h")
    facts = Facts()
    x = Shape.of(bb, s, d)
    heads = Shape.of(bb, s, hh, d // hh)
    facts.assume_divides(hh, d)  # what the engine records for `view(..., d // h)`
    assert compare(x.numel(), heads.numel(), facts) == "equal"  # type: ignore[arg-type]
    transposed = Shape.of(heads[0], heads[2], heads[1], heads[3])
    back = Shape.of(transposed[0], transposed[2], transposed[1], transposed[3])
    merged = Shape.of(back[0], back[1], back[2] * back[3])
    assert compare(merged.numel(), x.numel(), facts) == "equal"  # type: ignore[arg-type]
    assert all(compare(p, q, facts) == "equal" for p, q in zip(merged, x))
    assert compare(merged[-1], x[-1]) == "unknown"  # without the fact, no claim


# ----- random expression trees -------------------------------------------------------------------
SYMS = ("a", "b", "c")
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod}

Tree = object  # str (symbol) | int | tuple[op, Tree, Tree]

leaves = st.one_of(st.sampled_from(SYMS), st.integers(-3, 6))
trees = st.recursive(
    leaves,
    lambda sub: st.tuples(st.sampled_from(list(OPS)), sub, sub),
    max_leaves=8,
)


def build(tree: Tree) -> Dim:
    if isinstance(tree, str):
        return Dim.sym(tree)
    if isinstance(tree, int):
        return Dim.const(tree)
    op, left, right = tree  # type: ignore[misc]
    return OPS[op](build(left), build(right))


def run(tree: Tree, env: dict[str, int]) -> int:
    if isinstance(tree, str):
        return env[tree]
    if isinstance(tree, int):
        return tree
    op, left, right = tree  # type: ignore[misc]
    return OPS[op](run(left, env), run(right, env))


def shuffle(tree: Tree, rng: random.Random) -> Tree:
    """Same value, different construction: commute + and *, re-associate + chains."""
    if not isinstance(tree, tuple):
        return tree
    op, left, right = tree
    left, right = shuffle(left, rng), shuffle(right, rng)
    if op in ("+", "*") and rng.random() < 0.5:
        left, right = right, left
    if op == "+" and isinstance(right, tuple) and right[0] == "+" and rng.random() < 0.5:
        return ("+", ("+", left, right[1]), right[2])
    if op == "-" and rng.random() < 0.5:
        return ("+", ("*", -1, right), left)
    return (op, left, right)


ASSIGNMENTS = [dict(zip(SYMS, vals)) for vals in ((1, 1, 1), (2, 3, 5), (7, 4, 1), (12, 6, 9), (5, 10, 3))]


@settings(max_examples=200, deadline=None)
@given(trees, st.lists(st.tuples(*[st.integers(1, 30)] * 3), min_size=3, max_size=6))
def test_normal_form_evaluates_like_the_tree(tree: Tree, values: list[tuple[int, int, int]]) -> None:
    dim = build(tree)
    for vals in values + [tuple(x.values()) for x in ASSIGNMENTS]:
        env = dict(zip(SYMS, vals))
        try:
            expected = run(tree, env)
        except ZeroDivisionError:
            continue
        got = dim.evaluate(env)
        if dim.is_unknown:
            assert got is None
            continue
        if got is None:  # the normal form kept a division that is by zero here
            continue
        assert got == expected, (tree, str(dim), env)
        # str() is valid Python with the same meaning, and re-parses to the same normal form.
        assert eval(str(dim), {}, dict(env)) == expected  # noqa: S307 - test oracle on our own output
    if not dim.is_unknown:
        assert evaluate_expr(str(dim)) == dim


@settings(max_examples=200, deadline=None)
@given(trees, st.integers(0, 10_000))
def test_construction_order_does_not_matter(tree: Tree, seed: int) -> None:
    dim = build(tree)
    other = build(shuffle(tree, random.Random(seed)))
    if dim.is_unknown or other.is_unknown:
        assert dim.is_unknown and other.is_unknown
        return
    assert dim == other and hash(dim) == hash(other) and str(dim) == str(other)


@settings(max_examples=200, deadline=None)
@given(trees, trees)
def test_equal_normal_forms_evaluate_equal(t1: Tree, t2: Tree) -> None:
    d1, d2 = build(t1), build(t2)
    verdict = compare(d1, d2)
    for env in ASSIGNMENTS:
        v1, v2 = d1.evaluate(env), d2.evaluate(env)
        if v1 is None or v2 is None:
            continue
        if verdict == "equal":
            assert v1 == v2
        elif verdict == "different":
            assert v1 != v2


@settings(max_examples=100, deadline=None)
@given(trees, st.sampled_from(SYMS), st.sampled_from([1, 2, 3]), trees)
def test_divisibility_simplification_is_sound(x: Tree, sym: str, k: int, y: Tree) -> None:
    """Under `D | X` (D = k*s), simplify(D * (X // D) + Y * (X % D)) agrees with the original
    wherever D divides X."""
    facts = Facts()
    dividend, divisor = build(x), Dim.sym(sym) * k
    facts.assume_divides(divisor, dividend)
    expr = divisor * (dividend // divisor) + build(y) * (dividend % divisor)
    simple = facts.simplify(expr)
    for env in ASSIGNMENTS + [{"a": 2, "b": 4, "c": 8}, {"a": 3, "b": 3, "c": 6}, {"a": 4, "b": 8, "c": 2}]:
        dv, sv = dividend.evaluate(env), divisor.evaluate(env)
        assert sv is not None
        if dv is None or dv % sv:
            continue
        v1, v2 = expr.evaluate(env), simple.evaluate(env)
        if v1 is not None and v2 is not None:
            assert v1 == v2


def test_pickle_round_trip_rebuilds_hashes() -> None:
    import pickle

    u = Dim.unknown()
    shape = Shape.of(d_model // n_heads, 2 * (n // 3) + h * w, u, u, 4)
    back = pickle.loads(pickle.dumps(shape))
    assert back.axes[:2] == shape.axes[:2] and hash(back.axes[0]) == hash(shape.axes[0])
    assert back.axes[2] == back.axes[3] and back.axes[2] != u  # still one unknown, a fresh one
    assert {back.axes[0]: 1}[d_model // n_heads] == 1


def test_power() -> None:
    assert n**2 == n * n and str(n**2) == "n * n" and n**0 == 1
    assert (n**2).evaluate({"n": 5}) == 25


def test_the_domain_imports_nothing_heavy() -> None:
    """The static path never imports torch/numpy/jaxtyping; the domain does not even need libcst."""
    import subprocess
    import sys

    code = ("import sys, shapecheck.shapes; "
            "print(sorted(m for m in ('torch', 'numpy', 'jaxtyping', 'libcst') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
