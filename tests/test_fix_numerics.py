"""The fixes compute what the code meant: each snippet runs before and after `fix_source` on
small tensors (torch is the oracle here, in the tests only) and the results agree, while the
fixed form stays finite where the original overflows."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
import torch

from shapecheck.fix.apply import fix_source


def _compile(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "<fixed>", "exec"), namespace)  # noqa: S102 - test snippets we wrote
    return namespace


def _fixed(source: str, code: str, *, unsafe: bool = False) -> str:
    source = textwrap.dedent(source)
    result = fix_source("snippet.py", source, [code], unsafe=unsafe)
    assert result.applied, f"{code} fix not applied"
    assert not [d for d in result.remaining if d.code == code and d.fix is not None]
    again = fix_source("snippet.py", result.source, [code], unsafe=unsafe)
    assert again.source == result.source, "not idempotent"
    return result.source


CASES: list[tuple[str, str, str, Callable[[], tuple[Any, ...]]]] = [
    (
        "SC302",
        """
        import torch
        import torch.nn.functional as F

        def f(logits, y):
            return F.binary_cross_entropy(torch.sigmoid(logits), y)
        """,
        "binary_cross_entropy_with_logits(logits, y)",
        lambda: (torch.randn(16), torch.randint(0, 2, (16,)).float()),
    ),
    (
        "SC302",
        """
        import torch
        import torch.nn as nn

        def f(logits, y):
            criterion = nn.BCELoss(reduction="sum")
            return criterion(logits.sigmoid().view(-1), y)
        """,
        "BCEWithLogitsLoss(reduction=\"sum\")",
        lambda: (torch.randn(4, 4), torch.rand(16)),
    ),
    (
        "SC303",
        """
        import torch
        import torch.nn.functional as F

        def f(x):
            return torch.log(F.softmax(x, dim=1))
        """,
        "F.log_softmax(x, dim=1)",
        lambda: (torch.randn(5, 7),),
    ),
    (
        "SC303",
        """
        import torch

        def f(x):
            return torch.log(torch.softmax(x, -1)), x.softmax(0).log()
        """,
        "x.log_softmax(0)",
        lambda: (torch.randn(3, 4),),
    ),
    (
        "SC303",
        """
        import torch

        def f(x):
            return torch.log(torch.sum(torch.exp(x), dim=1, keepdim=True))
        """,
        "torch.logsumexp(x, dim=1, keepdim=True)",
        lambda: (torch.randn(6, 5),),
    ),
    (
        "SC303",
        """
        import torch

        def f(x):
            return (x * 2).exp().sum(-1).log()
        """,
        "(x * 2).logsumexp(-1)",
        lambda: (torch.randn(2, 3, 4),),
    ),
    (
        "SC303",
        """
        import torch

        def f(x):
            return torch.log(torch.sigmoid(x))
        """,
        "torch.nn.functional.logsigmoid(x)",
        lambda: (torch.randn(10),),
    ),
    (
        "SC401",
        """
        import torch.nn.functional as F

        def f(w, xs, ys):
            total = 0.0
            for x, y in zip(xs, ys):
                loss = F.mse_loss(x * w, y)
                loss.backward()
                total += loss
            return float(total)                 # a returned tensor total would make the fix unsafe
        """,
        "total += loss.item()",
        lambda: (torch.randn(3, requires_grad=True), torch.randn(4, 3), torch.randn(4, 3)),
    ),
    (
        "SC405",
        """
        import torch.nn as nn

        def f(x):
            layer = nn.Linear(4, 2)
            nn.init.constant_(layer.bias, 0.5)
            nn.init.eye_(layer.weight)
            return layer.forward(x)
        """,
        "return layer(x)",
        lambda: (torch.randn(3, 4),),
    ),
    (
        "SC501",
        """
        import torch
        import torch.nn as nn

        class M(nn.Module):
            def forward(self, x):
                return x + torch.ones(x.size(0), 1)

        def f(x):
            return M().to(x.device)(x)
        """,
        "torch.ones(x.size(0), 1, device=x.device)",
        lambda: (torch.randn(3, 2),),
    ),
]


def _same(a: Any, b: Any) -> None:
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
        return
    torch.testing.assert_close(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("code", "source", "expected", "inputs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_fix_keeps_the_value(code: str, source: str, expected: str, inputs: Callable[[], tuple[Any, ...]]) -> None:
    fixed = _fixed(source, code)
    assert expected in fixed
    torch.manual_seed(0)
    args = inputs()
    before = _compile(textwrap.dedent(source))["f"](*args)
    after = _compile(fixed)["f"](*args)
    before = before.detach() if isinstance(before, torch.Tensor) else before
    after = after.detach() if isinstance(after, torch.Tensor) else after
    _same(before, after)


def test_fused_forms_stay_finite_where_the_originals_overflow() -> None:
    x = torch.tensor([[-200.0, 0.0, 200.0]])
    assert not torch.isfinite(torch.log(torch.softmax(x, dim=1))).all()
    assert torch.isfinite(torch.log_softmax(x, dim=1)).all()
    assert not torch.isfinite(torch.log(torch.exp(x).sum(1))).all()
    assert torch.isfinite(torch.logsumexp(x, 1)).all()
    assert not torch.isfinite(torch.log(torch.sigmoid(x))).all()
    assert torch.isfinite(torch.nn.functional.logsigmoid(x)).all()


def test_sc401_fix_keeps_graphs_out_of_the_total() -> None:
    source = """
    import torch.nn.functional as F

    def f(w, xs, ys):
        total = 0.0
        for x, y in zip(xs, ys):
            loss = F.mse_loss(x * w, y)
            loss.backward()
            total += loss
        return total
    """
    w = torch.randn(3, requires_grad=True)
    xs, ys = torch.randn(4, 3), torch.randn(4, 3)
    before = _compile(textwrap.dedent(source))["f"](w, xs, ys)
    after = _compile(_fixed(source, "SC401", unsafe=True))["f"](w, xs, ys)  # returned: unsafe
    assert isinstance(before, torch.Tensor) and before.grad_fn is not None
    assert isinstance(after, float)
