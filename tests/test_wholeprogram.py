"""Whole-program shapes (issue 10, DESIGN §2a): sizes flow from the driver code, the data
pipeline and the configuration into unannotated `forward`s.

Two kinds of tests:
- realistic programs (tests/data/wholeprogram/, adapted from pytorch/examples and nanoGPT) with
  one injected bug each. torch is the oracle: the clean program runs, the mutant raises, and
  shapecheck stays silent on the first and flags the second at the line that fails;
- reveal tests that pin each source of shapes (`# reveal:` marks, as in test_infer.py).
"""

from __future__ import annotations

import contextlib
import io
import textwrap
from pathlib import Path

import pytest

from shapecheck.engine import lint_source
from shapecheck.infer.explain import reveal
from shapecheck.infer.project import ProjectIndex

from tests.test_infer import HEADER, check_reveals

DATA = Path(__file__).parent / "data" / "wholeprogram"

torch = pytest.importorskip("torch")


def _run(source: str) -> BaseException | None:
    """Run a program with torch (the oracle); the exception it raises, if any."""
    torch.manual_seed(0)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(compile(source, "<program>", "exec"), {"__name__": "__main__"})
    except Exception as exc:  # noqa: BLE001 - whatever the program raises is the observation
        return exc
    return None


def _findings(source: str) -> list[tuple[int, str]]:
    return [(d.location.row, d.code) for d in lint_source("program.py", source)]


PROGRAMS = ["mnist_cli.py", "gpt_config.py"]


@pytest.mark.parametrize("name", PROGRAMS)
def test_clean_programs_run_and_stay_silent(name: str) -> None:
    source = (DATA / name).read_text()
    assert _run(source) is None
    assert _findings(source) == []


# (program, text replaced, replacement, code expected, text of the line it is reported at)
MUTANTS = [
    ("mnist_cli.py", "nn.Conv2d(32, 64, 3, 1)", "nn.Conv2d(32, 64, 5, 1)", "SC101", "x = self.fc1(x)"),
    ("mnist_cli.py", "nn.Linear(9216, 128)", "nn.Linear(4608, 128)", "SC101", "x = self.fc1(x)"),
    ("mnist_cli.py", "nn.Conv2d(1, 32, 3, 1)", "nn.Conv2d(3, 32, 3, 1)", "SC101", "x = self.conv1(x)"),
    ("mnist_cli.py", "x = torch.flatten(x, 1)", "x = torch.flatten(x, 2)", "SC101", "x = self.fc1(x)"),
    ("gpt_config.py", "y.transpose(1, 2).contiguous().view(B, T, C)", "y.transpose(1, 2).view(B, T, C)",
     "SC108", "y = y.transpose(1, 2).view(B, T, C)"),
    ("gpt_config.py", "k = k.view(B, T, self.n_head, C // self.n_head)",
     "k = k.view(B, T, self.n_head, C // self.n_embd)", "SC101", "k = k.view(B, T, self.n_head, C // self.n_embd)"),
    ("gpt_config.py", "self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)",
     "self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)", "SC101",
     "y = self.resid_dropout(self.c_proj(y))"),
    ("gpt_config.py", "y = att @ v", "y = v @ att", "SC101", "y = v @ att"),
    ("gpt_config.py", "x = x + self.attn(self.ln_1(x))", "x = x + self.attn(self.ln_1(x).transpose(0, 1))",
     "SC101", "x = x + self.attn(self.ln_1(x).transpose(0, 1))"),
    ("gpt_config.py", "pos_emb = self.transformer.wpe(pos)", "pos_emb = self.transformer.wpe(pos).unsqueeze(1)",
     "SC101", "x = self.transformer.drop(tok_emb + pos_emb)"),
]


