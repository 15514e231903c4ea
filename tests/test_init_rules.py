"""SC601-SC603 beyond the documented examples."""

from __future__ import annotations

import pytest

from shapecheck.testing import assert_marks, lint_snippet

FLAGGED = [
    (
        "SC601",
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.q_proj = nn.Linear(8, 8)
                self.hidden2 = nn.Linear(8, 8)
                self.act = nn.GELU()
                nn.init.ones_(self.q_proj.weight)  # SC601
                self.hidden2.weight.data.zero_()

            def forward(self, x):
                h = self.q_proj(x)
                h = self.act(h)
                return self.hidden2(h)
        """,
    ),
    (
        "SC601",
        """
        import torch
        from torch import nn

        def reset(model):
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    torch.nn.init.constant_(m.weight, 0.0)  # SC601
        """,
    ),
    (
        "SC602",
        """
        import torch

        opt = torch.optim.Adam(params=[], weight_decay=0.0001, decoupled_weight_decay=False)  # SC602
        """,
    ),
    (
        "SC603",
        """
        import torch.nn as nn

        up = nn.Sequential(nn.ConvTranspose2d(64, 32, 2, stride=2), nn.BatchNorm2d(32))  # SC603
        head = nn.Sequential(nn.Linear(10, 10), nn.BatchNorm1d(10))  # SC603
        """,
    ),
]

SILENT = [
    (
        "SC601",
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, layer):
                super().__init__()
                self.emb = nn.Embedding(100, 16)
                self.ln = nn.LayerNorm(16)
                self.out_proj = nn.Linear(16, 16)
                nn.init.zeros_(self.emb.weight)        # embeddings are not flagged
                nn.init.ones_(self.ln.weight)
                nn.init.zeros_(self.out_proj.weight)   # zero-init of an output projection
                nn.init.zeros_(layer.weight)           # unknown layer type
                self.ln.weight.data.fill_(1.0)
        """,
    ),
    (
        "SC602",
        """
        import torch

        def make(model, cfg):
            return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.wd)
        """,
    ),
    (
        "SC603",
        """
        import torch.nn as nn

        layers = [nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)]
        net = nn.Sequential(*layers)             # not seen through the star
        net2 = nn.Sequential(nn.Linear(4, 4, bias=False), nn.BatchNorm1d(4), nn.Linear(4, 2))
        """,
    ),
]


@pytest.mark.parametrize(("code", "source"), FLAGGED, ids=[f"{c}-{i}" for i, (c, _) in enumerate(FLAGGED)])
def test_flagged(code: str, source: str) -> None:
    assert assert_marks(source, [code])


@pytest.mark.parametrize(("code", "source"), SILENT, ids=[f"{c}-{i}" for i, (c, _) in enumerate(SILENT)])
def test_silent(code: str, source: str) -> None:
    assert lint_snippet(source, [code]) == []


def test_sc601_message_says_which_units_stay_identical() -> None:
    source = """
    import torch.nn as nn
    import torch.nn.functional as F

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)
            nn.init.constant_(self.fc1.weight, 0.5)
            nn.init.constant_(self.fc2.weight, 0.5)

        def forward(self, x):
            return self.fc2(F.relu(self.fc1(x)))
    """
    (diag,) = lint_snippet(source, ["SC601"])
    assert "the 128 output units of `self.fc1`" in diag.message
    assert "`self.fc2.weight`" in diag.message


# Deliberate zero inits of real code (issue 11's census: every SC601 finding was one of these).
DELIBERATE_ZERO_INITS = [
    """
    import torch.nn as nn
    fc = nn.Linear(256, 256)
    nn.init.zeros_(fc.weight)                   # a lone layer: nothing to be symmetric with
    """,
    """
    import torch.nn as nn

    class Block(nn.Module):                     # residual branch, its output projection zeroed
        def __init__(self, d):
            super().__init__()
            self.fc = nn.Linear(d, 4 * d)
            self.pwconv2 = nn.Conv1d(4 * d, d, kernel_size=1)
            nn.init.zeros_(self.pwconv2.weight)
            nn.init.zeros_(self.pwconv2.bias)

        def forward(self, x):
            return x + self.pwconv2(self.fc(x).relu())
    """,
    """
    import torch.nn as nn
    import torch.nn.functional as F

    class Modulation(nn.Module):                # adaLN-Zero: shift, scale, gate start at 0
        def __init__(self, dim):
            super().__init__()
            self.lin = nn.Linear(dim, 6 * dim, bias=True)
            nn.init.constant_(self.lin.weight, 0)
            nn.init.constant_(self.lin.bias, 0)

        def forward(self, vec):
            return self.lin(F.silu(vec)).chunk(6, dim=-1)
    """,
    """
    import torch.nn as nn

    class Audio(nn.Module):                     # zero residual convs around a transformer
        def __init__(self, io, d):
            super().__init__()
            self.preprocess_conv = nn.Conv1d(io, io, 1, bias=False)
            nn.init.zeros_(self.preprocess_conv.weight)
            self.postprocess_conv = nn.Conv1d(io, io, 1, bias=False)
            nn.init.zeros_(self.postprocess_conv.weight)
            self.proj_in = nn.Linear(io, d)
            self.proj_out = nn.Linear(d, io)

        def forward(self, x):
            x = x + self.preprocess_conv(x)
            h = self.proj_out(self.proj_in(x.mT)).mT
            return h + self.postprocess_conv(h)
    """,
    """
    import torch.nn as nn

    class LoRA(nn.Module):
        def __init__(self, d_in, d_out, rank):
            super().__init__()
            self.down = nn.Linear(d_in, rank, bias=False)
            self.up = nn.Linear(rank, d_out, bias=False)
            nn.init.normal_(self.down.weight, std=1 / rank)
            nn.init.zeros_(self.up.weight)

        def forward(self, x):
            return self.up(self.down(x))
    """,
    """
    import torch.nn as nn

    class Classifier(nn.Module):                # a final layer zeroed, the hidden one random
        def __init__(self):
            super().__init__()
            self.hidden = nn.Linear(32, 64)
            self.scores = nn.Linear(64, 10)
            nn.init.zeros_(self.scores.weight)

        def forward(self, x):
            return self.scores(self.hidden(x).relu())
    """,
]


@pytest.mark.parametrize("source", DELIBERATE_ZERO_INITS)
def test_sc601_silent_on_deliberate_zero_init(source: str) -> None:
    assert lint_snippet(source, ["SC601"]) == []


def test_sc601_symmetry_is_real() -> None:
    """The claim the rule makes, checked with torch: two constant layers in a row keep the
    hidden units identical after training steps; a random next layer breaks the tie."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    def hidden_rows_after_training(second_constant: bool) -> torch.Tensor:
        fc1, fc2 = nn.Linear(6, 5), nn.Linear(5, 3)
        nn.init.constant_(fc1.weight, 0.5)
        nn.init.zeros_(fc1.bias)
        if second_constant:
            nn.init.zeros_(fc2.weight)
        opt = torch.optim.SGD([*fc1.parameters(), *fc2.parameters()], lr=0.1)
        for _ in range(5):
            x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
            loss = nn.functional.cross_entropy(fc2(torch.relu(fc1(x))), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return fc1.weight.detach()

    trapped = hidden_rows_after_training(True)
    assert torch.allclose(trapped, trapped[0].expand_as(trapped))
    free = hidden_rows_after_training(False)
    assert not torch.allclose(free, free[0].expand_as(free))
