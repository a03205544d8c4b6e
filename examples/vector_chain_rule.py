"""The vector chain rule: grad_x z = (dy/dx)^T grad_y z.

y = tanh(A x) maps R^n -> R^m and z = f(y) = sum(y^2) / 2 + c.y is a scalar. Reverse mode never
builds the Jacobian dy/dx; this example builds it two ways to show what backward computes:

* by hand: dy_i/dx_j = (1 - y_i^2) A_ij, i.e. J = diag(1 - y^2) A;
* by m backward passes of y with one-hot upstream gradients e_i (row i of J each time);

and checks that one backward pass of z gives x.grad = J^T grad_y z, where grad_y z = y + c.

Run: python examples/vector_chain_rule.py
"""
from __future__ import annotations

import numpy as np

import gpugrad as gg

N, M = 5, 3
RTOL, ATOL = 1e-12, 1e-13


def _setup(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((M, N)), rng.standard_normal(N), rng.standard_normal(M)


def jacobian_by_backward(A, x0):
    """J[i, :] = the gradient of y_i, from m backward passes with one-hot ``grad`` (retain_graph)."""
    x = gg.tensor(x0, dtype=gg.float64, requires_grad=True)
    y = gg.tanh(gg.tensor(A, dtype=gg.float64) @ x)
    rows = []
    for i in range(M):
        (gi,) = gg.grad(y, [x], grad_outputs=[np.eye(M)[i]], retain_graph=True)
        rows.append(gi.numpy())
    return np.stack(rows)


def main() -> dict:
    A, x0, c = _setup()

    x = gg.tensor(x0, dtype=gg.float64, requires_grad=True)
    y = gg.tanh(gg.tensor(A, dtype=gg.float64) @ x)
    y.retain_grad()
    z = (y * y).sum() / 2 + (y * gg.tensor(c, dtype=gg.float64)).sum()
    z.backward()

    yv = np.tanh(A @ x0)
    np.testing.assert_allclose(y.numpy(), yv, rtol=RTOL, atol=ATOL)
    grad_y = yv + c                                   # dz/dy by hand
    np.testing.assert_allclose(y.grad.numpy(), grad_y, rtol=RTOL, atol=ATOL)

    J_hand = (1 - yv ** 2)[:, None] * A               # diag(1 - y^2) A, shape (m, n)
    J_auto = jacobian_by_backward(A, x0)
    np.testing.assert_allclose(J_auto, J_hand, rtol=RTOL, atol=ATOL)

    expected = J_hand.T @ grad_y                      # (dy/dx)^T grad_y z
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=RTOL, atol=ATOL)

    print(f"y = tanh(A x), A {A.shape}; z = |y|^2/2 + c.y")
    print("J = dy/dx (by hand; equal to m one-hot backward passes):")
    print(np.array2string(J_hand, precision=6, suppress_small=True))
    print(f"grad_y z        = {np.array2string(grad_y, precision=6)}")
    print(f"J^T grad_y z    = {np.array2string(expected, precision=6)}")
    print(f"x.grad          = {np.array2string(x.grad.numpy(), precision=6)}")
    return {"jacobian": J_hand, "grad_y": grad_y, "grad_x": x.grad.numpy().copy()}


if __name__ == "__main__":
    main()