@pytest.mark.parametrize(("name", "old", "new", "code", "at"), MUTANTS, ids=[f"{m[0]}:{m[2][:40]}" for m in MUTANTS])
def test_injected_bug_crashes_under_torch_and_is_flagged(name: str, old: str, new: str, code: str, at: str) -> None:
    source = (DATA / name).read_text()
    assert source.count(old) == 1
    mutant = source.replace(old, new)
    error = _run(mutant)
    assert isinstance(error, RuntimeError), f"the mutant must fail under torch, got {error!r}"
    lines = mutant.splitlines()
    flagged = [(row, c) for row, c in _findings(mutant) if c == code]
    assert flagged, f"{code} expected; torch says: {error}"
    assert any(lines[row - 1].strip().startswith(at) for row, _ in flagged), [lines[r - 1] for r, _ in flagged]


def test_reveal_view_of_an_unannotated_script_shows_forward_as_called() -> None:
    source = (DATA / "mnist_cli.py").read_text()
    shapes = reveal(source)
    lines = source.splitlines()
    by_text = {lines[row - 1].strip(): "; ".join(d for _, d in entries) for row, entries in shapes.items()}
    assert by_text["x = self.conv2(x)"].startswith("(batch, 64, 24, 24)")
    assert by_text["x = torch.flatten(x, 1)"].startswith("(batch, 9216)")
    assert by_text["output = F.log_softmax(x, dim=1)"].startswith("(batch, 10)")


# ---------------------------------------------------------------------- sources of shapes


def test_literal_creations_reach_an_unannotated_forward() -> None:
    check_reveals('''
    class Net(nn.Module):
        def __init__(self, hidden=128):
            super().__init__()
            self.fc = nn.Linear(784, hidden)

        def forward(self, x):
            h = self.fc(x.view(x.size(0), -1))   # reveal: (8, 128) float32 cpu
            return h

    net = Net()
    out = net(torch.randn(8, 1, 28, 28))         # reveal: (8, 128) float32 cpu
    wide = Net(hidden=256)(torch.randn(8, 784))   # reveal: (8, 256) float32 cpu
    ''')


def test_dataloader_batch_is_symbolic_unless_every_batch_is_full() -> None:
    check_reveals('''
    from torch.utils.data import DataLoader, TensorDataset
    ds = TensorDataset(torch.randn(100, 3, 32, 32), torch.randint(0, 10, (100,)))
    for x, y in DataLoader(ds, batch_size=64, shuffle=True):
        a = x                                     # reveal: (batch, 3, 32, 32) float32 cpu
        b = y                                     # reveal: (batch) int64 cpu
    for x, y in DataLoader(ds, batch_size=64, drop_last=True):
        c = x                                     # reveal: (64, 3, 32, 32) float32 cpu
    for i, (x, y) in enumerate(DataLoader(ds, batch_size=25)):
        d = x                                     # reveal: (25, 3, 32, 32) float32 cpu
    e = next(iter(DataLoader(ds, batch_size=10)))[0]   # reveal: (10, 3, 32, 32) float32 cpu
    ''')


def test_torchvision_datasets_and_transforms() -> None:
    check_reveals('''
    from torchvision import datasets, transforms
    from torch.utils.data import DataLoader
    tf = transforms.Compose([transforms.Resize(64), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    mnist = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
    cifar = datasets.CIFAR10("data", train=False, transform=tf)
    for img, label in DataLoader(mnist, batch_size=64):   # 60,000 = 937 * 64 + 32
        a = img                                   # reveal: (batch, 1, 28, 28) float32 cpu
        b = label                                 # reveal: (batch) int64 cpu
    for img, label in DataLoader(cifar, batch_size=100):
        c = img                                   # reveal: (100, 3, 64, 64) float32 cpu
    ''')


def test_no_transform_means_pil_images_and_no_shape() -> None:
    source = HEADER + textwrap.dedent('''
    from torchvision import datasets
    from torch.utils.data import DataLoader
    for img, label in DataLoader(datasets.MNIST("data"), batch_size=32):
        a = img
    ''')
    assert "a" not in {t for entries in reveal(source).values() for t, _ in entries}


