"""Regression, as a PyTorch user writes it: fit y = sin(2x) + x^2/4 with an MSELoss MLP, Adam and a
cosine schedule; reshape with view/unsqueeze, nn.Sequential."""
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim


def make_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.uniform(-2, 2, size=n)).float()
    y = torch.sin(2 * x) + x ** 2 / 4 + 0.05 * torch.tensor(rng.standard_normal(n), dtype=torch.float32)
    return x.unsqueeze(1), y.view(-1, 1)


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 1))


def train(model, steps=40):
    x, y = make_data()
    loss_fn = nn.MSELoss()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses = []
    for step in range(steps):
        pred = model(x)
        loss = loss_fn(pred, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    with torch.no_grad():
        l1 = nn.L1Loss()(model(x), y).item()
        huber = nn.HuberLoss(delta=0.5)(model(x), y).item()
    return losses, {"l1": l1, "huber": huber}


if __name__ == "__main__":
    losses, info = train(build_model())
    print(f"mse {losses[0]:.4f} -> {losses[-1]:.4f}, l1 {info['l1']:.4f}")
