"""A reproducible corpus of realistic PyTorch files for `bench_check.py`.

Templates of the code people write every day (models, training loops, data pipelines, numpy
utilities, einops attention), each filled with varied names, sizes and layer counts by a seeded
RNG, plus the project's own `fixtures/clean/*.py` as seeds. About one file in ten never mentions a
tensor library (config, CLI, I/O helpers), as in real repositories: shapecheck skips those
without a parse.
"""

from __future__ import annotations

import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

MLP = '''\
"""A {depth}-layer MLP for {task}."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class {name}(nn.Module):
    def __init__(self, in_features: int = {d_in}, hidden: int = {hidden}, n_classes: int = {n_classes}, p: float = {p}) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_features
        for _ in range({depth}):
            layers += [nn.Linear(width, hidden), nn.{act}(), nn.Dropout(p)]
            width = hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        return self.head(self.body(x))


def predict(model: {name}, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return F.softmax(model(x), dim=-1).argmax(dim=-1)
'''

CNN = '''\
"""Small convolutional classifier ({channels} channels, {blocks} blocks)."""

import torch
from torch import nn


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class {name}(nn.Module):
    def __init__(self, in_channels: int = {in_ch}, n_classes: int = {n_classes}) -> None:
        super().__init__()
        chans = [in_channels] + [{channels} * 2**i for i in range({blocks})]
        self.features = nn.Sequential(*[conv_block(a, b) for a, b in zip(chans, chans[1:])])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(chans[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.pool(x).flatten(1)
        return self.fc(x)
'''

ATTENTION = '''\
"""Multi-head self-attention block, d_model={d_model}, {n_heads} heads."""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class {name}(nn.Module):
    def __init__(self, d_model: int = {d_model}, n_heads: int = {n_heads}, dropout: float = {p}) -> None:
        super().__init__()
        assert d_model % n_heads == 0
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        q, k, v = (rearrange(t, "b s (h d) -> b h s d", h=self.n_heads) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.n_heads)
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, None, :] == 0, float("-inf"))
        attn = self.drop(F.softmax(scores, dim=-1))
        out = rearrange(attn @ v, "b h s d -> b s (h d)")
        return x + self.proj(out)
'''

TRAIN = '''\
"""Training loop for {task}: {epochs} epochs, {opt} lr={lr}."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make_loader(n: int = {n}, d: int = {d_in}, batch_size: int = {bs}) -> DataLoader:
    x = torch.randn(n, d)
    y = torch.randint(0, {n_classes}, (n,))
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True)


def train_{fn}(model: nn.Module, epochs: int = {epochs}, device: str = "cpu") -> list[float]:
    model.to(device)
    optimizer = torch.optim.{opt}(model.parameters(), lr={lr})
    loader = make_loader()
    history: list[float] = []
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        history.append(total / len(loader))
    return history


@torch.no_grad()
def evaluate_{fn}(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = 0
    seen = 0
    for x, y in loader:
        pred = model(x).argmax(dim=1)
        correct += (pred == y).sum().item()
        seen += y.numel()
    return correct / max(seen, 1)
'''

DATA = '''\
"""Dataset utilities with NumPy preprocessing ({n_feat} features)."""

import numpy as np
import torch
from torch.utils.data import Dataset


def standardise(a: np.ndarray) -> np.ndarray:
    mean = a.mean(axis=0, keepdims=True)
    std = a.std(axis=0, keepdims=True) + {eps}
    return (a - mean) / std


class {name}(Dataset):
    def __init__(self, features: np.ndarray, labels: np.ndarray) -> None:
        self.x = torch.from_numpy(standardise(features.astype(np.float32)))
        self.y = torch.from_numpy(labels.astype(np.int64))

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[i], self.y[i]


def synthetic(n: int = {n}, seed: int = {seed}) -> {name}:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, {n_feat}))
    w = rng.normal(size=({n_feat},))
    y = (x @ w > 0).astype(np.int64)
    return {name}(x, y)
'''

PLAIN = '''\
"""Command-line configuration for experiment {i} (no tensor code)."""

import argparse
import json
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default={epochs})
    p.add_argument("--lr", type=float, default={lr})
    p.add_argument("--out", type=Path, default=Path("runs/{i}"))
    return p.parse_args(argv)


def save(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_text(json.dumps(vars(args), default=str))
'''

TEMPLATES = [MLP, CNN, ATTENTION, TRAIN, DATA, MLP, TRAIN, CNN, ATTENTION, DATA, PLAIN]


def _fill(template: str, i: int, rng: random.Random) -> str:
    n_heads = rng.choice([2, 4, 8])
    return template.format(
        i=i,
        name=rng.choice(["Net", "Classifier", "Encoder", "Block", "Model", "Head"]) + str(i),
        fn=f"m{i}",
        task=rng.choice(["MNIST", "CIFAR-10", "tabular data", "sentiment", "speech commands"]),
        depth=rng.randint(2, 6),
        d_in=rng.choice([16, 32, 64, 784]),
        hidden=rng.choice([64, 128, 256, 512]),
        n_classes=rng.choice([2, 10, 100]),
        p=rng.choice([0.0, 0.1, 0.2, 0.5]),
        act=rng.choice(["ReLU", "GELU", "SiLU", "Tanh"]),
        channels=rng.choice([16, 32, 64]),
        blocks=rng.randint(2, 4),
        in_ch=rng.choice([1, 3]),
        d_model=n_heads * rng.choice([16, 32, 64]),
        n_heads=n_heads,
        epochs=rng.randint(1, 20),
        opt=rng.choice(["SGD", "Adam", "AdamW"]),
        lr=rng.choice([0.1, 0.01, 1e-3, 3e-4]),
        n=rng.choice([256, 1024, 4096]),
        bs=rng.choice([16, 32, 64, 128]),
        n_feat=rng.randint(4, 64),
        eps=rng.choice(["1e-8", "1e-6"]),
        seed=rng.randint(0, 10_000),
    )


def generate(directory: Path, n_files: int, seed: int = 0) -> list[Path]:
    """Write `n_files` files under `directory/pkg<k>/`, deterministic for a given seed."""
    rng = random.Random(seed)
    seeds = sorted((ROOT / "fixtures" / "clean").glob("*.py"))
    written: list[Path] = []
    for i in range(n_files):
        if seeds and i % 10 == 9:
            text = seeds[(i // 10) % len(seeds)].read_text(encoding="utf-8")
        else:
            text = _fill(TEMPLATES[i % len(TEMPLATES)], i, rng)
        path = directory / f"pkg{i // 50}" / f"module_{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
