"""SC301-SC304 beyond the documented examples: values followed through names, branches,
attributes and module instances; the traps where they must stay silent."""

from __future__ import annotations

import textwrap

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


# -- issue 10 item 4a: softmax/sigmoid applied in a callee reaching the loss in another function --
CALLEE_ACTIVATIONS = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Bin(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.Softmax(dim=1))

    def forward(self, x):
        return self.net(x)


def predict(model, x):
    return F.softmax(model(x), dim=1)


def train(loader):
    model, head = Bin(), Head()
    seq = nn.Sequential(nn.Linear(4, 1), nn.Sigmoid())
    bce, ce = nn.BCELoss(), nn.CrossEntropyLoss()
    for x, y in loader:
        a = bce(model(x), y)  # SC302
        b = bce(seq(x), y)  # SC302
        c = ce(head(x), y.long())  # SC301
        d = F.cross_entropy(predict(head, x), y.long())  # SC301
        e = torch.log(model(x)).mean()  # SC303
        (a + b + c + d + e).backward()
"""

CALLEE_LOGITS = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class Bin(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(x)                      # logits


def probabilities(model, x):
    return model(x)                            # a helper that does not squash


def train(loader):
    model = Bin()
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    bce, ce = nn.BCEWithLogitsLoss(), nn.CrossEntropyLoss()
    for x, y in loader:
        a = bce(model(x), y)
        c = ce(seq(x), y.long())
        d = F.cross_entropy(probabilities(seq, x), y.long())
        (a + c + d).backward()
"""


def test_activation_in_a_callee_reaches_the_loss() -> None:
    found = assert_marks(CALLEE_ACTIVATIONS, ["SC301", "SC302", "SC303"])
    # the sigmoid/softmax is not written at the call site: no fix may rewrite `model(x)`
    assert all(d.fix is None for d in found)


def test_logits_from_a_callee_are_silent() -> None:
    assert lint_snippet(CALLEE_LOGITS, ["SC301", "SC302", "SC303"]) == []


def test_activation_in_another_file_through_the_project_index(tmp_path) -> None:
    from shapecheck.engine import lint_source
    from shapecheck.infer.project import ProjectIndex

    models = tmp_path / "models.py"
    models.write_text(
        "import torch.nn as nn\nimport torch.nn.functional as F\n\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n        return F.softmax(self.fc(x), dim=1)\n"
    )
    train = tmp_path / "train.py"
    source = (
        "import torch.nn as nn\nfrom models import Net\n\n"
        "def train(loader):\n    net, ce = Net(), nn.CrossEntropyLoss()\n"
        "    for x, y in loader:\n        ce(net(x), y).backward()\n"
    )
    train.write_text(source)
    found = lint_source(str(train), source, ["SC301"], project=ProjectIndex([models, train]))
    assert [(d.code, d.location.row) for d in found] == [("SC301", 7)]


def test_fix_never_deletes_the_model_from_the_loss() -> None:
    """Issue 14 item 0: with the sigmoid inside `forward`, SC302 used to rewrite
    `criterion(model(x), y)` into `criterion(x, y)` and SC303 `torch.log(model(x))` into
    `F.logsigmoid(x)`, as safe fixes."""
    from shapecheck.fix.apply import fix_source

    source = textwrap.dedent(CALLEE_ACTIVATIONS)
    result = fix_source("train.py", source, ["SC301", "SC302", "SC303"], unsafe=True)
    assert result.source == source and not result.applied
