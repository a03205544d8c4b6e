"""A custom Module with buffers: input standardisation statistics (persistent) and a step counter
(not persistent), trained in float64 with model.double(), SmoothL1Loss and Adam."""
import numpy as np
import torch
import torch.nn as nn


class Standardized(nn.Module):
    def __init__(self, mean, std, hidden=16):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("calls", torch.zeros(1), persistent=False)
        self.net = nn.Sequential(nn.Linear(mean.shape[0], hidden), nn.ELU(), nn.Linear(hidden, 1))

    def forward(self, x):
        self.calls += 1
        return self.net((x - self.mean) / self.std).squeeze(-1)


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((128, 5)) * np.array([1.0, 10.0, 0.1, 5.0, 2.0]) + np.array([0, 50.0, 1, -3, 7])
    y = X[:, 0] - 0.1 * X[:, 1] + 5 * X[:, 2] + 0.3 * rng.standard_normal(128)
    return torch.tensor(X), torch.tensor(y)


def build_model():
    torch.manual_seed(0)
    X, _ = make_data()
    return Standardized(X.mean(dim=0), X.std(dim=0)).double()


def train(model, steps=30):
    X, y = make_data()
    X, y = X.double(), y.double()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    crit = nn.SmoothL1Loss(beta=0.5)
    losses = []
    for step in range(steps):
        opt.zero_grad()
        loss = crit(model(X), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    keys = list(model.state_dict().keys())
    assert "calls" not in keys and "mean" in keys
    return losses, {"keys": keys, "calls": float(model.calls.item()),
                    "buffers": [n for n, _ in model.named_buffers()]}


if __name__ == "__main__":
    losses, info = train(build_model())
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; state_dict keys {info['keys']}")
