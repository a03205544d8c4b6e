"""A classifier with the tensor utilities a PyTorch user reaches for (issue 25): inputs normalised
with F.normalize, mini-batches from Tensor.split / torch.chunk, PReLU, label smoothing, top-k
accuracy from topk, per-class prediction counts from bincount, the true class's probability from
gather, confidences ranked with sort/argsort, and a forward hook collecting features."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

N_CLASSES = 4


def make_data(n=128, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    centers = rng.standard_normal((N_CLASSES, 6)) * 2
    x = centers[y] + rng.standard_normal((n, 6))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def build_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 24), nn.PReLU(24), nn.Linear(24, 24), nn.ReLU(), nn.Linear(24, N_CLASSES))


def train(model, epochs=4):
    x, y = make_data()
    x = F.normalize(x, dim=1)
    features = []
    handle = model[3].register_forward_hook(lambda m, args, out: features.append(out.detach().mean().item()))
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    losses = []
    for epoch in range(epochs):
        for xb, yb in zip(x.split(32), torch.chunk(y, 4)):
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    handle.remove()
    model.eval()
    with torch.no_grad():
        logits = model(x)
        probs = logits.softmax(dim=1)
        top2 = logits.topk(2, dim=1).indices
        top2_acc = (top2 == y.unsqueeze(1)).any(dim=1).float().mean().item()
        pred = logits.argmax(dim=1)
        counts = torch.bincount(pred, minlength=N_CLASSES)
        p_true = probs.gather(1, y.unsqueeze(1)).squeeze(1)
        conf, order = probs.max(dim=1).values.sort(descending=True)
        hardest = torch.argsort(p_true)[:5]
    return losses, {"top2_acc": top2_acc, "counts": counts.tolist(), "p_true_mean": p_true.mean().item(),
                    "conf_top": conf[:3].tolist(), "hardest_p": p_true[hardest].tolist(),
                    "hook_calls": float(len(features))}
