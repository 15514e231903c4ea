"""SC501-SC503 beyond the documented examples."""

from __future__ import annotations

import textwrap

import pytest

from shapecheck.diagnostics import Applicability
from shapecheck.fix.apply import fix_source
from shapecheck.testing import assert_marks, lint_snippet

FLAGGED = [
    (
        "SC501",
        """
        import torch
        from torch import nn

        class Attn(nn.Module):
            def forward(self, q, k):
                scale = torch.full((q.size(-1),), q.size(-1) ** -0.5)  # SC501
                eye = torch.eye(q.size(1)).bool()  # SC501
                return (q @ k.transpose(-2, -1)) * scale[0], eye
        """,
    ),
    (
        "SC502",
        """
        import torch
        from torch.utils.data import DataLoader
        from tqdm import tqdm

        def run(ds, model):
            loader = DataLoader(ds, batch_size=32, pin_memory=False)
            for batch in tqdm(loader):
                images = batch[0].cuda(non_blocking=True)  # SC502
                model(images)
        """,
    ),
    (
        "SC503",
        """
        import torch

        a = torch.zeros(4, 4, device="cuda:0")
        b = torch.ones(4, 4, device=torch.device("cuda", 1))
        c = torch.matmul(a, b)  # SC503
        """,
    ),
    (
        "SC503",
        """
        import torch

        gpu = "cuda"
        x = torch.randn(10, 3).to(gpu)
        y = torch.randn(10, 3).cpu()
        z = x - y  # SC503
        """,
    ),
]

SILENT = [
    (
        "SC501",
        """
        import torch

        class Plain:
            def forward(self, n):
                return torch.zeros(n)          # not an nn.Module

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.table = torch.zeros(10, 10)

            def forward(self, x):
                m = torch.zeros(x.size(0))
                m = m.to(x.device)
                w = torch.ones(x.size(1)).type_as(x)
                return x * m[:, None] * w
        """,
    ),
    (
        "SC502",
        """
        from torch.utils.data import DataLoader

        def run(ds, model, device, cfg):
            loader = DataLoader(ds, batch_size=32, **cfg)
            for x in loader:
                model(x.to(device, non_blocking=True))   # pin_memory may be in **cfg
        """,
    ),
    (
        "SC503",
        """
        import torch

        a = torch.zeros(4, device="cuda")
        b = torch.zeros(4, device="cuda:0")
        c = a + b                          # the current device is cuda:0 here
        d = a.cpu() + torch.zeros(4)
        e = a * a.sum().cpu()              # a 0-dim CPU tensor may meet CUDA? unknown dims: silent
        """,
    ),
    (
        "SC503",
        """
        import torch

        torch.set_default_device("cuda")
        x = torch.randn(3, 3)
        y = torch.randn(3, 3, device="cuda")
        z = x @ y
        """,
    ),
]


@pytest.mark.parametrize(("code", "source"), FLAGGED, ids=[f"{c}-{i}" for i, (c, _) in enumerate(FLAGGED)])
def test_flagged(code: str, source: str) -> None:
    assert assert_marks(source, [code])


@pytest.mark.parametrize(("code", "source"), SILENT, ids=[f"{c}-{i}" for i, (c, _) in enumerate(SILENT)])
def test_silent(code: str, source: str) -> None:
    assert lint_snippet(source, [code]) == []


def test_sc501_fix_safety_follows_what_the_parameter_is() -> None:
    annotated = """
    import torch
    from torch import Tensor

    class M(torch.nn.Module):
        def forward(self, x: Tensor):
            return torch.zeros(3)
    """
    (diag,) = lint_snippet(annotated, ["SC501"])
    assert diag.fix is not None and diag.fix.applicability is Applicability.SAFE
    mapping = """
    import torch

    class M(torch.nn.Module):
        def forward(self, batch):
            return batch["x"] + torch.zeros(3)
    """
    (diag,) = lint_snippet(mapping, ["SC501"])
    assert diag.fix is None
    no_param = """
    import torch

    class M(torch.nn.Module):
        def forward(self):
            return torch.zeros(3)
    """
    (diag,) = lint_snippet(no_param, ["SC501"])
    assert diag.fix is None


def test_sc503_message_names_both_devices() -> None:
    source = """
    import torch
    a = torch.randn(2, 2).cuda()
    b = torch.randn(2, 2)
    c = a + b
    """
    (diag,) = lint_snippet(source, ["SC503"])
    assert "on cuda" in diag.message and "on cpu" in diag.message
    assert any("without device=" in n for n in diag.notes)


def test_sc501_in_a_loop_over_device_batches() -> None:
    source = """
    import torch

    def train(model, loader, device, opt):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            noise = torch.randn(x.shape)  # SC501
            out = model(x + noise)
            weights = torch.ones(y.size(0))
            loss = ((out - y) ** 2).mean() * torch.ones(1) + y * torch.zeros(y.shape)  # SC501
            counts = torch.zeros(10)
            counts += torch.bincount(y.cpu(), minlength=10)
    """
    assert_marks(source, ["SC501"])
    fixed = fix_source("x.py", textwrap.dedent(source), ["SC501"])
    assert "torch.randn(x.shape, device=x.device)" in fixed.source
    assert "torch.zeros(y.shape, device=y.device)" in fixed.source