def test_project_dataset_getitem_argparse_and_config_dict() -> None:
    check_reveals('''
    import argparse
    from torch.utils.data import DataLoader, Dataset

    class Windows(Dataset):
        def __init__(self, series, window):
            self.series = series
            self.window = window

        def __len__(self):
            return len(self.series) - self.window

        def __getitem__(self, i):
            return self.series[i:i + self.window].unsqueeze(-1), self.series[i + self.window]

    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--window", type=int, default=12)
    parser.add_argument("--hidden", type=int, default=32)
    args = parser.parse_args()
    cfg = {"hidden": args.hidden, "layers": 2}
    ds = Windows(torch.randn(500), args.window)
    rnn = nn.LSTM(1, cfg["hidden"], num_layers=cfg["layers"], batch_first=True)
    for x, y in DataLoader(ds, batch_size=args.batch_size):
        a = x                                     # reveal: (batch, ?, 1) float32 cpu
        out = rnn(x)[0]                           # reveal: (batch, ?, 32) float32 cpu
    ''')


def test_dataclass_config_and_constructor_defaults() -> None:
    check_reveals('''
    from dataclasses import dataclass

    @dataclass
    class Config:
        d_in: int = 20
        d_hidden: int = 64
        n_classes: int = 5

    class MLP(nn.Module):
        def __init__(self, cfg, act=None):
            super().__init__()
            self.l1 = nn.Linear(cfg.d_in, cfg.d_hidden)
            self.l2 = nn.Linear(cfg.d_hidden, cfg.n_classes)

        def forward(self, x):
            return self.l2(torch.relu(self.l1(x)))

    model = MLP(Config(d_hidden=16))
    y = model(torch.randn(4, 20))                 # reveal: (4, 5) float32 cpu
    ''')


def test_findings_inside_a_callee_are_reported_where_they_fail() -> None:
    source = HEADER + textwrap.dedent('''
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(100, 10)

        def forward(self, x):
            return self.fc(x)

    Net()(torch.randn(8, 64))
    ''')
    lines = source.splitlines()
    assert [(lines[r - 1].strip(), c) for r, c in _findings(source)] == [("return self.fc(x)", "SC101")]


def test_decided_conditions_run_only_the_branch_that_runs() -> None:
    source = HEADER + textwrap.dedent('''
    class Head(nn.Module):
        def __init__(self, pool="cls"):
            super().__init__()
            self.pool = pool
            self.fc = nn.Linear(32, 4)

        def forward(self, x, mask=None):
            if x.ndim == 2:
                x = x.unsqueeze(1)
            if mask is not None:
                x = x.masked_fill(mask, 0.0)
            x = x.mean(dim=1) if self.pool == "mean" else x[:, 0]
            return self.fc(x)

    out = Head()(torch.randn(8, 16, 32))
    ''')
    assert _run(source) is None
    assert _findings(source) == []


def test_undecided_shape_guards_stay_silent_in_a_caller_context() -> None:
    source = HEADER + textwrap.dedent('''
    def to_4d(x):
        if x.size(1) != 3:
            x = x.view(x.size(0), 3, 8, 8)
        return x

    def run(n):
        return to_4d(torch.randn(n, 3, 8, 8))
    ''')
    assert _findings(source) == []


