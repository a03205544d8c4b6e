"""BatchNorm1d, LayerNorm and GELU, as a PyTorch user writes them: train mode updates the running
statistics, eval mode uses them; Adam with weight decay; label smoothing in the loss."""
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.lin = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.act = nn.GELU()

    def forward(self, x):
        return x + self.act(self.norm(self.lin(x)))


class Model(nn.Module):
    def __init__(self, n_in=6, dim=16, n_out=4):
        super().__init__()
        self.inp = nn.Linear(n_in, dim)
        self.bn = nn.BatchNorm1d(dim)
        self.blocks = nn.Sequential(Block(dim), Block(dim))
        self.head = nn.Linear(dim, n_out)

    def forward(self, x):
        h = F.leaky_relu(self.bn(self.inp(x)), 0.1)
        return self.head(self.blocks(h))


def build_model():
    torch.manual_seed(0)
    return Model()


def train(model, steps=25):
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((64, 6)) * 3 + 1, dtype=torch.float32)
    y = torch.tensor((rng.standard_normal(64) > 0).astype(np.int64) + 2 * (X[:, 0].numpy() > 1))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    losses = []
    model.train()
    for step in range(steps):
        batch = slice((step * 16) % 64, (step * 16) % 64 + 16)
        logits = model(X[batch])
        loss = F.cross_entropy(logits, y[batch], label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        eval_loss = F.cross_entropy(model(X), y).item()
        probs = F.softmax(model(X), dim=-1)
        assert torch.allclose(probs.sum(dim=-1), torch.ones(64), atol=1e-5)
    stats = model.bn.running_mean.numpy().tolist() + model.bn.running_var.numpy().tolist()
    return losses + [eval_loss], {"running_stats": stats, "batches": int(model.bn.num_batches_tracked.item())}


if __name__ == "__main__":
    losses, info = train(build_model())
    print(f"train {losses[0]:.4f} -> {losses[-2]:.4f}, eval {losses[-1]:.4f}")
