"""A deep MLP built with nn.ModuleList, initialised with model.apply(nn.init...), trained with
gradient clipping, then saved and loaded back as a state_dict checkpoint (torch.save/torch.load)."""
import os

import numpy as np
import torch
import torch.nn as nn


class DeepMLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])])
        self.act = nn.ReLU()

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = self.act(layer(x))
        return self.layers[-1](x)


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
        nn.init.zeros_(m.bias)


def build_model():
    torch.manual_seed(0)
    model = DeepMLP([8, 32, 32, 32, 32, 3])
    model.apply(init_weights)
    return model


def train(model, steps=20, workdir=None):
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.standard_normal((96, 8)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, 96))
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    losses, norms = [], []
    for step in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(X), y)
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)))
        opt.step()
        losses.append(loss.item())
    info = {"grad_norms": norms}
    if workdir is not None:
        path = os.path.join(workdir, "deep_mlp.pt")
        torch.save(model.state_dict(), path)
        restored = DeepMLP([8, 32, 32, 32, 32, 3])
        restored.load_state_dict(torch.load(path))
        model.eval(), restored.eval()
        with torch.no_grad():
            assert torch.allclose(model(X), restored(X))
        info["restored_keys"] = list(restored.state_dict().keys())
    return losses, info


if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        losses, info = train(build_model(), workdir=d)
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}; keys {info['restored_keys']}")