def test_recursion_and_repeated_calls_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from shapecheck.infer import interpreter

    runs = []
    original = interpreter.Interpreter.run_context

    def counting(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        runs.append(fn.name.value)
        return original(self, fn, *args, **kwargs)

    monkeypatch.setattr(interpreter.Interpreter, "run_context", counting)
    source = HEADER + textwrap.dedent('''
    def tree(x, depth):
        return tree(x, depth - 1) + x

    def block(x):
        return x * 2

    x = torch.randn(4, 4)
    for _ in range(10):
        y = block(x)
        z = block(x)
        w = tree(x, 3)
    ''')
    assert _findings(source) == []
    assert runs.count("block") == 1  # one summary per argument signature
    # once from the module, once from tree's own run; the recursive call inside is cut to unknown
    assert runs.count("tree") == 2


def test_findings_in_another_file_are_reported_at_the_call(tmp_path: Path) -> None:
    pkg = tmp_path / "models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "net.py").write_text(HEADER + textwrap.dedent('''
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(100, 10)

        def forward(self, x):
            return self.fc(x)
    '''))
    main = tmp_path / "train.py"
    main.write_text(HEADER + "from models.net import Net\n\nout = Net()(torch.randn(8, 64))\n")
    index = ProjectIndex([pkg / "__init__.py", pkg / "net.py", main])
    found = lint_source(str(main), main.read_text(), project=index)
    assert [(d.location.row, d.code) for d in found] == [(8, "SC101")]
    assert "Net.forward" in found[0].message


def test_hardcoded_view_in_reset_parameters_is_not_a_batch() -> None:
    source = HEADER + textwrap.dedent('''
    class Bilinear(nn.Module):
        def __init__(self, heads: int, out: int):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(2 * heads * out, 4))
            self.heads, self.out = heads, out
            self.reset_parameters()

        def reset_parameters(self):
            w = self.weight.view(2, self.heads, self.out, 4)
            nn.init.xavier_uniform_(w)
    ''')
    assert [c for _, c in _findings(source)] == []


_LOADER_SCRIPT = HEADER + textwrap.dedent('''
from torch.utils.data import DataLoader, TensorDataset

class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, num_classes):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.fc = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1, :])

loader = DataLoader(TensorDataset(torch.rand(50, 1, 28, 28), torch.randint(0, 10, (50,))), batch_size=20)
model = RNN(28, 16, 10)
for i, (images, labels) in enumerate(loader):
    images = images.reshape(-1, 28, 28)
    loss = nn.functional.cross_entropy(model(images), labels)
    if i == 0:
        first = images.reshape(20, 28 * 28)
