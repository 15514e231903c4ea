"""SC401-SC405 beyond the documented examples."""

from __future__ import annotations

import pytest

from shapecheck.diagnostics import Applicability
from shapecheck.testing import assert_marks, lint_snippet

FLAGGED = [
    (
        "SC401",
        """
        import torch.nn as nn

        criterion = nn.MSELoss()

        def evaluate(model, loader):
            model.eval()
            total = 0
            for x, y in loader:
                total += criterion(model(x), y)  # SC401
            return total
        """,
    ),
    (
        "SC401",
        """
        def train(model, batches, opt, criterion):
            i, total = 0, 0.0
            while i < len(batches):
                x, y = batches[i]
                loss = criterion(model(x), y)
                loss.backward()
                opt.step()
                opt.zero_grad()
                total = total + loss  # SC401
                i += 1
            return total
        """,
    ),
    (
        "SC401",
        """
        class Trainer:
            def __init__(self, model, opt, criterion):
                self.model, self.opt, self.criterion = model, opt, criterion
                self.running_loss = 0.0

            def fit(self, loader):
                for x, y in loader:
                    loss = self.criterion(self.model(x), y)
                    loss.backward()
                    self.opt.step()
                    self.opt.zero_grad()
                    self.running_loss += loss  # SC401
        """,
    ),
    (
        "SC402",
        """
        import torch.nn.functional as F

        def train(model, loader, opt, k):
            for i, (x, y) in enumerate(loader):
                loss = F.mse_loss(model(x), y)
                loss.backward()  # SC402
                if i % k == 0 and i > 0:
                    opt.step()
                    opt.zero_grad()
        """,
    ),
    (
        "SC403",
        """
        import torch

        w = torch.nn.Parameter(torch.randn(3))
        scaled = w.exp() + 1
        scaled.sum().backward()
        print(scaled.grad)  # SC403
        """,
    ),
    (
        "SC404",
        """
        import torch

        def train(xs, ys):
            w = torch.randn(3, requires_grad=True)
            for x, y in zip(xs, ys):
                loss = ((x @ w - y) ** 2).mean()
                loss.backward()
                with torch.enable_grad():
                    w.add_(-0.1 * w.grad)  # SC404
        """,
    ),
    (
        "SC405",
        """
        class Trainer:
            def __init__(self, model):
                self.model = model

            def predict(self, x):
                return self.model.forward(x)  # SC405
        """,
    ),
]

SILENT = [
    (
        "SC401",
        """
        import torch

        def evaluate(model, loader, criterion):
            total = 0.0
            with torch.inference_mode():
                for x, y in loader:
                    total += criterion(model(x), y)
            return total
        """,
    ),
    (
        "SC401",
        """
        def train(model, loader, opt, criterion):
            total = 0.0
            for x, y in loader:
                loss = criterion(model(x), y)
                loss.backward()
                opt.step()
                total += loss.detach()
                total += float(loss)
            return total
        """,
    ),
    (
        "SC401",
        """
        def count(loader):
            n = 0
            for x, y in loader:
                n += len(x)            # not a loss
            return n
        """,
    ),
    (
        "SC402",
        """
        def train(model, loader, opt, criterion, accum):
            for i, (x, y) in enumerate(loader):
                loss = criterion(model(x), y)
                loss /= accum
                loss.backward()
                if (i + 1) % accum == 0:
                    opt.step()
                    opt.zero_grad()
        """,
    ),
    (
        "SC402",
        """
        def train(model, loader, opt, criterion):
            for i, (x, y) in enumerate(loader):
                opt.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                if i % 2 == 0:
                    opt.step()          # skipping steps, but gradients are cleared every iteration
        """,
    ),
    (
        "SC402",
        """
        def train(model, loader, opt, scheduler, criterion):
            for i, (x, y) in enumerate(loader):
                opt.zero_grad()
                criterion(model(x), y).backward()
                opt.step()
                if (i + 1) % 100 == 0:
                    scheduler.step()
        """,
    ),
    (
        "SC403",
        """
        import torch

        def f(model, x):
            out = model(x)          # unknown: not known to be a non-leaf
            out.sum().backward()
            return out.grad, [p.grad for p in model.parameters()]
        """,
    ),
    (
        "SC403",
        """
        import torch

        x = torch.randn(3, requires_grad=True)
        y = x.detach().requires_grad_()
        (y * 2).sum().backward()
        print(y.grad, x.grad)
        """,
    ),
    (
        "SC404",
        """
        import torch

        w = torch.zeros(3, requires_grad=True)
        with torch.set_grad_enabled(False):
            w += 1
        w.data -= 0.1
        w = w - 0.1                    # not in place: a new tensor
        w += 1                          # w is no longer the leaf
        """,
    ),
    (
        "SC405",
        """
        import torch

        class Double(torch.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

        class Net(torch.nn.Module):
            def forward(self, x):
                return x

            def predict(self, x):
                return self.forward(x)

        y = Double.forward(None, torch.ones(1))
        z = super(Net, Net()).forward(torch.ones(1))
        """,
    ),
]


@pytest.mark.parametrize(("code", "source"), FLAGGED, ids=[f"{c}-{i}" for i, (c, _) in enumerate(FLAGGED)])
def test_flagged(code: str, source: str) -> None:
    assert assert_marks(source, [code])


@pytest.mark.parametrize(("code", "source"), SILENT, ids=[f"{c}-{i}" for i, (c, _) in enumerate(SILENT)])
def test_silent(code: str, source: str) -> None:
    assert lint_snippet(source, [code]) == []


def test_sc401_fix_is_unsafe_when_the_total_is_used_as_a_tensor() -> None:
    source = """
    def train(model, loader, opt, criterion):
        total = 0
        for x, y in loader:
            loss = criterion(model(x), y)
            loss.backward()
            opt.step()
            total += loss
        return total.item()
    """
    (diag,) = lint_snippet(source, ["SC401"])
    assert diag.fix is not None and diag.fix.applicability is Applicability.UNSAFE


def test_sc405_fix_is_unsafe_when_the_file_registers_hooks() -> None:
    source = """
    def run(model, x):
        model.register_forward_pre_hook(lambda m, a: None)
        return model.forward(x)
    """
    (diag,) = lint_snippet(source, ["SC405"])
    assert diag.fix is not None and diag.fix.applicability is Applicability.UNSAFE
