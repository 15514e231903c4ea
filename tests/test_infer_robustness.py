"""The interpreter on code it does not model: it must finish, stay silent, and keep going.

Every snippet here is valid Python that real projects contain; the analysis must neither crash
(SC903) nor report a shape finding."""

from __future__ import annotations

import textwrap

import pytest

from shapecheck.engine import lint_source
from shapecheck.infer.explain import reveal

SHAPE_CODES = ["SC101", "SC102", "SC103", "SC104", "SC105", "SC106", "SC107", "SC108", "SC109", "SC110", "SC111", "SC190"]

HEADER = "import torch\nimport torch.nn as nn\nfrom torch import Tensor\nfrom jaxtyping import Float\n"

SNIPPETS = {
    "recursion": '''
        def depth(x: Float[Tensor, "b d"], n: int):
            if n == 0:
                return x
            return depth(x * 2, n - 1)

        def ping(x):
            return pong(x)

        def pong(x):
            return ping(x)

        y = ping(torch.zeros(3))
    ''',
    "self-building class": '''
        class Tree(nn.Module):
            def __init__(self, depth: int):
                super().__init__()
                self.child = Tree(depth - 1) if depth else None

            def forward(self, x):
                return self.child(x) if self.child is not None else x
    ''',
    "match, walrus, lambda, async, global": '''
        counter = 0

        def f(x: Float[Tensor, "b d"], cmd):
            global counter
            match cmd:
                case "double":
                    y = x * 2
                case _:
                    y = x
            if (n := y.shape[0]) > 2:
                y = y[:2]
            g = lambda t: t.sum(0)
            return g(y)

        async def g(x: Float[Tensor, "b d"]):
            async with lock:
                y = await something(x)
            async for item in stream:
                y = y + item
            return y
    ''',
    "star args and kwargs everywhere": '''
        def f(x: Float[Tensor, "b s d"], *shape, **opts):
            y = x.view(*shape)
            z = x.reshape(x.shape[0], *shape, **opts)
            w = torch.zeros(*x.shape[:-1], 4)
            return torch.cat([y, z, w], **opts)
    ''',
    "odd subscripts and attributes": '''
        def f(x: Float[Tensor, "b s d"], idx, mask):
            a = x[..., None, ::2]
            b = x[idx][mask]
            c = x.shape[idx]
            d = x.shape[1:][::-1]
            e = x.T.mT.H
            f = x.data.grad
            g = x.new_zeros(x.shape).to(x)
            return a, b, c, d, e, f, g
    ''',
    "inheritance and properties": '''
        class Base(nn.Module):
            def __init__(self, d: int):
                super().__init__()
                self.fc = nn.Linear(d, d)

            @property
            def width(self):
                return self.fc.out_features

        class Child(Base):
            def forward(self, x: Float[Tensor, "b d"]) -> Float[Tensor, "b d"]:
                return self.fc(x) + self.width

            @staticmethod
            def helper(x):
                return x

            @classmethod
            def build(cls, d):
                return cls(d)
    ''',
    "nested functions and closures": '''
        def outer(x: Float[Tensor, "b d"]):
            scale = x.shape[1] ** -0.5

            def inner(y):
                return y * scale

            return inner(x) + inner
    ''',
    "dicts, sets, comprehensions": '''
        def f(xs, x: Float[Tensor, "b d"]):
            outs = {k: v(x) for k, v in xs.items()}
            seen = {t.shape for t in outs.values()}
            stacked = torch.stack([x[i] for i in range(x.shape[0])])
            return outs, seen, stacked
    ''',
    "numbers as sizes": '''
        import math

        def f(x: Float[Tensor, "b c h w"], scale: float):
            h = int(x.shape[2] * scale)
            w = math.ceil(x.shape[3] / 2)
            y = x.view(x.shape[0], -1, int(math.sqrt(x.shape[1])))
            return torch.zeros(h, w) + y.mean()
    ''',
}


@pytest.mark.parametrize("name", list(SNIPPETS))
def test_silent_and_no_crash(name: str) -> None:
    source = HEADER + textwrap.dedent(SNIPPETS[name])
    diagnostics = lint_source("snippet.py", source, SHAPE_CODES)
    assert [f"{d.location.row}:{d.code} {d.message}" for d in diagnostics] == []
    reveal(source)  # the explain view walks the same code


def test_deeply_nested_expression_is_an_internal_error_not_a_crash() -> None:
    source = HEADER + "y = " + "(" * 200 + "1" + ")" * 200 + "\n"
    diagnostics = lint_source("deep.py", source, SHAPE_CODES)
    assert all(d.code in ("SC901", "SC903") for d in diagnostics)


def test_softmax_over_a_square_similarity_matrix_is_a_choice() -> None:
    source = HEADER + textwrap.dedent('''
        def sinkhorn_step(sim: Float[Tensor, "n n"]):
            return sim.softmax(dim=0)
    ''')
    assert lint_source("s.py", source, ["SC111"]) == []
