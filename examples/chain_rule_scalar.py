"""The scalar chain rule, checked against derivatives worked out by hand.

1. y = e^(sin(x^2)). By the chain rule, dy/dx = e^(sin(x^2)) * cos(x^2) * 2x.
2. z = f3(f2(f1(w))) with f1(w) = w^2, f2(u) = sin(u), f3(v) = exp(v), written as a chain of
   named intermediates: dz/dw = f3'(f2(f1(w))) * f2'(f1(w)) * f1'(w), each factor computed by
   hand, and also the intermediate gradients dz/du, dz/dv that ``retain_grad`` exposes.

Both run in float64, so autograd must agree with the hand formulas to ~1e-12.

Run: python examples/chain_rule_scalar.py
"""
from __future__ import annotations

import numpy as np

import gpugrad as gg

XS = (-2.0, -0.7, 0.0, 0.4, 1.0, 1.7, 3.0)
RTOL, ATOL = 1e-12, 1e-12


def exp_sin_square(xs=XS):
    """Autograd and hand-derived d/dx e^(sin(x^2)) at every x in ``xs`` (one vectorised graph)."""
    x = gg.tensor(np.asarray(xs), dtype=gg.float64, requires_grad=True)
    y = gg.exp(gg.sin(x * x))
    # Each y_i depends only on x_i, so the gradient of sum(y) is the elementwise derivative.
    y.sum().backward()
    xv = np.asarray(xs, dtype=np.float64)
    hand = 2 * xv * np.cos(xv ** 2) * np.exp(np.sin(xv ** 2))
    return x.grad.numpy().copy(), hand


def three_function_chain(w0: float):
    """dz/dw for z = exp(sin(w^2)) as a product of three hand-computed local derivatives."""
    w = gg.tensor(w0, dtype=gg.float64, requires_grad=True)
    u = w ** 2            # f1
    v = gg.sin(u)         # f2
    z = gg.exp(v)         # f3
    u.retain_grad()
    v.retain_grad()
    z.backward()

    f1 = w0 ** 2
    f2 = np.sin(f1)
    d_f3 = np.exp(f2)      # f3'(f2(f1(w)))
    d_f2 = np.cos(f1)      # f2'(f1(w))
    d_f1 = 2 * w0          # f1'(w)
    return {
        "dz/dw": (w.grad.item(), d_f3 * d_f2 * d_f1),
        "dz/dv": (v.grad.item(), d_f3),            # the chain cut after f3
        "dz/du": (u.grad.item(), d_f3 * d_f2),     # ... and after f2
    }


def main() -> dict:
    auto, hand = exp_sin_square()
    np.testing.assert_allclose(auto, hand, rtol=RTOL, atol=ATOL)
    print("d/dx e^(sin(x^2)) = 2x cos(x^2) e^(sin(x^2))")
    for x, a, h in zip(XS, auto, hand):
        print(f"  x = {x:5.2f}   autograd {a: .15f}   hand {h: .15f}")

    chain = {}
    print("z = exp(sin(w^2)) = f3(f2(f1(w))): dz/dw = f3'(f2(f1(w))) f2'(f1(w)) f1'(w)")
    for w0 in (-1.3, 0.5, 2.2):
        parts = three_function_chain(w0)
        for name, (a, h) in parts.items():
            np.testing.assert_allclose(a, h, rtol=RTOL, atol=ATOL, err_msg=f"{name} at w={w0}")
        chain[w0] = parts["dz/dw"][0]
        print(f"  w = {w0:5.2f}   " + "   ".join(f"{k} {a: .12f}" for k, (a, _) in parts.items()))
    return {"exp_sin_square": dict(zip(XS, auto.tolist())), "chain_dz_dw": chain}


if __name__ == "__main__":
    main()
