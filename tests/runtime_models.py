"""Small models and training steps written in the style of real code, for the runtime tests.

Each mirrors the structure of a public project (not its code): a nanoGPT-style GPT trained with
AdamW, gradient accumulation, clipping and a GradScaler; a vit-pytorch-style ViT with einops; the
pytorch/examples MNIST net (log_softmax + nll_loss, Adadelta), word-language-model transformer
(sinusoidal positional encoding, hand-written SGD on `p.data`) and DCGAN step. Sizes are tiny and
data random, so a traced step costs milliseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# --- nanoGPT style ----------------------------------------------------------------------------


@dataclass
class GPTConfig:
    block_size: int = 8
    vocab_size: int = 32
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 16
    dropout: float = 0.0
    bias: bool = True


class LayerNorm(nn.Module):
    def __init__(self, ndim: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout
        self.register_buffer("bias", torch.tril(torch.ones(config.block_size, config.block_size))
                             .view(1, 1, config.block_size, config.block_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        device = idx.device
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay: float, learning_rate: float, betas: tuple[float, float],
                             device_type: str) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        nodecay = [p for p in params if p.dim() < 2]
        groups = [{"params": decay, "weight_decay": weight_decay}, {"params": nodecay, "weight_decay": 0.0}]
        extra = dict(fused=True) if device_type == "cuda" else dict()
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **extra)


def nanogpt_train(model: GPT, iters: int = 2, accum: int = 2, bug: str = "") -> list[float]:
    """nanoGPT's loop: micro-steps, scaled loss, prefetch, clip, scaler, .item() after the step."""
    cfg = model.config
    g = torch.Generator().manual_seed(0)
    data = torch.randint(0, cfg.vocab_size, (512,), generator=g)

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(data) - cfg.block_size, (4,), generator=g)
        x = torch.stack([data[i:i + cfg.block_size] for i in ix.tolist()])
        y = torch.stack([data[i + 1:i + 1 + cfg.block_size] for i in ix.tolist()])
        return x, y

    optimizer = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu")
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    losses: list[float] = []
    total = 0.0
    X, Y = get_batch()
    for _ in range(iters):
        for _ in range(accum):
            _, loss = model(X, Y)
            loss = loss / accum
            X, Y = get_batch()  # prefetch while the GPU works
            scaler.scale(loss).backward()
        if bug == "loss-graph":
            total = total + loss  # keeps every iteration's graph
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item() * accum)
    model.eval()
    with torch.no_grad():
        model(X, Y)
    model.train()
    return losses


# --- vit-pytorch style --------------------------------------------------------------------------


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden_dim), nn.GELU(),
                                 nn.Linear(hidden_dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int = 2, dim_head: int = 8) -> None:
        super().__init__()
        from einops.layers.torch import Rearrange  # noqa: F401 - imported by the real project

        inner = dim_head * heads
        self.heads, self.scale = heads, dim_head ** -0.5
        self.norm = nn.LayerNorm(dim)
        self.attend = nn.Softmax(dim=-1)
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from einops import rearrange

        x = self.norm(x)
        qkv = self.to_qkv(x).chunk(3, dim=-1)
        q, k, v = (rearrange(t, "b n (h d) -> b h n d", h=self.heads) for t in qkv)
        attn = self.attend(torch.matmul(q, k.transpose(-1, -2)) * self.scale)
        out = torch.matmul(attn, v)
        return self.to_out(rearrange(out, "b h n d -> b n (h d)"))