''')


def test_loader_batch_axis_in_driver_code() -> None:
    assert _run(_LOADER_SCRIPT) is None
    assert _findings(_LOADER_SCRIPT) == []  # `if i == 0:` sees the first batch, which is full
    hardcoded = _LOADER_SCRIPT.replace("images.reshape(-1, 28, 28)", "images.reshape(20, 28, 28)")
    assert isinstance(_run(hardcoded), RuntimeError)  # 50 = 2 * 20 + 10: the last batch has 10
    assert [c for _, c in _findings(hardcoded)] == ["SC109"]
    flipped = _LOADER_SCRIPT.replace("batch_first=True", "batch_first=False")
    assert _run(flipped) is None  # no crash: the LSTM silently reads the 20 samples as 20 time steps
    assert torch.nn.LSTM(28, 16)(torch.rand(20, 28, 28))[0].shape == (20, 28, 16)  # (seq, batch, hidden)
    lines = flipped.splitlines()
    assert [(lines[r - 1].strip(), c) for r, c in _findings(flipped)] == [("out, _ = self.lstm(x)", "SC110")]


def test_list_comprehension_over_a_known_range_is_a_list_of_that_length() -> None:
    check_reveals('''
    POLY_DEGREE = 4
    W_target = torch.randn(POLY_DEGREE, 1) * 5

    def make_features(x):
        x = x.unsqueeze(1)
        return torch.cat([x ** i for i in range(1, POLY_DEGREE + 1)], 1)

    def get_batch(batch_size=32):
        random = torch.randn(batch_size)
        x = make_features(random)
        return x, x.mm(W_target)

    batch_x, batch_y = get_batch()                # reveal: (32, 4) float32 cpu; (32, 1) float32 cpu
    ''')


def test_lightning_trainer_fit_runs_training_step_with_the_loader_batches() -> None:
    source = HEADER + textwrap.dedent('''
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    class LitClassifier(L.LightningModule):
        def __init__(self, hidden_dim=128):
            super().__init__()
            self.l1 = nn.Linear(28 * 28, hidden_dim)
            self.l2 = nn.Linear(hidden_dim, 10)

        def forward(self, x):
            x = x.view(x.size(0), -1)
            return self.l2(torch.relu(self.l1(x)))

        def training_step(self, batch, batch_idx):
            x, y = batch
            return nn.functional.cross_entropy(self(x), y)

        def train_dataloader(self):
            ds = TensorDataset(torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,)))
            return DataLoader(ds, batch_size=32)

    trainer = L.Trainer(max_epochs=1)
    trainer.fit(LitClassifier(hidden_dim=64))
    ''')
    lines = source.splitlines()
    shapes = reveal(source)
    row = next(i for i, line in enumerate(lines, 1) if line.strip() == "x = x.view(x.size(0), -1)")
    assert shapes[row] == [("x", "(32, 784) float32 cpu")]
    assert _findings(source) == []
    bad = source.replace("nn.Linear(28 * 28, hidden_dim)", "nn.Linear(28 * 27, hidden_dim)")
    assert [(lines[r - 1].strip(), c) for r, c in _findings(bad)] == [
        ("return self.l2(torch.relu(self.l1(x)))", "SC101")]


def test_attribute_reassigned_outside_init_is_not_its_init_value() -> None:
    # timm convit: a placeholder buffer built in __init__ ("torchscript hack"), replaced in forward
    source = HEADER + textwrap.dedent('''
    class GPSA(nn.Module):
        def __init__(self, dim, device=None, dtype=None):
            dd = {'device': device, 'dtype': dtype}
            super().__init__()
            self.rel_indices: torch.Tensor = torch.zeros(1, 1, 1, 3, **dd)

        def forward(self, x):
            B, N, C = x.shape
            if self.rel_indices is None or self.rel_indices.shape[1] != N:
                self.rel_indices = torch.zeros(1, N, N, 3)
            return x

        def get_attention_map(self, x):
            return self.rel_indices.squeeze()[:, :, -1] ** .5
    ''')
    assert _findings(source) == []


def test_resnet_builder_with_a_block_class_and_appends_in_a_loop() -> None:
    # yunjey/pytorch-tutorial deep_residual_network: the block class is an argument, make_layer
    # appends the first block, then more in a loop (a tail that keeps the shape)
    check_reveals('''
    class ResidualBlock(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1, downsample=None):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
            self.downsample = downsample

        def forward(self, x):
            residual = x
            out = self.conv2(torch.relu(self.conv1(x)))
            if self.downsample:
                residual = self.downsample(x)
            return torch.relu(out + residual)

    class ResNet(nn.Module):
        def __init__(self, block, layers, num_classes=10):
            super().__init__()
            self.in_channels = 16
            self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.layer1 = self.make_layer(block, 16, layers[0])
            self.layer2 = self.make_layer(block, 32, layers[1], 2)
            self.fc = nn.Linear(32, num_classes)

        def make_layer(self, block, out_channels, blocks, stride=1):
            downsample = None
            if (stride != 1) or (self.in_channels != out_channels):
                downsample = nn.Sequential(nn.Conv2d(self.in_channels, out_channels, 3, stride, 1),
                                           nn.BatchNorm2d(out_channels))
            layers = []
            layers.append(block(self.in_channels, out_channels, stride, downsample))
            self.in_channels = out_channels
            for i in range(1, blocks):
                layers.append(block(out_channels, out_channels))
            return nn.Sequential(*layers)

        def forward(self, x):
            out = self.layer2(self.layer1(self.conv(x)))   # reveal: (8, 32, 16, 16) float32 cpu
            out = out.mean(dim=(2, 3))
            return self.fc(out)

    logits = ResNet(ResidualBlock, [2, 2])(torch.randn(8, 3, 32, 32))   # reveal: (8, 10) float32 cpu
    ''')


def test_vit_idioms_pair_map_lambda_and_modulelist_appends() -> None:
    # lucidrains/vit-pytorch vit.py: `pair()`, string defaults deciding branches, a ModuleList of
    # [Attention, FeedForward] pairs appended in a loop, `map(lambda t: rearrange(...), qkv)`
    check_reveals('''
    from einops import rearrange

    def pair(t):
        return t if isinstance(t, tuple) else (t, t)

    class Attention(nn.Module):
        def __init__(self, dim, heads=8, dim_head=16):
            super().__init__()
            self.heads = heads
            self.to_qkv = nn.Linear(dim, dim_head * heads * 3, bias=False)
            self.to_out = nn.Linear(dim_head * heads, dim)

        def forward(self, x):
            qkv = self.to_qkv(x).chunk(3, dim=-1)
            q, k, v = map(lambda t: rearrange(t, 'b n (h d) -> b h n d', h=self.heads), qkv)
            out = torch.matmul(torch.matmul(q, k.transpose(-1, -2)).softmax(-1), v)
            return self.to_out(rearrange(out, 'b h n d -> b n (h d)'))

    class Transformer(nn.Module):
        def __init__(self, dim, depth, pool='cls'):
            super().__init__()
            self.size = pair(dim)
            self.pool = pool
            self.layers = nn.ModuleList([])
            for _ in range(depth):
                self.layers.append(nn.ModuleList([Attention(dim), nn.Linear(dim, dim)]))

        def forward(self, x):
            for attn, ff in self.layers:
                x = attn(x) + x
                x = ff(x) + x
            return x.mean(dim=1) if self.pool == 'mean' else x[:, 0]

    out = Transformer(32, depth=2)(torch.randn(2, 10, 32))   # reveal: (2, 32) float32 cpu
    ''')


_TOKENIZED = HEADER + textwrap.dedent('''
GPT_CONFIG = {"vocab_size": 50, "context_length": 16, "emb_dim": 32, "n_heads": 4, "drop_rate": 0.0}

class GPTModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def forward(self, in_idx):
        batch_size, seq_len = in_idx.shape
        tok_embeds = self.tok_emb(in_idx)
        pos_embeds = self.pos_emb(torch.arange(seq_len, device=in_idx.device))
        return self.out_head(tok_embeds + pos_embeds)

def tokenize(text):
    return torch.tensor([[ord(c) % 50 for c in text]])

model = GPTModel(GPT_CONFIG)
logits = model(tokenize("hello"))
''')


def test_sizes_named_by_unpacking_an_unknown_argument() -> None:
    # LLMs-from-scratch: the input comes from a tokenizer (unknown), but `batch_size, seq_len =
    # in_idx.shape` fixes its rank, and the model's own sizes do the rest
    assert _run(_TOKENIZED) is None
    assert _findings(_TOKENIZED) == []
    lines = _TOKENIZED.splitlines()
    shapes = reveal(_TOKENIZED)
    row = next(i for i, line in enumerate(lines, 1) if line.strip() == "tok_embeds = self.tok_emb(in_idx)")
    assert shapes[row] == [("tok_embeds", "(batch_size, seq_len, 32) float32 cpu")]
    bad = _TOKENIZED.replace('nn.Linear(cfg["emb_dim"], cfg["vocab_size"]', 'nn.Linear(cfg["emb_dim"] * 2, cfg["vocab_size"]')
    assert isinstance(_run(bad), RuntimeError)
    assert [(lines[r - 1].strip(), c) for r, c in _findings(bad)] == [
        ("return self.out_head(tok_embeds + pos_embeds)", "SC101")]


def test_labels_of_long_expressions_are_abbreviated() -> None:
    import libcst as cst

    from shapecheck.infer.frames import source_of

    chain = cst.parse_expression(" + ".join(["y"] * 500))
    assert source_of(chain) == "(...)"  # rendering every operand of a chain would be quadratic
    assert source_of(cst.parse_expression("a + b * c")) == "a + b * c"
