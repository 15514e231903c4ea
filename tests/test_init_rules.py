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
                nn.init.ones_(self.q_proj.weight)  # SC601
                self.hidden2.weight.data.zero_()  # SC601
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


def test_sc601_message_mentions_deliberate_zero_init() -> None:
    source = """
    import torch.nn as nn
    fc = nn.Linear(4, 4)
    nn.init.zeros_(fc.weight)
    """
    (diag,) = lint_snippet(source, ["SC601"])
    assert "zeros" in diag.message
    assert any("residual" in n for n in diag.notes)
