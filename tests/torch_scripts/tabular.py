"""Tabular regression, as a PyTorch user writes it (issue 25): a categorical column through
nn.Embedding beside numeric features, a residual block, AdamW with two parameter groups (no weight
decay on biases, norms and embeddings), OneCycleLR, gradient clipping, gradient accumulation over
micro-batches from a DataLoader, early stopping on a validation split, and a checkpoint (model and
optimizer) saved and resumed."""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

N_CATS, N_NUM = 7, 5


def make_data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    cats = rng.integers(0, N_CATS, n)
    num = rng.standard_normal((n, N_NUM))
    effect = np.linspace(-1.0, 1.0, N_CATS)[cats]
    y = num @ np.array([0.5, -1.0, 0.25, 0.0, 2.0]) + effect + 0.1 * rng.standard_normal(n)
    return (torch.tensor(cats), torch.tensor(num, dtype=torch.float32),
            torch.tensor(y, dtype=torch.float32).unsqueeze(1))


class Residual(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, width), nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return self.norm(x + self.fc2(F.relu(self.fc1(x))))


class TabularNet(nn.Module):
    def __init__(self, emb_dim=4, width=32):
        super().__init__()
        self.emb = nn.Embedding(N_CATS, emb_dim)
        self.inp = nn.Linear(N_NUM + emb_dim, width)
        self.block = Residual(width)
        self.head = nn.Linear(width, 1)

    def forward(self, cats, num):
        x = torch.cat([self.emb(cats), num], dim=1)
        return self.head(self.block(F.relu(self.inp(x))))


def build_model():
    torch.manual_seed(0)
    return TabularNet()


def param_groups(model, weight_decay=1e-2):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name.endswith("bias") or "norm" in name or "emb" in name else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def evaluate(model, cats, num, y):
    model.eval()
    with torch.no_grad():
        loss = F.mse_loss(model(cats, num), y).item()
    model.train()
    return loss


def train(model, epochs=6, accumulate=2, workdir=None):
    cats, num, y = make_data()
    train_idx, val_idx = torch.arange(0, 200), torch.arange(200, 240)
    loader = DataLoader(TensorDataset(cats[train_idx], num[train_idx], y[train_idx]), batch_size=25)
    opt = torch.optim.AdamW(param_groups(model), lr=1e-2)
    steps = epochs * len(loader) // accumulate
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-2, total_steps=steps)
    losses, val, best, bad, patience = [], [], float("inf"), 0, 2
    for epoch in range(epochs):
        opt.zero_grad()
        for i, (cb, nb, yb) in enumerate(loader):
            loss = F.mse_loss(model(cb, nb), yb) / accumulate
            loss.backward()
            if (i + 1) % accumulate == 0:
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                losses.append(loss.item() * accumulate)
        val.append(evaluate(model, cats[val_idx], num[val_idx], y[val_idx]))
        if val[-1] < best - 1e-4:
            best, bad = val[-1], 0
        else:
            bad += 1
            if bad >= patience:
                break
    info = {"val": val}
    if workdir is not None:
        path = os.path.join(workdir, "tabular_checkpoint.pt")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch}, path)
        ckpt = torch.load(path)
        resumed = TabularNet()
        resumed.load_state_dict(ckpt["model"])
        opt2 = torch.optim.AdamW(param_groups(resumed), lr=1e-2)
        opt2.load_state_dict(ckpt["optimizer"])
        assert ckpt["epoch"] == epoch
        info["resumed_val"] = evaluate(resumed, cats[val_idx], num[val_idx], y[val_idx])
    return losses, info
