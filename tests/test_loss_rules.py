"""SC301-SC304 beyond the documented examples: values followed through names, branches,
attributes and module instances; the traps where they must stay silent."""

from __future__ import annotations

import pytest

from shapecheck.diagnostics import Applicability
from shapecheck.testing import assert_marks, lint_snippet

FLAGGED = [
    (
        "SC301",
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 3)
                self.act = nn.Softmax(dim=1)

            def forward(self, x):
                return self.act(self.fc(x))

        def train(loader):
            model = Net()
            criterion = nn.CrossEntropyLoss()
            for x, y in loader:
                loss = criterion(model(x), y)  # SC301
        """,
    ),
    (
        "SC301",
        """
        import torch
        import torch.nn.functional as F

        def loss_fn(logits, y, smooth):
            if smooth:
                p = torch.softmax(logits / 2, dim=-1)
            else:
                p = torch.softmax(logits, dim=-1)
            return F.cross_entropy(p, y)  # SC301
        """,
    ),
    (
        "SC301",
        """
        import torch.nn as nn

        criterion = nn.CrossEntropyLoss()

        def step(model, x, y):
            logp = model(x).log_softmax(-1)
            return criterion(logp, y)  # SC301
        """,
    ),
    (
        "SC302",
        """
        import torch
        import torch.nn as nn

        class Trainer:
            def __init__(self, model):
                self.model = model
                self.loss_fn = nn.BCELoss()

            def step(self, x, y):
                out = torch.sigmoid(self.model(x))
                return self.loss_fn(out, y)  # SC302
        """,
    ),
    (
        "SC303",
        """
        import torch
        from torch.nn import functional as F

        def nll(logits, y):
            return -torch.log(F.softmax(logits, 1)).gather(1, y[:, None]).mean()  # SC303
        """,
    ),
    (
        "SC304",
        """
        import torch

        def step(model, opt, x, y):
            correct = model(x).argmax(1).eq(y)
            loss = -correct.float().mean()
            loss.backward()  # SC304
            opt.step()
        """,
    ),
]

SILENT = [
    (
        "SC301",
        """
        import torch.nn as nn
        import torch.nn.functional as F

        criterion = nn.CrossEntropyLoss()

        def step(model, x, y):
            out = F.softmax(model(x), dim=1)
            out = model(x)                      # rebound to the logits
            return criterion(out, y)
        """,
    ),
    (
        "SC301",
        """
        import torch.nn as nn

        criterion = nn.CrossEntropyLoss()

        def step(model, x, y, temperature):
            logits = model(x)
            if temperature:
                logits = logits.softmax(-1)
            return criterion(logits, y)         # softmax only on one path
        """,
    ),
    (
        "SC301",
        """
        from mylib import F, nn

        criterion = nn.CrossEntropyLoss()
        loss = criterion(F.softmax(x, 1), y)    # not torch: unknown
        """,
    ),
    (
        "SC302",
        """
        import torch
        import torch.nn as nn

        criterion = nn.BCELoss()

        def step(model, x, y):
            probs = model(x)                    # what the model ends in is unknown
            return criterion(probs.clamp(1e-6, 1 - 1e-6), y)
        """,
    ),
    (
        "SC303",
        """
        import numpy as np

        def lse(x):
            return np.log(np.exp(x).sum(axis=1))    # NumPy: not our business here
        """,
    ),
    (
        "SC304",
        """
        import torch.nn.functional as F

        def gan_step(D, real, fake, opt):
            d_loss = F.binary_cross_entropy_with_logits(D(fake.detach()), real)
            d_loss.backward()                   # detach only cuts the generator
            opt.step()
        """,
    ),
    (
        "SC304",
        """
        def step(accelerator, model, x, y, criterion):
            loss = criterion(model(x), y)
            accelerator.backward(loss)
        """,
    ),
]


@pytest.mark.parametrize(("code", "source"), FLAGGED, ids=[f"{c}-{i}" for i, (c, _) in enumerate(FLAGGED)])
def test_flagged(code: str, source: str) -> None:
    assert assert_marks(source, [code])


@pytest.mark.parametrize(("code", "source"), SILENT, ids=[f"{c}-{i}" for i, (c, _) in enumerate(SILENT)])
def test_silent(code: str, source: str) -> None:
    assert lint_snippet(source, [code]) == []


def test_sc302_fix_is_unsafe_when_the_criterion_is_shared() -> None:
    source = """
    import torch
    import torch.nn as nn

    criterion = nn.BCELoss()

    def step(model, x, y, probs_other):
        a = criterion(torch.sigmoid(model(x)), y)
        b = criterion(probs_other, y)
        return a + b
    """
    (diag,) = lint_snippet(source, ["SC302"])
    assert diag.fix is not None and diag.fix.applicability is Applicability.UNSAFE


def test_sc302_fix_is_safe_for_a_local_single_use_criterion() -> None:
    source = """
    import torch
    import torch.nn as nn

    def step(model, x, y):
        criterion = nn.BCELoss()
        return criterion(torch.sigmoid(model(x)), y)
    """
    (diag,) = lint_snippet(source, ["SC302"])
    assert diag.fix is not None and diag.fix.applicability is Applicability.SAFE
    assert sorted(e.content for e in diag.fix.edits) == ["model(x)", "nn.BCEWithLogitsLoss"]


def test_messages_teach() -> None:
    source = """
    import torch.nn as nn
    import torch.nn.functional as F

    criterion = nn.CrossEntropyLoss()
    loss = criterion(F.softmax(z, dim=1), y)
    """
    (diag,) = lint_snippet(source, ["SC301"])
    assert "applied twice" in diag.message
    assert any("Pass the logits" in n for n in diag.notes)
    assert any("log_softmax itself" in n for n in diag.notes)


def test_sc303_through_a_name_has_no_fix() -> None:
    source = """
    import torch

    def f(z):
        p = torch.sigmoid(z)
        return torch.log(p)
    """
    (diag,) = lint_snippet(source, ["SC303"])
    assert diag.fix is None


def test_values_bound_inside_with_blocks_are_followed() -> None:
    source = """
    import torch
    import torch.nn as nn

    criterion = nn.CrossEntropyLoss()

    def step(model, x, y, scaler):
        with torch.autocast("cuda"):
            probs = torch.softmax(model(x), dim=-1)
        return criterion(probs, y)  # SC301
    """
    assert assert_marks(source, ["SC301"])
