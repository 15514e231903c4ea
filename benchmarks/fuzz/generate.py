"""Inputs for the fuzz harness: grammar-generated programs (hypothesmith), random PyTorch
programs, and mutants (syntactic and byte-level) of the fixtures and of real repositories.

Everything is a function of a seed: the same seed gives the same inputs, so a failure the harness
reports can be regenerated. Every generated file starts by mentioning torch, so that `check` does
not skip it unparsed.
"""

from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MIRRORS = Path("/work/.mirror")
HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


# --- grammar-generated programs --------------------------------------------------------------


def hypothesmith_programs(n: int, seed: int) -> list[str]:
    """`n` programs from hypothesmith (half from the grammar, half from libcst nodes); [] when
    hypothesmith is not installed (`pip install -e '.[fuzz]' -c constraints.txt`)."""
    try:
        import hypothesmith
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import strategies as st
    except ImportError:
        return []
    import hypothesis

    out: list[str] = []

    @hypothesis.seed(seed)
    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node()))
    def collect(source: str) -> None:
        out.append(HEADER + source)

    try:
        collect()
    except Exception:  # noqa: BLE001 - hypothesmith may give up on a rare grammar path
        pass
    return out[:n]


# --- random PyTorch programs -----------------------------------------------------------------

LAYERS = [
    "nn.Linear({a}, {b})", "nn.Conv2d({a}, {b}, {k})", "nn.Conv1d({a}, {b}, {k}, padding={p})",
    "nn.LSTM({a}, {b}, batch_first={bf})", "nn.GRU({a}, {b})", "nn.Embedding({v}, {b})",
    "nn.MultiheadAttention({b}, {h}, batch_first={bf})", "nn.LayerNorm({b})", "nn.BatchNorm2d({b})",
    "nn.Dropout({q})", "nn.ReLU()", "nn.Flatten()", "nn.MaxPool2d({k})", "nn.Sequential(nn.Linear({a}, {b}), nn.GELU())",
    "nn.TransformerEncoderLayer({b}, {h}, batch_first={bf})", "nn.ConvTranspose2d({a}, {b}, {k}, stride=2)",
]
OPS = [
    "x = x.view({s0}, -1)", "x = x.reshape(-1, {a})", "x = x.permute(0, 2, 1)", "x = x.transpose({d}, {e})",
    "x = x @ x.transpose(-2, -1)", "x = torch.cat([x, x], dim={d})", "x = torch.stack([x, x], dim={d})",
    "x = F.softmax(x, dim={d})", "x = x.sum({d})", "x = x.mean(dim={d}, keepdim=True)", "x = x.unsqueeze({d})",
    "x = x.squeeze({d})", "x = x[:, {i}]", "x = x[..., None]", "x = x.flatten(1)", "x = torch.einsum('bij,bjk->bik', x, x)",
    "x = x + torch.randn({s0}, {a})", "x = x * {q}", "x = torch.matmul(x, torch.randn({a}, {b}))",
    "x = x.expand({s0}, {a}, {b})", "x = x.chunk({k}, dim={d})[0]", "x, y = x.split({k}, dim={d})[:2]",
    "x = F.pad(x, ({p}, {p}))", "x = x.masked_fill(x > 0, 0.0)", "x = x.t()", "x = x.mT", "x = x.contiguous()",
    "x = torch.where(x > 0, x, torch.zeros_like(x))", "x = x.gather({d}, torch.zeros({s0}, {a}, dtype=torch.long))",
    "x = x.to('cuda')", "x = x.float().cpu()", "x = self.layer{j}(x)", "x, _ = self.layer{j}(x)",
    "x = torch.bmm(x, x)", "x = x.repeat(1, {k}, 1)", "x = x.narrow({d}, 0, {k})", "x = x.max(dim={d}).values",
    "x = x.argmax(-1)", "x = F.cross_entropy(x, torch.zeros({s0}, dtype=torch.long))", "x = x.unflatten(1, ({k}, -1))",
]
LOOP = [
    "optimizer.zero_grad()", "loss = criterion(model(xb), yb)", "loss.backward()", "optimizer.step()",
    "total += loss", "total += loss.item()", "model.eval()", "model.train()", "scheduler.step()",
    "with torch.no_grad():\n            pred = model(xb)", "loss = F.nll_loss(F.log_softmax(model(xb), dim=1), yb)",
    "loss = F.binary_cross_entropy(torch.sigmoid(model(xb)), yb.float())", "xb = xb.cuda()",
    "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)", "loss.backward(retain_graph=True)",
]


