"""Throughput of the shape domain: normalising random symbolic dims and broadcasting random shapes.

    .venv/bin/python benchmarks/bench_shapes.py [N]      (default N = 100_000)

Prints ops/s for: building+normalising size expressions, comparing them, broadcasting pairs of
symbolic shapes, and rendering explanations. Seeded, so runs are comparable.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable

from shapecheck.shapes import Dim, Facts, Shape, broadcast, compare, explain_broadcast

SYMBOLS = ["batch", "seq", "d_model", "n_heads", "h", "w", "c"]


Tree = object  # str (symbol) | int | tuple[op, Tree, Tree]


def random_tree(rng: random.Random, depth: int = 3) -> Tree:
    """A random size expression of the kinds real models produce (sums, products, conv formulas)."""
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(SYMBOLS) if rng.random() < 0.7 else rng.randint(1, 8)
    op = rng.choice(["+", "-", "*", "//", "conv"])
    left = random_tree(rng, depth - 1)
    if op == "//":
        return ("//", left, rng.choice([2, rng.choice(SYMBOLS)]))
    if op == "conv":
        return ("conv", left, rng.choice([1, 2]))
    return (op, left, random_tree(rng, depth - 1))


def build(tree: Tree) -> Dim:
    """Normalise: build the Dim bottom-up with the domain's arithmetic."""
    if isinstance(tree, str):
        return Dim.sym(tree)
    if isinstance(tree, int):
        return Dim.const(tree)
    op, left, right = tree  # type: ignore[misc]
    a, b = build(left), build(right)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "//":
        return a // b
    return (a + 2 - 3) // b + 1  # conv/pool output size, k=3 p=1


def random_dim(rng: random.Random) -> Dim:
    return build(random_tree(rng))


def random_shape(rng: random.Random, pool: list[Dim]) -> Shape:
    rank = rng.randint(0, 4)
    return Shape(tuple(rng.choice(pool) if rng.random() < 0.7 else Dim.const(1) for _ in range(rank)))


def _count(tree: Tree) -> int:
    return 1 + sum(_count(t) for t in tree[1:]) if isinstance(tree, tuple) else 1


def timed(label: str, n: int, fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    rate = n / elapsed
    print(f"{label:<40} {n:>8} ops  {elapsed:7.3f} s  {rate:>12,.0f} ops/s")
    return rate


def main(n: int = 100_000) -> None:
    rng = random.Random(0)
    trees = [random_tree(rng) for _ in range(n)]
    nodes = sum(_count(t) for t in trees)
    dims: list[Dim] = []
    timed("normalise random size expressions", n, lambda: dims.extend(build(t) for t in trees))
    print(f"  ({nodes / n:.1f} tree nodes per expression on average)")

    facts = Facts()
    facts.assume_divides(Dim.sym("n_heads"), Dim.sym("d_model"))
    pairs = [(rng.choice(dims), rng.choice(dims)) for _ in range(n)]
    timed("compare pairs (with facts)", n, lambda: [compare(a, b, facts) for a, b in pairs])

    pool = dims[:200] + [Dim.sym(s) for s in SYMBOLS] + [Dim.const(k) for k in range(2, 6)]
    shapes = [(random_shape(rng, pool), random_shape(rng, pool)) for _ in range(n)]
    results: list = []
    timed("broadcast symbolic shape pairs", n, lambda: results.extend(broadcast(a, b) for a, b in shapes))
    failed = sum(1 for r in results if not r.ok)
    assumed = sum(1 for r in results if r.ok and r.assumptions)
    print(f"  of which {failed} fail definitely, {assumed} need an assumption")

    m = n // 10
    timed("explain_broadcast", m, lambda: [explain_broadcast(list(s), ["x", "y"], r)
                                           for s, r in zip(shapes[:m], results[:m])])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
