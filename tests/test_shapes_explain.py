"""Explanations, pinned to the exact text users read."""

from __future__ import annotations

from shapecheck.shapes import Shape, broadcast, explain_broadcast, explain_mismatch


def explain(shapes: list[Shape], labels: list[str]) -> str:
    return "\n".join(explain_broadcast(shapes, labels, broadcast(*shapes)))


def test_the_trap() -> None:
    assert explain([Shape.of("N"), Shape.of("N", 1)], ["pred", "target"]) == """\
  pred   :    (N)
  target : (N, 1)
  result : (N, N)
            ^  ^
  axis -2: pred padded to (1, N) and stretched to target's N
  axis -1: target's 1 stretched to pred's N
  the result (N, N) is larger than every input"""


def test_runtime_values_in_a_second_column() -> None:
    shapes = [Shape.of("N"), Shape.of("N", 1)]
    lines = explain_broadcast(shapes, ["pred", "target"], broadcast(*shapes), values={"N": 64})
    assert lines[:4] == [
        "  pred   :    (N)        (64)",
        "  target : (N, 1)    (64,  1)",
        "  result : (N, N)    (64, 64)",
        "            ^  ^",
    ]
    concrete = [Shape.of(3), Shape.of(3, 1)]  # nothing symbolic: no second column
    assert explain_broadcast(concrete, ["a", "b"], broadcast(*concrete), values={"N": 64})[0] == "  a      :    (3)"


def test_concrete_trap_columns_right_aligned() -> None:
    assert explain([Shape.of(64), Shape.of(64, 1)], ["pred", "target"]) == """\
  pred   :     (64)
  target : (64,  1)
  result : (64, 64)
            ^^  ^^
  axis -2: pred padded to (1, 64) and stretched to target's 64
  axis -1: target's 1 stretched to pred's 64
  the result (64, 64) is larger than every input"""


def test_failure_marks_the_failing_axis() -> None:
    assert explain([Shape.of(64, 10), Shape.of(64)], ["logits", "labels"]) == """\
  logits : (64, 10)
  labels :     (64)
  result : fails
                ^^
  axis -1: logits has 10, labels has 64: sizes must be equal, or one of them 1"""


def test_assumption_names_the_axis() -> None:
    assert explain([Shape.of("batch", 10), Shape.of("batch")], ["logits", "labels"]) == """\
  logits : (batch,    10)
  labels :        (batch)
  result : (batch,    10)
            ^^^^^  ^^^^^
  axis -2: labels padded to (1, batch) and stretched to logits' batch
  axis -1: assumes batch == 10: sizes broadcast only when equal or one of them is 1"""
    assert explain([Shape.of("n"), Shape.of("n + 1")], ["a", "b"]).endswith(
        "axis -1: assumes n == 1: otherwise it cannot broadcast")


def test_bias_over_several_axes_is_one_line() -> None:
    assert explain([Shape.of("b", "t", "d"), Shape.of("d")], ["x", "bias"]) == """\
  x      : (b, t, d)
  bias   :       (d)
  result : (b, t, d)
            ^  ^
  axes -3, -2: bias padded to (1, 1, d) and stretched to x's b, x's t"""


def test_plain_broadcast_says_nothing_extra() -> None:
    assert explain([Shape.of("b", "n"), Shape.of("b", "n")], ["x", "y"]) == """\
  x      : (b, n)
  y      : (b, n)
  result : (b, n)"""


def test_symbolic_cells_and_unknown_rank() -> None:
    assert explain([Shape.of("b", "d_model // n_heads"), Shape.of("b", 1)], ["q", "mask"]) == """\
  q      : (b, d_model // n_heads)
  mask   : (b,                  1)
  result : (b, d_model // n_heads)
               ^^^^^^^^^^^^^^^^^^
  axis -1: mask's 1 stretched to q's d_model // n_heads"""
    assert explain([Shape.unknown(), Shape.of(2, 3)], ["s", "x"]) == """\
  s      :   (*?)
  x      : (2, 3)
  result :   (*?)"""


def test_variadic_and_missing_labels() -> None:
    assert explain([Shape.of("*b", 3), Shape.of(4)], ["x"]) == """\
  x         : (*b, 3)
  operand 1 :     (4)
  result    : fails
                   ^
  axis -1: x has 3, operand 1 has 4: sizes must be equal, or one of them 1"""


def test_explain_mismatch() -> None:
    assert "\n".join(explain_mismatch(Shape.of("B", 784), Shape.of(10, 512), ["x", "weight"], -1, -1)) == """\
  x      : (B, 784)
               ^^^
  weight : (10, 512)
                ^^^
  x's axis -1 (784) must equal weight's axis -1 (512)"""
    assert "\n".join(explain_mismatch(Shape.of("b", "n", "k"), Shape.of("b", "m", "n"), ["a", "b"], -1, -2)) == """\
  a : (b, n, k)
             ^
  b : (b, m, n)
          ^
  a's axis -1 (k) must equal b's axis -2 (m)"""
    # an axis inside a variadic cannot be marked, but the sentence still says which
    lines = explain_mismatch(Shape.of("*b", "k"), Shape.unknown(), ["a", "b"], -2, 0)
    assert lines == ["  a : (*b, k)", "  b : (*?)", "  a's axis -2 (?) must equal b's axis 0 (?)"]


# ----- never crashes, always aligned -------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from shapecheck.shapes import Dim  # noqa: E402

cells = st.sampled_from([1, 2, 3, 64, "n", "batch", "d_model // n_heads", "n + 1"])
shapes = st.one_of(
    st.lists(cells, max_size=4).map(lambda xs: Shape.of(*xs)),
    st.lists(cells, max_size=3).map(lambda xs: Shape.of("*b", *xs)),
    st.just(Shape.unknown()),
    st.lists(st.just(0), min_size=1, max_size=2).map(lambda xs: Shape((Dim.unknown(),) * len(xs))),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(shapes, min_size=1, max_size=3))
def test_explanations_are_right_aligned(operands: list[Shape]) -> None:
    labels = [f"op{i}" for i in range(len(operands))]
    result = broadcast(*operands)
    lines = explain_broadcast(operands, labels, result)
    rows = [line for line in lines if " : " in line and line.endswith(")")]
    assert len(rows) == len(operands) + (1 if result.shape is not None else 0)
    assert len({len(row) for row in rows}) == 1  # every shape ends in the same column
    carets = [line for line in lines if line.strip() and set(line.strip()) <= {"^", " "}]
    if result.error is not None or result.stretched or result.assumptions:
        assert len(carets) == 1 or any(Shape.unknown() == s for s in operands)
    for line in carets:
        assert len(line) <= len(rows[0])