def torch_programs(n: int, seed: int) -> list[str]:
    """Random models and training loops: consistent and inconsistent shapes, every statement
    order of a loop, annotations (jaxtyping) now and then."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        def fill(template: str) -> str:
            return template.format(
                a=rng.choice([1, 3, 8, 16, 64, 128, "d", "self.d"]), b=rng.choice([2, 4, 16, 64, 256, "d"]),
                k=rng.choice([1, 2, 3, 5]), p=rng.choice([0, 1, 2]), v=rng.choice([10, 1000]), h=rng.choice([1, 2, 4, 8]),
                q=rng.choice([0.1, 0.5, 2]), bf=rng.choice([True, False]), s0=rng.choice([1, 4, 32, "b", "x.size(0)"]),
                d=rng.choice([0, 1, 2, -1, -2, 3]), e=rng.choice([1, 2, -1]), i=rng.choice([0, 1, -1, "1:"]),
                j=rng.randrange(4),
            )

        lines = [HEADER, "from jaxtyping import Float\nfrom torch import Tensor\n" if rng.random() < 0.3 else "",
                 f"\n\nclass Net{i}(nn.Module):", "    def __init__(self, d: int = 16) -> None:",
                 "        super().__init__()", "        self.d = d"]
        for j in range(rng.randint(1, 4)):
            lines.append(f"        self.layer{j} = {fill(rng.choice(LAYERS))}")
        sig = ('x: Float[Tensor, "b n d"]' if rng.random() < 0.3 else "x")
        lines += ["", f"    def forward(self, {sig}):", "        b = x.shape[0]"]
        for _ in range(rng.randint(1, 10)):
            lines.append("        " + fill(rng.choice(OPS)))
        lines.append("        return x")
        lines += ["", "", f"model = Net{i}()", "optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)",
                  "criterion = nn.CrossEntropyLoss()", "scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)",
                  f"x = torch.randn({fill('{s0}')}, {fill('{a}')}, {fill('{b}')})", "total = 0.0",
                  "for epoch in range(2):", "    for xb, yb in [(x, torch.zeros(4, dtype=torch.long))]:"]
        body = [rng.choice(LOOP) for _ in range(rng.randint(2, 8))]
        lines += ["        " + s for s in body]
        out.append("\n".join(lines) + "\n")
    return out


# --- mutants ---------------------------------------------------------------------------------


def seed_sources(limit: int = 300) -> list[tuple[str, str]]:
    """(name, source): the fixtures, then torch-mentioning files of the mirrored repositories."""
    out = [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8"))
           for p in sorted((ROOT / "fixtures").rglob("*.py"))]
    for git_dir in sorted(MIRRORS.glob("*/repo")):
        try:
            names = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD"],
                                   capture_output=True, text=True, timeout=60).stdout.split()
        except (OSError, subprocess.SubprocessError):
            continue
        for name in [n for n in names if n.endswith(".py")][:60]:
            if len(out) >= limit:
                return out
            try:
                text = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"HEAD:{name}"], capture_output=True,
                                      timeout=60).stdout.decode("utf-8", errors="replace")
            except (OSError, subprocess.SubprocessError):
                continue
            if "torch" in text and len(text) < 200_000:
                out.append((f"{git_dir.parent.name}/{name}", text))
    return out


TOKENS = ["(", ")", "[", "]", "{", "}", ":", ",", ".", "\n", "\t", "    ", "\\", "'", '"', '"""', "#", "@",
          "lambda", "yield", "await", "async", "not", "-", "**", "*", "=", ":=", "->", "...", "None", "\0",
          "\r", "\r\n", "\x0c", "\ufeff", "\u2028", "é", "0x", "1e999999", "9" * 5000, "f'{", "}'", "\x85"]


