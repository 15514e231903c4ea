"""Train three unmodified vit-pytorch models for a few steps on random images (CPU or --device)."""

import argparse

import torch
from torch import nn

from vit_pytorch import ViT
from vit_pytorch.cait import CaiT
from vit_pytorch.simple_vit import SimpleViT

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cpu")
parser.add_argument("--steps", type=int, default=3)
args = parser.parse_args()
device = torch.device(args.device)

models = {
    "ViT": ViT(image_size=32, patch_size=8, num_classes=10, dim=64, depth=2, heads=4, mlp_dim=128, dropout=0.1,
               emb_dropout=0.1),
    "SimpleViT": SimpleViT(image_size=32, patch_size=8, num_classes=10, dim=64, depth=2, heads=4, mlp_dim=128),
    "CaiT": CaiT(image_size=32, patch_size=8, num_classes=10, dim=64, depth=2, cls_depth=1, heads=4, mlp_dim=128,
                 dropout=0.1, emb_dropout=0.1, layer_dropout=0.05),
}
criterion = nn.CrossEntropyLoss()
for name, model in models.items():
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    for step in range(args.steps):
        img = torch.randn(8, 3, 32, 32, device=device)
        label = torch.randint(0, 10, (8,), device=device)
        loss = criterion(model(img), label)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(name, f"{loss.item():.3f}")
