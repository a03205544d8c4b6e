"""A two-layer ReLU network trained by plain gradient descent, its gradients checked by hand.

    f(x) = relu(W2 relu(W1 x)),   x in R^n, W1 in R^{m x n}, W2 in R^{k x m},   n, m, k = 100, 10, 2

on P samples x_p with targets t_p, squared-error loss E = 1/(2P) sum_p |f(x_p) - t_p|^2.
Samples are the columns of X (n x P), so the batched forward reads like the formula:

    a1 = W1 X,  h1 = relu(a1),  a2 = W2 h1,  f = relu(a2)

and the chain rule written out by hand (summing over samples = one matrix product):

    delta2 = (f - t) * [a2 > 0] / P          dE/dW2 = delta2 h1^T
    delta1 = (W2^T delta2) * [a1 > 0]        dE/dW1 = delta1 x^T

The targets come from a "teacher" network of the same shape, so a perfect fit exists. Training
is w <- w - eta dE/dw; at several steps gpugrad's gradients are checked against the NumPy
formulas above (float64, tight tolerance), and the loss must fall by a large factor.

Run: python examples/two_layer_relu.py
"""
from __future__ import annotations

import numpy as np

import gpugrad as gg

N_IN, M_HIDDEN, K_OUT = 100, 10, 2
P = 64                       # samples
STEPS, LR = 300, 0.1
CHECK_AT = (0, 1, 10, 100, STEPS - 1)
MIN_LOSS_DROP = 100.0        # final loss must be at least this many times smaller than the first
RTOL, ATOL = 1e-10, 1e-13


def make_data(seed: int = 0):
    """Inputs X (n x P) and teacher targets T (k x P), plus the student's initial weights."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_IN, P))
    # Teacher and student both have W2 >= 0: with h1 >= 0 this keeps a2 mostly positive, so no
    # output unit starts dead (a dead output ReLU passes no gradient and would never learn).
    T1 = rng.standard_normal((M_HIDDEN, N_IN)) / np.sqrt(N_IN)
    T2 = np.abs(rng.standard_normal((K_OUT, M_HIDDEN))) / np.sqrt(M_HIDDEN)
    T = np.maximum(T2 @ np.maximum(T1 @ X, 0), 0)
    W1 = rng.standard_normal((M_HIDDEN, N_IN)) / np.sqrt(N_IN)
    W2 = np.abs(rng.standard_normal((K_OUT, M_HIDDEN))) / np.sqrt(M_HIDDEN)
    return X, T, W1, W2


def hand_gradients(X, T, W1, W2):
    """(E, dE/dW1, dE/dW2) by the formulas in the module docstring, in NumPy."""
    a1 = W1 @ X
    h1 = np.maximum(a1, 0)
    a2 = W2 @ h1
    f = np.maximum(a2, 0)
    E = 0.5 * np.sum((f - T) ** 2) / P
    delta2 = (f - T) * (a2 > 0) / P
    dW2 = delta2 @ h1.T
    delta1 = (W2.T @ delta2) * (a1 > 0)
    dW1 = delta1 @ X.T
    return E, dW1, dW2


def loss(W1, W2, X, T):
    f = gg.relu(W2 @ gg.relu(W1 @ X))
    d = f - T
    return (d * d).sum() / (2 * P)


def main() -> dict:
    Xv, Tv, W1v, W2v = make_data()
    X, T = gg.tensor(Xv, dtype=gg.float64), gg.tensor(Tv, dtype=gg.float64)
    W1 = gg.tensor(W1v, dtype=gg.float64, requires_grad=True)
    W2 = gg.tensor(W2v, dtype=gg.float64, requires_grad=True)

    losses, checked = [], []
    for step in range(STEPS):
        E = loss(W1, W2, X, T)
        E.backward()
        losses.append(E.item())
        if step in CHECK_AT:
            E_hand, dW1, dW2 = hand_gradients(Xv, Tv, W1.numpy(), W2.numpy())
            np.testing.assert_allclose(E.item(), E_hand, rtol=RTOL)
            np.testing.assert_allclose(W2.grad.numpy(), dW2, rtol=RTOL, atol=ATOL,
                                       err_msg=f"dE/dW2 at step {step}")
            np.testing.assert_allclose(W1.grad.numpy(), dW1, rtol=RTOL, atol=ATOL,
                                       err_msg=f"dE/dW1 at step {step}")
            checked.append(step)
            print(f"step {step:4d}  E = {E.item():.6e}  |dE/dW1| = {np.linalg.norm(dW1):.3e}  "
                  f"|dE/dW2| = {np.linalg.norm(dW2):.3e}  (autograd == hand formulas)")
        with gg.no_grad():
            W1 -= LR * W1.grad
            W2 -= LR * W2.grad
        W1.grad = W2.grad = None

    with gg.no_grad():
        final = loss(W1, W2, X, T).item()
    drop = losses[0] / final
    print(f"loss {losses[0]:.4e} -> {final:.4e} after {STEPS} steps of gradient descent "
          f"(eta = {LR}): {drop:.1f}x smaller")
    # A step size this small makes every step a descent step on this problem.
    rises = [i for i in range(1, STEPS) if losses[i] > losses[i - 1] * (1 + 1e-12)]
    assert not rises, f"the loss rose at steps {rises[:10]}"
    assert drop >= MIN_LOSS_DROP, f"loss fell only {drop:.1f}x (want >= {MIN_LOSS_DROP}x)"
    return {"initial_loss": losses[0], "final_loss": final, "loss_drop": drop,
            "checked_steps": checked}


if __name__ == "__main__":
    main()
