"""Adversarial checks of the issue-15 engine changes (review): ``_run_plain`` (backward()) against
``_run`` (gg.grad, create_graph), ops that keep an input only when a gradient reads it
(``vjp_reads``), the ReLU VJP written into its upstream gradient, and PyTorch CPU as the reference."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import gpugrad as gg

from op_table import ALL, BINARY_SHAPES, OpCase, sample

# Ops with ``vjp_reads`` that the op table lacks (remainder; the batched product; linear_relu without bias).
EXTRA = [
    OpCase("remainder", lambda x, y: x % y, np.remainder, [((3, 4), (3, 4)), ((2, 3), ())], domain="positive"),
    OpCase("bmm", lambda x, y: x @ y, np.matmul, [((2, 3, 4), (2, 4, 5))]),
    OpCase("linear_relu_nobias", lambda x, w: gg.nn.functional.linear(x, w, activation="relu"),
           lambda x, w: np.maximum(x @ w.T, 0), [((3, 4), (5, 4))], domain="linear_relu"),
    OpCase("pow_bcast", lambda x, y: x ** y, np.power, BINARY_SHAPES[2:4], domain="positive"),
]


def _subsets(n):
    return [s for r in range(1, n + 1) for s in itertools.combinations(range(n), r)]


@pytest.mark.parametrize("case", ALL + EXTRA, ids=lambda c: c.name)
def test_any_subset_of_inputs_wanting_a_gradient_gets_the_same_gradients(case):
    """An op may keep an input only when the VJP of an input that wants a gradient reads it; the
    gradients of any subset of inputs must equal those with every input wanting one (pow once read
    its unsaved exponent for the exponent's own gradient: TypeError on Meta), on both walks."""
    rng = np.random.default_rng(0)
    for shapes in case.shapes[:2]:
        arrays = [sample(s, case.domain, rng) for s in shapes]
        full = [gg.tensor(a, requires_grad=True) for a in arrays]
        case.fn(*full).sum().backward()
        for subset in _subsets(len(arrays)):
            for walk in ("backward", "grad"):
                ts = [gg.tensor(a, requires_grad=i in subset) for i, a in enumerate(arrays)]
                out = case.fn(*ts).sum()
                wanted = [ts[i] for i in subset]
                if walk == "backward":
                    out.backward()
                    got = [t.grad for t in wanted]
                else:
                    got = gg.grad(out, wanted)
                for i, g in zip(subset, got):
                    np.testing.assert_array_equal(g.numpy(), full[i].grad.numpy(),
                                                  err_msg=f"{case.name} {shapes} subset {subset} {walk}")


def test_writing_the_output_of_remainder_in_place_keeps_its_gradient():
    """remainder's VJPs read x and y, never the output (PyTorch saves no result for it): an
    in-place write to x % y after the op (under no_grad) must not raise 'modified in place'."""
    torch = pytest.importorskip("torch")
    x0, y0 = np.array([5.5, -3.0, 7.25]), np.array([2.0, 2.5, -3.0])
    x, y = gg.tensor(x0, dtype=np.float64, requires_grad=True), gg.tensor(y0, dtype=np.float64, requires_grad=True)
    z = (x * 1.0) % (y * 1.0)
    with gg.no_grad():
        z.mul_(3.0)
    z.backward(gg.ones_like(z))
    tx, ty = torch.tensor(x0, requires_grad=True), torch.tensor(y0, requires_grad=True)
    tz = (tx * 1.0) % (ty * 1.0)
    with torch.no_grad():
        tz.mul_(3.0)
    tz.backward(torch.ones_like(tz))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_remainder_of_an_integer_tensor_by_a_float_one_same_gradient_with_create_graph(dtype):
    """x % y with x an integer Tensor: y's gradient -floor(x / y) is a float; under create_graph it
    was cast to x's integer dtype (2**63 - 1 from an overflow, or the quotient truncated), so
    gg.grad(create_graph=True) disagreed with backward() and PyTorch."""
    torch = pytest.importorskip("torch")
    x0 = np.array([7, -3, 1, 1000000])
    y0 = np.array([0.3, 2.5, 1e-30, 0.7], dtype=dtype)
    t_y = torch.tensor(y0, requires_grad=True)
    (torch.tensor(x0) % t_y).sum().backward()
    y = gg.tensor(y0, dtype=dtype, requires_grad=True)
    (gg.tensor(x0) % y).sum().backward()
    g_graph, = gg.grad((gg.tensor(x0) % y).sum(), y, create_graph=True)
    assert g_graph.dtype == y.dtype
    np.testing.assert_allclose(y.grad.numpy(), t_y.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(g_graph.numpy(), t_y.grad.numpy(), rtol=1e-6)


# -- random graphs: backward() (_run_plain) against gg.grad (_run), create_graph and PyTorch ----------
_SHAPES = [(2, 3), (3,), (), (2, 1)]


def _program(lib, seed, leaves, hook_log):
    """A random graph of seed ``seed`` on ``lib`` (gpugrad or torch), the same steps on both:
    ReLUs (shared gradients, outputs used twice), broadcasting binary ops, detach, views, scalars,
    hooks that record (and sometimes scale) their gradient, retain_grad. Returns (roots, retained)."""
    T = lib.__name__ == "torch"
    relu = lib.relu
    rng = np.random.default_rng(seed)
    pool, retained = list(leaves), []
    for _ in range(int(rng.integers(3, 12))):
        k = int(rng.integers(0, 16))
        a, b = pool[int(rng.integers(0, len(pool)))], pool[int(rng.integers(0, len(pool)))]
        v = {0: lambda: relu(a), 1: lambda: relu(a), 2: lambda: relu(a) + relu(b), 3: lambda: a + b,
             4: lambda: a * b, 5: lambda: a - b, 6: lambda: lib.maximum(a, b), 7: lambda: lib.minimum(a, b),
             8: lambda: lib.sigmoid(a) * 2.0, 9: lambda: 1.5 - lib.tanh(a), 10: lambda: a.detach() * b,
             11: lambda: (a.expand(2, 3) if T else gg.broadcast_to(a, (2, 3))) if tuple(a.shape) != (2, 3)
             else a + 0.0,
             12: lambda: (a.sum(dim=-1, keepdim=True) if T else a.sum(axis=-1, keepdims=True)) if a.ndim
             else a * 3,
             13: lambda: relu(relu(a) + relu(0.5 - a)), 14: lambda: a ** 2,   # one gradient, two ReLUs
             15: lambda: relu(a) * relu(a)}[k]()
        if v.requires_grad:
            r = float(rng.random())
            if r < 0.15:
                v.retain_grad()
                retained.append(v)
            elif r < 0.3:
                scale, log = float(rng.choice([1.0, 0.5, -2.0])), []
                hook_log.append(log)

                def hook(g, log=log, scale=scale):
                    log.append((g, (g.detach().numpy() if T else g.numpy()).copy()))
                    return g * scale if scale != 1.0 else None
                v.register_hook(hook)
        pool.append(v)
    outs = [p for p in pool[len(leaves):] if p.requires_grad] or [leaves[0] * 1.0]
    if rng.random() < 0.5:          # every result a root: every step reaches the leaves
        return outs, retained
    picks = sorted({int(i) for i in rng.integers(0, len(outs), size=int(rng.integers(1, 3)))})
    return [outs[i] for i in picks], retained


def _leaves(seed, dtype):
    rng = np.random.default_rng(seed + 7)
    out = []
    for _ in range(3):
        a = rng.standard_normal(_SHAPES[int(rng.integers(0, len(_SHAPES)))])
        a[np.abs(a) < 0.05] = 0.3        # away from ties of maximum/minimum
        if a.size > 1 and rng.random() < 0.3:
            a.flat[0] = 0.0              # ReLU's kink: gradient 0 there, as PyTorch
        out.append(a.astype(dtype))
    return out


def _run_gpugrad(seed, dtype, walk):
    leaves = [gg.tensor(a, dtype=dtype, requires_grad=i != 2) for i, a in enumerate(_leaves(seed, dtype))]
    hook_log = []
    roots, retained = _program(gg, seed, leaves, hook_log)
    rng = np.random.default_rng(seed + 1)
    user = [rng.standard_normal(r.shape).astype(dtype) for r in roots]
    grad_tensors = [gg.tensor(u.copy(), dtype=dtype) for u in user]
    wanted = leaves[:2]
    if walk == "backward":   # twice: the second accumulates into .grad
        gg.backward(roots, grad_tensors, retain_graph=True)
        gg.backward(roots, grad_tensors)
        grads = [None if t.grad is None else t.grad.numpy() for t in wanted]
    else:
        kw = dict(allow_unused=True, create_graph=walk == "create_graph")
        first = gg.grad(roots, wanted, grad_tensors, retain_graph=True, **kw)
        second = gg.grad(roots, wanted, grad_tensors, **kw)
        grads = [None if a is None else a.detach().numpy() + b.detach().numpy() for a, b in zip(first, second)]
    for u, t in zip(user, grad_tensors):          # nothing the user holds was written into
        np.testing.assert_array_equal(t.numpy(), u)
    for log in hook_log:
        for t, copy in log:
            np.testing.assert_array_equal(t.numpy(), copy)
    hooks = [[c for _, c in log] for log in hook_log]
    kept = [None if t.grad is None else t.grad.numpy() for t in retained] if walk == "backward" else None
    return grads, hooks, kept


def _run_torch(seed):
    import torch
    leaves = [torch.tensor(a, requires_grad=i != 2) for i, a in enumerate(_leaves(seed, np.float64))]
    hook_log = []
    roots, retained = _program(torch, seed, leaves, hook_log)
    rng = np.random.default_rng(seed + 1)
    user = [torch.tensor(rng.standard_normal(tuple(r.shape))) for r in roots]
    torch.autograd.backward(roots, user, retain_graph=True)
    torch.autograd.backward(roots, user)
    grads = [None if t.grad is None else t.grad.numpy() for t in leaves[:2]]
    return grads, [[c for _, c in log] for log in hook_log], [None if t.grad is None else t.grad.numpy()
                                                               for t in retained]


def _same(a, b, exact):
    if a is None or b is None:   # gpugrad may leave None where PyTorch has zeros, or the reverse
        return (a is None or not np.any(a)) and (b is None or not np.any(b))
    if exact:
        return a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return np.allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(60))
def test_random_graphs_backward_equals_grad_create_graph_and_pytorch(seed):
    """backward() walks in _run_plain, with the ReLU VJP written into engine-owned gradients;
    gg.grad walks in _run. Leaf gradients and hook arguments must be bit-identical between them
    (float16/32/64), close under create_graph, and match PyTorch (float64), with hooks, retained
    gradients and the user's grad_tensors intact."""
    torch = pytest.importorskip("torch")
    for dtype in (np.float64, np.float32, np.float16):
        plain, by_grad = _run_gpugrad(seed, dtype, "backward"), _run_gpugrad(seed, dtype, "grad")
        for a, b in zip(plain[0], by_grad[0]):
            assert _same(a, b, exact=True), (dtype, a, b)
        for ha, hb in zip(plain[1], by_grad[1]):
            assert all(_same(a, b, exact=True) for a, b in zip(ha, hb)), dtype
        if dtype == np.float64:
            graph = _run_gpugrad(seed, dtype, "create_graph")
            for a, b in zip(plain[0], graph[0]):
                assert _same(a, b, exact=False), (a, b)
            ref = _run_torch(seed)
            for a, b in zip(plain[0], ref[0]):
                assert _same(a, b, exact=False), (a, b)
            for ha, hb in zip(plain[1], ref[1]):
                assert len(ha) == len(hb) and all(_same(a, b, exact=False) for a, b in zip(ha, hb))
            for a, b in zip(plain[2], ref[2]):
                assert _same(a, b, exact=False), (a, b)
