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


SC405_NOT_MODULES = [
    """
    import torch
    import my_ext_cuda as ext_cuda

    class Fn(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return ext_cuda.forward(x)          # a C++/CUDA extension's function
    """,
    """
    from . import _C

    def run(x):
        return _C.ops.forward(x)
    """,
    """
    class HookFunctionReference:
        def __init__(self):
            self.forward = None

    def create_new_forward(function_reference: HookFunctionReference):
        def new_forward(module, *args, **kwargs):
            return function_reference.forward(*args, **kwargs)
        return new_forward
    """,
    """
    from torch_geometric.transforms import BaseTransform

    class AddSelfLoops(BaseTransform):          # a base we cannot see: unknown, silent
        def forward(self, data):
            return data

    transform = AddSelfLoops()
    data = transform.forward(None)
    """,
    """
    class Pipeline:
        def forward(self, x):
            return x

    class Normalize(Pipeline):                  # a non-Module base, resolved in this file
        pass

    def apply(x):
        t = Normalize()
        return t.forward(x)
    """,
    """
    def step(runner, x):
        return runner.forward(x)                # unknown and not named like a model
    """,
]


@pytest.mark.parametrize("source", SC405_NOT_MODULES)
def test_sc405_silent_on_objects_that_are_not_modules(source: str) -> None:
    assert lint_snippet(source, ["SC405"]) == []


def test_sc405_non_module_base_resolved_through_the_project(tmp_path) -> None:
    from shapecheck.engine import lint_source
    from shapecheck.infer.project import ProjectIndex

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "base.py").write_text("class Transform:\n    def forward(self, x):\n        return x\n")
    main = tmp_path / "pkg" / "main.py"
    source = (
        "import torch\nfrom pkg.base import Transform\n\nclass Flip(Transform):\n    pass\n\n"
        "def run(x):\n    model = Flip()\n    return model.forward(torch.flip(x, [0]))\n"
    )
    main.write_text(source)
    index = ProjectIndex([tmp_path / "pkg" / "base.py", main])
    found = lint_source(str(main), source, ["SC405"], project=index)
    assert [d.code for d in found] == []


def test_sc405_module_list_element_is_a_note_and_never_safe() -> None:
    source = """
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

        def forward(self, x):
            for lin in self.layers:
                x = lin.forward(x)
            down = self.layers[0]
            return down.forward(x)
    """
    found = lint_snippet(source, ["SC405"])
    assert len(found) == 2
    for d in found:
        assert d.severity.value == "info"
        assert d.fix is not None and d.fix.applicability == Applicability.UNSAFE


def test_sc405_fix_is_safe_only_on_known_modules() -> None:
    source = """
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(4, 4)

        def forward(self, x):
            return self.encoder.forward(x)

    def evaluate(model, x):
        return model.forward(x)
    """
    known, unknown = lint_snippet(source, ["SC405"])
    assert known.fix is not None and known.fix.applicability == Applicability.SAFE
    assert unknown.fix is not None and unknown.fix.applicability == Applicability.UNSAFE


def test_sc401_terms_of_one_forward_summed_and_returned_are_the_loss() -> None:
    source = """
    import torch.nn.functional as F

    def deep_supervision_loss(outputs, target):
        total = 0.0
        for out in outputs:
            total += F.cross_entropy(out, target)
        return total

    class Criterion:
        def __call__(self, preds, targets, weights):
            loss = 0
            for p, t, w in zip(preds, targets, weights):
                loss = loss + w * F.l1_loss(p, t)
            return loss
    """
    assert lint_snippet(source, ["SC401"]) == []


def test_sc401_fix_is_unsafe_when_the_total_is_returned() -> None:
    source = """
    import torch.nn.functional as F

    def validate(model, loader):
        total = 0
        for x, y in loader:
            total = total + F.mse_loss(model(x), y)
        return total / len(loader)
    """
    (diag,) = lint_snippet(source, ["SC401"])
    assert diag.fix is not None and diag.fix.applicability is Applicability.UNSAFE


