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
                return ((q * scale) @ k.transpose(-2, -1)).masked_fill(eye, 0.0)
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
            return x + torch.zeros(3)
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
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3, 3)

        def forward(self):
            return self.fc(torch.zeros(3))
    """
    (diag,) = lint_snippet(no_param, ["SC501"])
    assert diag.fix is None
    # used only through attributes that numpy arrays and PyG `Data` objects have too: not
    # known to be a tensor, so `data.device` might not exist: no fix
    duck = """
    import torch

    class M(torch.nn.Module):
        def forward(self, data):
            n = data.size(0)
            return data.reshape(n, -1) + torch.zeros(3)
    """
    (diag,) = lint_snippet(duck, ["SC501"])
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


SC501_MOVED_OR_HARMLESS = [
    """
    import torch
    from torch import nn

    class Gate(nn.Module):
        def forward(self, x):
            return x * torch.tensor(0.5) + torch.tensor(1)      # 0-dim scalars mix with CUDA tensors
    """,
    """
    import torch
    from torch import nn

    class Rope(nn.Module):                                      # tables built on the CPU on purpose
        def __init__(self, dim, theta=10000.0):
            super().__init__()
            self.dim, self.theta = dim, theta

        def forward(self, x):
            t = torch.arange(x.size(1), dtype=torch.float32)
            inv = 1.0 / (self.theta ** (torch.arange(0, self.dim, 2).float() / self.dim))
            freqs = torch.outer(t, inv)
            freqs = freqs.to(x.device)
            return x * freqs.cos() + x * freqs.sin()
    """,
    """
    import torch
    from torch import nn

    class Rope(nn.Module):
        def forward(self, x):
            h = torch.arange(x.size(2))
            w = torch.arange(x.size(3))
            freqs = torch.outer(h, w).float()
            return freqs.cos(), freqs.sin()                     # returned: the caller moves them
    """,
    """
    import torch
    from torch import nn

    class Sampler(nn.Module):
        def forward(self, tokens):
            idx = torch.randn(tokens.shape[:2]).argsort(dim=-1)[..., :4]
            b = torch.arange(tokens.shape[0], device=tokens.device)[:, None]
            return tokens[b, idx]                               # a CPU index into a CUDA tensor is allowed
    """,
    """
    import torch
    from torch import nn

    class Model(nn.Module):
        def forward(self, hidden, timestep, indices=None):
            if indices is None:
                indices = torch.arange(0, hidden.shape[2]).unsqueeze(0)
            return self.rope(frame_indices=indices, device=hidden.device)   # an unknown module
    """,
    """
    import torch
    from torch import nn

    class Adapter(nn.Module):
        def forward(self, xs, weights=None):
            if weights is None:
                weights = torch.tensor([0.5, 0.5])
            out = 0
            for x, w in zip(xs, weights):                       # elements are 0-dim scalars
                out = out + w * x
            return out
    """,
    """
    import torch
    from torch import nn

    class Mix(nn.Module):
        def forward(self, x):
            w = torch.ones(x.size(-1), dtype=torch.float64).to(x)    # moved by `.to(x)`
            m = torch.zeros(x.size(0)).to(dtype=torch.bool)
            return x * w, m                                          # m never meets x
    """,
]


@pytest.mark.parametrize("source", SC501_MOVED_OR_HARMLESS)
def test_sc501_silent_unless_the_tensor_meets_a_device_tensor_unmoved(source: str) -> None:
    assert lint_snippet(source, ["SC501"]) == []


def test_sc501_rnn_state_created_in_forward_meets_the_input_in_the_cell() -> None:
    source = """
    import torch
    from torch import nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTMCell(1, 51)

        def forward(self, input, future=0):
            h = torch.zeros(input.size(0), 51)  # SC501
            c = torch.zeros(input.size(0), 51)  # SC501
            for x in input.split(1, dim=1):
                h, c = self.lstm(x, (h, c))
            return h
    """
    found = assert_marks(source, ["SC501"])
    assert "self.lstm" in found[0].message


MISSED_DEVICE = [
    (
        """
        import torch
        import torch.nn as nn

        def train_gan(netD, loader, optD, device):
            criterion = nn.BCELoss()
            for real, _ in loader:
                real = real.to(device)
                b = real.size(0)
                label = torch.ones(b)  # SC501
                output = netD(real).view(-1)
                errD = criterion(output, label)
                errD.backward()
                optD.step()
        """,
        """
        import torch
        import torch.nn as nn

        def train_gan(netD, loader, optD, device):
            criterion = nn.BCELoss()
            for real, _ in loader:
                real = real.to(device)
                b = real.size(0)
                label = torch.ones(b, device=device)
                output = netD(real).view(-1)
                errD = criterion(output, label)
                errD.backward()
                optD.step()
                counts = torch.zeros(2)                  # CPU bookkeeping, never meets a batch
                counts[0] += 1
        """,
    ),
    (
        """
        import torch
        import torch.nn as nn

        class RNNModel(nn.Module):
            def __init__(self, ntoken, nhid):
                super().__init__()
                self.rnn = nn.LSTM(ntoken, nhid)
                self.nhid = nhid

            def forward(self, x, hidden):
                return self.rnn(x, hidden)

            def init_hidden(self, bsz):
                return (torch.zeros(1, bsz, self.nhid),  # SC501
                        torch.zeros(1, bsz, self.nhid))  # SC501
        """,
        """
        import torch
        import torch.nn as nn

        class RNNModel(nn.Module):
            def __init__(self, ntoken, nhid):
                super().__init__()
                self.rnn = nn.LSTM(ntoken, nhid)
                self.nhid = nhid

            def forward(self, x, hidden):
                return self.rnn(x, hidden)

            def init_hidden(self, bsz):
                weight = next(self.parameters())
                return (weight.new_zeros(1, bsz, self.nhid),
                        torch.zeros(1, bsz, self.nhid, device=weight.device))
        """,
    ),
    (
        """
        import torch
        import torch.nn as nn

        device = torch.device("cuda")

        def train(model, loader, opt):
            model.to(device)
            criterion = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]))  # SC501
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss = criterion(model(x), y)
                loss.backward()
        """,
        """
        import torch
        import torch.nn as nn

        device = torch.device("cuda")

        def train(model, loader, opt):
            model.to(device)
            criterion = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5])).to(device)
            w = torch.tensor([1.0, 3.0])
            bce = nn.BCEWithLogitsLoss(pos_weight=w)
            bce.to(device)
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                loss = criterion(model(x), y) + bce(model(x)[:, 0], y.float())
                loss.backward()

        def cpu_only(model, loader):
            criterion = nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0]))
            return [criterion(model(x), y) for x, y in loader]
        """,
    ),
]


@pytest.mark.parametrize(("buggy", "clean"), MISSED_DEVICE, ids=["gan-labels", "init-hidden", "loss-weight"])
def test_missed_device_bugs_are_found_and_their_twins_are_silent(buggy: str, clean: str) -> None:
    assert_marks(buggy, ["SC501"])
    assert lint_snippet(clean, ["SC501"]) == []


def test_sc501_silent_in_a_script_that_never_uses_a_device() -> None:
    source = """
    import torch
    import torch.nn as nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTMCell(1, 51)

        def forward(self, input):
            h = torch.zeros(input.size(0), 51, dtype=torch.double)
            c = torch.zeros(input.size(0), 51, dtype=torch.double)
            for x in input.split(1, dim=1):
                h, c = self.lstm(x, (h, c))
            return h

    if __name__ == "__main__":
        seq = Sequence().double()
        seq(torch.randn(3, 10, dtype=torch.double))
    """
    assert lint_snippet(source, ["SC501"]) == []
    on_gpu = source.replace("Sequence().double()", "Sequence().double().cuda()").replace(
        "torch.randn(3, 10, dtype=torch.double)", "torch.randn(3, 10, dtype=torch.double).cuda()"
    )
    assert len(lint_snippet(on_gpu, ["SC501"])) == 2


def test_sc501_silent_on_scalar_arithmetic_placeholders_and_shape_tensors() -> None:
    source = """
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.onnx.operators

    class Attn(nn.Module):
        def __init__(self):
            super().__init__()
            self.logit_scale = nn.Parameter(torch.zeros(4, 1, 1))
            self.q = nn.Linear(8, 8)

        def forward(self, x):
            scale = torch.clamp(self.logit_scale, max=torch.log(torch.tensor(1.0 / 0.01))).exp()
            out = F.linear(x, self.q.weight, torch.empty([0]) if False else self.q.bias)
            bsz, seq_len = torch.onnx.operators.shape_as_tensor(x)[:2]
            shape = torch.cat((bsz.view(1), seq_len.view(1), torch.tensor([-1], dtype=torch.long)))
            return out * scale, torch.onnx.operators.reshape_from_tensor_shape(out, shape)
    """
    assert lint_snippet(source, ["SC501"]) == []


def test_sc501_padding_joined_with_a_device_tensor() -> None:
    source = """
    import torch
    import torch.nn as nn

    class Fusion(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.enc = nn.Linear(d, d)
            self.max_len = 32

        def forward(self, frames):
            feats = self.enc(frames)
            bsz, seq_len, d = feats.shape
            padding = torch.zeros(bsz, self.max_len - seq_len, d)  # SC501
            return torch.cat([feats, padding], dim=1)
    """
    assert_marks(source, ["SC501"])


def test_sc501_silent_on_scalars_of_module_constants() -> None:
    # LLMs-from-scratch's GELU: torch.sqrt(torch.tensor(2.0 / torch.pi)) is 0-dim, which may meet a CUDA tensor
    source = """
    import math
    import torch
    import torch.nn as nn

    class GELU(nn.Module):
        def forward(self, x):
            return 0.5 * x * (1 + torch.tanh(torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * torch.pow(x, 3))))

    class Scaled(nn.Module):
        def forward(self, x):
            return x * torch.tensor(math.sqrt(2.0))
    """
    assert lint_snippet(source, ["SC501"]) == []


# -- SC502 on the shapes of benchmarks/pipeline: a loader passed in, a helper, nanoGPT's get_batch --
IMAGENET_TRAIN = """
import torch
import torchvision.datasets as datasets
import torchvision.transforms as transforms