class ViT(nn.Module):
    def __init__(self, *, image_size: int = 16, patch_size: int = 4, num_classes: int = 10, dim: int = 32,
                 depth: int = 2, channels: int = 3) -> None:
        super().__init__()
        from einops.layers.torch import Rearrange

        num_patches = (image_size // patch_size) ** 2
        patch_dim = channels * patch_size ** 2
        self.to_patch_embedding = nn.Sequential(
            Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size),
            nn.LayerNorm(patch_dim), nn.Linear(patch_dim, dim), nn.LayerNorm(dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, num_patches + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.layers = nn.ModuleList([nn.ModuleList([Attention(dim), FeedForward(dim, 2 * dim)])
                                     for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.mlp_head = nn.Linear(dim, num_classes)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        from einops import repeat

        x = self.to_patch_embedding(img)
        b, n, _ = x.shape
        cls_tokens = repeat(self.cls_token, "1 1 d -> b 1 d", b=b)
        x = torch.cat((cls_tokens, x), dim=1)
        x += self.pos_embedding[:, :(n + 1)]
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.mlp_head(self.norm(x)[:, 0])


def vit_train(model: nn.Module, steps: int = 2, bug: str = "") -> None:
    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    criterion = nn.CrossEntropyLoss()
    for _ in range(steps):
        img, label = torch.randn(8, 3, 16, 16, generator=g), torch.randint(0, 10, (8,), generator=g)
        output = model(img)
        if bug == "softmax":
            output = output.softmax(dim=-1)
        loss = criterion(output, label)
        opt.zero_grad()
        loss.backward()
        opt.step()
        acc = (output.argmax(dim=1) == label).float().mean()
        print_line = f"loss {loss.item():.4f} acc {acc.item():.4f}"  # after the step
        assert print_line


# --- pytorch/examples: mnist ----------------------------------------------------------------------


class MnistNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(16 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


class Normalize(nn.Module):
    """torchvision's `transforms.Normalize` is an nn.Module: a training-mode forward outside the model."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool((self.std == 0).any()):  # torchvision checks the std: a .item()-like read
            raise ValueError("std evaluated to zero")
        return (x - self.mean) / self.std


class ProbedNet(nn.Module):
    """Sizes its classifier with a probe forward of zeros in __init__ (a common CNN idiom)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2))
        with torch.no_grad():
            n = self.features(torch.zeros(1, 1, 14, 14)).numel()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(n, 32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.head(self.features(x)), dim=1)


def mnist_train(model: nn.Module, steps: int = 2, bug: str = "") -> float:
    g = torch.Generator().manual_seed(0)
    transform = Normalize(0.1307, 0.3081)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    model.train()
    total = 0.0
    for _ in range(steps):
        data = transform(torch.rand(16, 1, 14, 14, generator=g))
        target = torch.randint(0, 10, (16,), generator=g)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        if bug == "loss-graph":
            total += loss
        else:
            total += loss.item()
    model.eval()
    correct = 0
    with torch.no_grad():
        data = torch.rand(16, 1, 14, 14, generator=g)
        output = model(data)
        pred = output.argmax(dim=1, keepdim=True)
        correct += pred.eq(torch.randint(0, 10, (16,), generator=g).view_as(pred)).sum().item()
    return float(total) + correct


# --- pytorch/examples: word_language_model --------------------------------------------------------


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 64) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pe[:x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Module):
    def __init__(self, ntoken: int = 50, ninp: int = 16, nhead: int = 2, nhid: int = 32, nlayers: int = 1) -> None:
        super().__init__()
        self.src_mask: torch.Tensor | None = None
        self.pos_encoder = PositionalEncoding(ninp, 0.1)
        layer = nn.TransformerEncoderLayer(ninp, nhead, nhid, 0.1)
        self.encoder = nn.TransformerEncoder(layer, nlayers, enable_nested_tensor=False)
        self.input_emb = nn.Embedding(ntoken, ninp)
        self.ninp = ninp
        self.decoder = nn.Linear(ninp, ntoken)
        nn.init.uniform_(self.input_emb.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        if self.src_mask is None or self.src_mask.size(0) != len(src):
            mask = torch.log(torch.tril(torch.ones(len(src), len(src))))
            self.src_mask = mask.to(src.device)
        src = self.input_emb(src) * math.sqrt(self.ninp)
        src = self.pos_encoder(src)
        output = self.decoder(self.encoder(src, mask=self.src_mask))
        return F.log_softmax(output, dim=-1)


def wlm_train(model: nn.Module, steps: int = 2, lr: float = 0.5) -> float:
    """word_language_model's loop: no optimizer, SGD written on p.data, loss.item() for logging."""
    g = torch.Generator().manual_seed(0)
    criterion = nn.NLLLoss()
    model.train()
    total_loss = 0.0
    for _ in range(steps):
        data = torch.randint(0, 50, (10, 4), generator=g)
        targets = torch.randint(0, 50, (40,), generator=g)
        model.zero_grad()
        output = model(data)
        loss = criterion(output.view(-1, 50), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        total_loss += loss.item()
    return total_loss


# --- pytorch/examples: dcgan ----------------------------------------------------------------------


def dcgan_nets(nz: int = 8, ngf: int = 8, ndf: int = 8) -> tuple[nn.Module, nn.Module]:
    netG = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
    netD = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def weights_init(m: nn.Module) -> None:
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    netG.apply(weights_init)
    netD.apply(weights_init)
    return netG, netD


def dcgan_train(netG: nn.Module, netD: nn.Module, steps: int = 2, nz: int = 8, bug: str = "") -> None:
    g = torch.Generator().manual_seed(0)
    criterion = nn.BCELoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    for _ in range(steps):
        if bug != "no-zero-grad":
            netD.zero_grad()
        real = torch.rand(4, 3, 16, 16, generator=g) * 2 - 1
        label = torch.full((4,), 1.0)
        output = netD(real).view(-1, 1).squeeze(1)
        errD_real = criterion(output, label)
        errD_real.backward()
        noise = torch.randn(4, nz, 1, 1, generator=g)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach()).view(-1, 1).squeeze(1)
        errD_fake = criterion(output, label)
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake).view(-1, 1).squeeze(1)
        errG = criterion(output, label)
        errG.backward()  # also adds into netD's gradients: cleared by netD.zero_grad() next iteration
        optimizerG.step()
        D_G_z2 = output.mean().item()  # after G's step
        assert D_G_z2 == D_G_z2


# --- a regression model for the loss-broadcast bug ------------------------------------------------


def regression_train(bug: str = "", steps: int = 2) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(32, 4), torch.randn(32)
    for _ in range(steps):
        pred = model(x)
        loss = F.mse_loss(pred, y) if bug == "mse-broadcast" else F.mse_loss(pred.squeeze(-1), y)
        if bug == "l1-broadcast":
            loss = F.l1_loss(pred, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