# -- issue 11: autograd bugs that were missed, each with a clean twin --------------------------
MISSED_AUTOGRAD = [
    (
        "SC403",
        """
        import torch

        w = torch.randn(3, requires_grad=True) * 0.01
        x = torch.randn(8, 3)
        (x @ w).sum().backward()
        print(w.grad)  # SC403
        """,
        """
        import torch

        w = (torch.randn(3) * 0.01).requires_grad_()
        x = torch.randn(8, 3)
        (x @ w).sum().backward()
        print(w.grad)
        """,
    ),
    (
        "SC404",
        """
        def sgd(model, loader, lr=0.1):
            for x, y in loader:
                loss = ((model(x) - y) ** 2).mean()
                model.zero_grad()
                loss.backward()
                for param in model.parameters():
                    param -= lr * param.grad  # SC404

        def sgd2(params, loss, lr):
            loss.backward()
            for p in params:
                p.add_(p.grad, alpha=-lr)  # SC404
        """,
        """
        import torch

        def sgd(model, loader, lr=0.1):
            for x, y in loader:
                loss = ((model(x) - y) ** 2).mean()
                model.zero_grad()
                loss.backward()
                with torch.no_grad():
                    for param in model.parameters():
                        param -= lr * param.grad

        @torch.no_grad()
        def sgd2(params, lr):
            for p in params:
                p.add_(p.grad, alpha=-lr)

        def sgd3(params, lr):
            for p in params:
                p.data.add_(p.grad, alpha=-lr)

        def drop_branches(model):                       # timm's reparameterisation
            for name, para in model.named_parameters():
                para.detach_()
        """,
    ),
    (
        "SC401",
        """
        import torch.nn.functional as F

        def accumulate(agg, loss):
            agg += loss
            return agg

        class AverageMeter:
            def __init__(self):
                self.sum, self.count = 0.0, 0

            def update(self, val, n=1):
                self.sum += val * n
                self.count += n

        def train_step(model, x, y, stats):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            stats["loss"] += loss  # SC401
            return loss

        def train(model, loader, opt):
            total, meter = 0.0, AverageMeter()
            for x, y in loader:
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                total = accumulate(total, loss)  # SC401
                meter.update(loss, x.size(0))  # SC401
            return total
        """,
        """
        import torch.nn.functional as F

        def accumulate(agg, loss):
            agg += loss
            return agg

        class AverageMeter:
            def __init__(self):
                self.sum, self.count = 0.0, 0

            def update(self, val, n=1):
                self.sum += val * n
                self.count += n

        def train_step(model, x, y, stats):
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            stats["loss"] += loss.item()
            return loss

        def train(model, loader, opt):
            total, meter = 0.0, AverageMeter()
            for x, y in loader:
                opt.zero_grad()
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                total = accumulate(total, loss.item())
                meter.update(loss.item(), x.size(0))
            return total
        """,
    ),
    (
        "SC402",
        """
        import torch.nn.functional as F

        def train_continue(model, loader, opt, accum=4):
            for i, (x, y) in enumerate(loader):
                loss = F.cross_entropy(model(x), y)
                loss.backward()  # SC402
                if (i + 1) % accum != 0:
                    continue
                opt.step()
                opt.zero_grad()

        def train_counter(model, loader, opt, accum=4):
            step = 0
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                loss.backward()  # SC402
                step += 1
                if step % accum == 0:
                    opt.step()
                    opt.zero_grad()

        def train_micro(model, batches, opt, accum=4):
            opt.zero_grad()
            for micro in range(accum):
                x, y = batches[micro]
                loss = F.cross_entropy(model(x), y)
                loss.backward()  # SC402
            opt.step()
        """,
        """
        import torch.nn.functional as F

        def train_continue(model, loader, opt, accum=4):
            for i, (x, y) in enumerate(loader):
                loss = F.cross_entropy(model(x), y) / accum
                loss.backward()
                if (i + 1) % accum != 0:
                    continue
                opt.step()
                opt.zero_grad()

        def train_gated_backward(model, loader, opt, accum=4):
            for i, (x, y) in enumerate(loader):
                if (i + 1) % accum != 0:
                    continue
                loss = F.cross_entropy(model(x), y)
                loss.backward()
                opt.step()
                opt.zero_grad()

        def train_micro(model, batches, opt, accum=4):
            opt.zero_grad()
            for micro in range(accum):
                x, y = batches[micro]
                loss = F.cross_entropy(model(x), y)
                (loss / accum).backward()
            opt.step()
        """,
    ),
]


@pytest.mark.parametrize(("code", "buggy", "clean"), MISSED_AUTOGRAD, ids=[m[0] for m in MISSED_AUTOGRAD])
def test_missed_autograd_bugs_are_found_and_their_twins_are_silent(code: str, buggy: str, clean: str) -> None:
    assert_marks(buggy, [code])
    assert lint_snippet(clean, [code]) == []


def test_sc403_teaches_requires_grad_after_scaling() -> None:
    (diag,) = lint_snippet(MISSED_AUTOGRAD[0][1], ["SC403"])
    assert "requires_grad_()" in " ".join(diag.notes) and "Not `w.retain_grad()`" in " ".join(diag.notes)