def main_worker(args):
    device = torch.accelerator.current_accelerator()
    model = torch.nn.Linear(10, 2).to(device)
    criterion = torch.nn.CrossEntropyLoss().to(device)
    optimizer = torch.optim.SGD(model.parameters(), args.lr)
    train_dataset = datasets.FakeData(1281167, (3, 224, 224), 1000, transforms.ToTensor())
    train_loader = torch.utils.data.DataLoader(
        train_dataset, batch_size=args.batch_size, shuffle=True,
        num_workers=args.workers, pin_memory=True)
    for epoch in range(args.epochs):
        train(train_loader, model, criterion, optimizer, epoch, device, args)


def train(train_loader, model, criterion, optimizer, epoch, device, args):
    model.train()
    for i, (images, target) in enumerate(train_loader):
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
        loss = criterion(model(images), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
"""


def _sc502_twin(source: str, old: str, new: str) -> str:
    source = textwrap.dedent(source)
    assert source.count(old) == 1, old
    return source.replace(old, new)


def test_sc502_pinned_loader_passed_to_the_training_function_is_clean() -> None:
    assert lint_snippet(IMAGENET_TRAIN, ["SC502"]) == []


def test_sc502_unpinned_loader_passed_to_the_training_function() -> None:
    source = _sc502_twin(IMAGENET_TRAIN, "num_workers=args.workers, pin_memory=True)",
                         "num_workers=args.workers, pin_memory=False)")
    source = _sc502_twin(source, "images = images.to(device, non_blocking=True)",
                         "images = images.to(device, non_blocking=True)  # SC502")
    source = _sc502_twin(source, "target = target.to(device, non_blocking=True)",
                         "target = target.to(device, non_blocking=True)  # SC502")
    assert_marks(source, ["SC502"])


def test_sc502_one_of_two_callers_passes_a_pinned_loader_is_clean() -> None:
    # `train(...)` called with an unpinned and a pinned loader: not every batch is pageable
    source = _sc502_twin(IMAGENET_TRAIN, "num_workers=args.workers, pin_memory=True)",
                         "num_workers=args.workers, pin_memory=False)")
    source = _sc502_twin(source, "        train(train_loader, model, criterion, optimizer, epoch, device, args)\n",
                         "        train(train_loader, model, criterion, optimizer, epoch, device, args)\n"
                         "        train(torch.utils.data.DataLoader(train_dataset, pin_memory=True), model, criterion,"
                         " optimizer, epoch, device, args)\n")
    assert lint_snippet(source, ["SC502"]) == []


def test_sc502_batch_moved_in_a_helper() -> None:
    source = _sc502_twin(IMAGENET_TRAIN, "num_workers=args.workers, pin_memory=True)", "num_workers=args.workers)")
    source = _sc502_twin(source, """
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
""", """
        images, target = to_device(images, device), to_device(target, device)
""")
    source += """

def to_device(tensor, device):
    return tensor.to(device, non_blocking=True)  # SC502
"""
    assert_marks(source, ["SC502"])


def test_sc502_helper_also_called_on_an_unknown_value_is_clean() -> None:
    source = _sc502_twin(IMAGENET_TRAIN, "num_workers=args.workers, pin_memory=True)", "num_workers=args.workers)")
    source = _sc502_twin(source, """
        images = images.to(device, non_blocking=True)
        target = target.to(device, non_blocking=True)
""", """
        images, target = to_device(images, device), to_device(target, device)
""")
    source += """

def to_device(tensor, device):
    return tensor.to(device, non_blocking=True)


def evaluate(model, batch, device):
    return model(to_device(batch, device))
"""
    assert lint_snippet(source, ["SC502"]) == []


NANOGPT_GET_BATCH = """
import os
import numpy as np
import torch

batch_size, block_size = 12, 1024
device = 'cuda'
device_type = 'cuda' if 'cuda' in device else 'cpu'


def get_batch(split):
    data = np.memmap(os.path.join('data', f'{split}.bin'), dtype=np.uint16, mode='r')
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([torch.from_numpy((data[i:i+block_size]).astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy((data[i+1:i+1+block_size]).astype(np.int64)) for i in ix])
    if device_type == 'cuda':
        x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    else:
        x, y = x.to(device), y.to(device)
    return x, y
"""


def test_sc502_nanogpt_get_batch_pins_first_is_clean() -> None:
    assert lint_snippet(NANOGPT_GET_BATCH, ["SC502"]) == []


def test_sc502_nanogpt_get_batch_without_pin_memory() -> None:
    source = _sc502_twin(
        NANOGPT_GET_BATCH,
        "x, y = x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)",
        "x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)  # SC502",
    )
    diags = assert_marks(source, ["SC502"])
    assert len(diags) == 2 and "pageable" in diags[0].message
    assert "torch.stack(" in diags[0].notes[0] and "pin_memory()" in diags[0].notes[1]


@pytest.mark.parametrize(
    "made",
    [
        "x = load_tokens(split)",                                           # unknown: may be pinned
        "x = torch.stack([t for t in load_tokens(split)])",                 # elements unknown
        "x = torch.zeros(batch_size, block_size, dtype=torch.long, pin_memory=True)",
        "x = torch.empty(batch_size, block_size, device=device)",           # already on the device
        "x = torch.stack([torch.from_numpy(a) for a in arrays]).pin_memory()",
    ],
)
def test_sc502_tensors_not_visibly_pageable_are_clean(made: str) -> None:
    source = f"""
import torch

device = 'cuda'


def get_batch(split, arrays, batch_size, block_size):
    {made}
    return x.to(device, non_blocking=True)
"""
    assert lint_snippet(source, ["SC502"]) == []


def test_sc502_pageable_tensor_copied_to_the_cpu_or_under_a_default_device_is_clean() -> None:
    to_cpu = """
import numpy as np
import torch

def get_batch(a):
    x = torch.from_numpy(a)
    return x.to("cpu", non_blocking=True)
"""
    default = """
import numpy as np
import torch

torch.set_default_device("cuda")

def get_batch(n, device):
    x = torch.randint(0, 50257, (n, 1024))
    return x.to(device, non_blocking=True)
"""
    context = """
import torch

def get_batch(n, device):
    with torch.device("cuda"):
        x = torch.randint(0, 50257, (n, 1024))
    return x.to(device, non_blocking=True)
"""
    for source in (to_cpu, default, context):
        assert lint_snippet(source, ["SC502"]) == [], source


def test_sc502_factory_tensor_copied_with_cuda() -> None:
    source = """
import numpy as np
import torch

def get_batch(a):
    x = torch.from_numpy(a).long()
    return x.cuda(non_blocking=True)  # SC502
"""
    assert_marks(source, ["SC502"])
