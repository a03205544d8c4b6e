"""Classification, as a PyTorch user writes it: an MLP on 3 Gaussian blobs, CrossEntropyLoss,
SGD with momentum and a StepLR schedule, accuracy under no_grad. Run with PyTorch or (imports
swapped by tests/test_torch_scripts.py) with gpugrad."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim
from torch.optim.lr_scheduler import StepLR


def make_data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0, 0.0, 1.0], [-1.0, 2.0, 0.5, 0.0], [0.0, -2.0, -1.0, -1.0]])
    y = rng.integers(0, 3, size=n)
    X = centers[y] + rng.standard_normal((n, 4))
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.long)


class Net(nn.Module):
    def __init__(self, n_in=4, hidden=32, n_classes=3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.out(x)


def build_model():
    torch.manual_seed(0)
    return Net()


def train(model, epochs=4, batch_size=40):
    X, y = make_data()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
    order = torch.tensor(np.random.default_rng(1).permutation(X.size(0)))
    losses = []
    for epoch in range(epochs):
        model.train()
        for i in range(0, X.size(0), batch_size):
            idx = order[i:i + batch_size]
            xb, yb = X[idx], y[idx]
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    model.eval()
    with torch.no_grad():
        logits = model(X)
        _, predicted = torch.max(logits, 1)
        acc = (predicted == y).float().mean().item()
        assert (logits.argmax(dim=1) == predicted).all()
    return losses, {"accuracy": acc, "lr": scheduler.get_last_lr()[0]}


if __name__ == "__main__":
    losses, info = train(build_model())
    print(f"final loss {losses[-1]:.4f}, accuracy {info['accuracy']:.3f}")