def _mutate_text(text: str, rng: random.Random) -> str:
    lines = text.splitlines(keepends=True) or ["\n"]
    op = rng.randrange(13)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[j])
    elif op == 2:
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        pos = rng.randrange(len(text) + 1)
        return text[:pos] + rng.choice(TOKENS) + text[pos:]
    elif op == 4:
        a = rng.randrange(len(text) + 1)
        return text[:a] + text[a + rng.randint(1, 40):]
    elif op == 5:
        lines[i] = " " * rng.randint(0, 9) + lines[i].lstrip(" ")
    elif op == 6:
        return re.sub(r"\b\d+\b", lambda m: rng.choice(["0", "-1", "2", "10**9", "1.5", "True", "None", m.group()]),
                      text, count=rng.randint(1, 5))
    elif op == 7:
        return text[: rng.randrange(len(text) + 1)]
    elif op == 8:
        lines[i:i] = lines[i:i + rng.randint(1, 20)] * rng.randint(2, 5)
    elif op == 9:
        depth = rng.choice([50, 199, 201, 800, 3000])
        lines.insert(i, "x = " + "(" * depth + "torch.zeros(1)" + ")" * depth + "\n")
    elif op == 10:
        nl = rng.choice(["\r\n", "\r", "\n"])
        return "".join(ln.rstrip("\r\n") + (nl if rng.random() < 0.7 else "\n") for ln in lines)
    elif op == 11:
        words = re.findall(r"[A-Za-z_]\w*", text) or ["x"]
        return re.sub(r"\b" + re.escape(rng.choice(words)) + r"\b", rng.choice(words), text, count=rng.randint(1, 3))
    else:
        n = rng.choice([200, 490, 1000, 2500])
        lines.insert(i, "y = " + rng.choice([" + ", " @ ", " and ", " * "]).join(["x"] * n) + "\n")
    return "".join(lines)


def text_mutants(sources: list[tuple[str, str]], n: int, seed: int) -> Iterator[tuple[str, str]]:
    """`n` mutants, each 1-3 random edits of a random seed source."""
    rng = random.Random(seed)
    for k in range(n):
        name, text = rng.choice(sources)
        for _ in range(rng.randint(1, 3)):
            text = _mutate_text(text, rng)
        yield f"{name}#m{k}", text


def byte_mutants(sources: list[tuple[str, str]], n: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """`n` byte-level mutants: flipped bytes, invalid UTF-8, coding cookies that lie, BOMs."""
    rng = random.Random(seed)
    cookies = [b"# -*- coding: latin-1 -*-\n", b"# coding: utf-16\n", b"# coding: nonsense\n", b"\xef\xbb\xbf",
               b"\xef\xbb\xbf# coding: latin-1\n", b"# vim: set fileencoding=cp1252 :\n", b"\xff\xfe"]
    for k in range(n):
        name, text = rng.choice(sources)
        data = bytearray(text.encode("utf-8"))
        op = rng.randrange(4)
        if op == 0 and data:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1:
            data[0:0] = rng.choice(cookies)
        elif op == 2:
            pos = rng.randrange(len(data) + 1)
            data[pos:pos] = rng.choice([b"\x80", b"\xc3", b"\xed\xa0\x80", b"\0", b"\xff\xfe\x00"])
        else:
            data = bytearray(text.encode("utf-16"))
        yield f"{name}#b{k}", bytes(data)


def semantic_mutants(sources: list[tuple[str, str]], n: int) -> Iterator[tuple[str, str]]:
    """The realistic shape/training bugs of `benchmarks/realcode/mutate.py`, on the seeds."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks" / "realcode"))
    try:
        from mutate import mutants  # type: ignore[import-not-found]
    except Exception:  # noqa: BLE001 - that benchmark may be mid-edit by its owner
        return
    count = 0
    for name, text in sources:
        try:
            found = mutants(name, text)
        except Exception:  # noqa: BLE001 - the mutator itself failing is not our finding
            continue
        for m in found:
            yield f"{name}#{m.operator}", m.source
            count += 1
            if count >= n:
                return
