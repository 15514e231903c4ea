"""Hypothesis strategies for op tests: shapes that broadcast often (and sometimes do not)."""

from __future__ import annotations

from hypothesis import strategies as st

sizes = st.integers(min_value=1, max_value=5)
sizes0 = st.integers(min_value=0, max_value=4)


def shapes(min_rank: int = 0, max_rank: int = 4, zero: bool = False) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(sizes0 if zero else sizes, min_size=min_rank, max_size=max_rank).map(tuple)


@st.composite
def related_shapes(draw: st.DrawFn, n: int = 2, max_rank: int = 4, zero: bool = False) -> list[tuple[int, ...]]:
    """`n` shapes derived from one base: axes dropped on the left, set to 1, or (rarely) changed."""
    base = draw(shapes(0, max_rank, zero))
    out = []
    for _ in range(n):
        drop = draw(st.integers(0, len(base)))
        dims = list(base[drop:])
        for i in range(len(dims)):
            r = draw(st.integers(0, 9))
            if r < 2:
                dims[i] = 1
            elif r == 2:
                dims[i] = draw(sizes0 if zero else sizes)
        out.append(tuple(dims))
    return out
