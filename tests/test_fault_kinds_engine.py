"""Issue 10's engine-level fault kinds, each a case from a peer project's bug report.

Kind 2: in-place changes through an alias (detach(), .data, views) are caught by the version
counter, which every tensor sharing a storage shares (PyTorch's rule: one counter per storage).
Kind 3: no gradient handed to the user aliases an array the user holds or another gradient.
Kind 4: 0-d tensors stay 0-d and array-backed on every path.
Kind 9: detect_anomaly tells the library's frames by module, not by a "/gpugrad/" path.
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gpugrad as gg

MODIFIED = "modified in place"


# -- kind 2: aliases share the version counter ----------------------------------------------------
def _w_x():
    return (gg.tensor([1., 2.], requires_grad=True), gg.tensor([3., 4.], requires_grad=True))


ALIASES = {
    "detach": lambda w: w.detach(),
    "data": lambda w: w.data,
    "slice": lambda w: w[0:2],
    "transpose": lambda w: w.reshape(1, 2).T,
    "reshape": lambda w: w.reshape(2, 1),
    "view": lambda w: w.view(2, 1),
    "permute": lambda w: w.reshape(1, 2).permute(1, 0),
    "detach_of_view": lambda w: w[:].detach(),
    "view_of_detach": lambda w: w.detach()[:],
}


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_saved_alias_then_inplace_on_original_raises(alias):
    w, x = _w_x()
    a = ALIASES[alias](w)
    y = (x * a.detach().reshape(2)).sum()
    with gg.no_grad():
        w -= 10.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_inplace_through_alias_on_saved_original_raises(alias):
    w, x = _w_x()
    y = (x * w).sum()                       # mul saves w itself
    a = ALIASES[alias](w)
    with gg.no_grad():
        a.mul_(2.0) if hasattr(a, "mul_") else a.__imul__(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


SAVED_OUTPUT_OPS = {   # ops whose VJP reads their own output (save_ans)
    "exp": lambda x: x.exp(), "sigmoid": lambda x: x.sigmoid(), "tanh": lambda x: x.tanh(),
    "sqrt": lambda x: x.sqrt(), "relu": lambda x: x.relu(), "softmax": lambda x: gg.softmax(x, axis=0),
    "log_softmax": lambda x: gg.log_softmax(x, axis=0), "logsumexp": lambda x: gg.logsumexp(x, axis=0),
    "max": lambda x: x.max(axis=0), "div": lambda x: 1.0 / x, "pow": lambda x: x ** x,
    "bias_sigmoid": lambda x: gg.nn.functional.bias_sigmoid(x.reshape(1, 2), x),
}
WRITES = {
    "mul_": lambda y: y.mul_(0.5), "isub": lambda y: y.__isub__(1.0), "data": lambda y: y.data.mul_(0.5),
    "detach": lambda y: y.detach().mul_(0.5), "view": lambda y: y.reshape(-1)[0:1].mul_(0.5),
}


@pytest.mark.parametrize("write", sorted(WRITES))
@pytest.mark.parametrize("op", sorted(SAVED_OUTPUT_OPS))
def test_inplace_on_a_saved_output_raises(op, write):
    # y's VJP reads y: changing y after the op ran would give a wrong gradient (was silent).
    x = gg.tensor([1., 2.], requires_grad=True)
    y = SAVED_OUTPUT_OPS[op](x)
    z = y.sum()                     # sum saves nothing: only y's own op can notice
    with gg.no_grad():
        WRITES[write](y)
    with pytest.raises(RuntimeError, match="output of op"):
        z.backward()


def test_the_issue_case_detach_then_inplace():
    w, x = _w_x()
    y = (x * w.detach()).sum()
    with gg.no_grad():
        w -= 10.0
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_optimizer_step_invalidates_graph_saved_through_detach():
    w, x = _w_x()
    y = (x * w.detach()).sum()
    w.grad = gg.ones(2)
    gg.optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_setitem_through_view_bumps_the_shared_counter():
    w, x = _w_x()
    y = (x * w.detach()).sum()
    v = w.detach()[1:]
    v[0] = 5.0
    assert w.numpy()[1] == 5.0             # a view: the write reached w
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_unrelated_inplace_does_not_raise():
    w, x = _w_x()
    y = (x * w.detach()).sum()
    other = w.detach().clone() if hasattr(w, "clone") else gg.tensor(w.numpy())
    with gg.no_grad():
        other -= 10.0                       # a copy, not an alias
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1., 2.])


# -- kind 2, the other side: an input that no wanted gradient reads is not kept ---------------------
# PyTorch saves ``other`` for ``self``'s gradient only (derivatives.yaml): after ``z = h * c`` with
# only h wanting a gradient, h may be written in place, and its memory is not held by the graph.
# c is read by h's gradient, so writing c must still raise.
KEEPS_ONLY_THE_OTHER = {
    "mul": lambda m, h, c: h * c, "rmul": lambda m, h, c: c * h,
    "matmul": lambda m, h, c: h @ c, "rmatmul": lambda m, h, c: c @ h,
    "linear": lambda m, h, c: m.nn.functional.linear(h, c),
    "remainder": lambda m, h, c: m.remainder(h, c + 5.0),
}


def _h_and_c(m):
    x = m.tensor([[1., -2.], [3., 4.]], requires_grad=True)
    return x, x * 1.0, m.tensor([[0.5, 2.], [-1., 3.]])


@pytest.mark.parametrize("op", sorted(KEEPS_ONLY_THE_OTHER))
def test_writing_an_input_no_gradient_reads_is_allowed_as_in_pytorch(op):
    torch = pytest.importorskip("torch")
    grads = []
    for m in (gg, torch):
        x, h, c = _h_and_c(m)
        z = KEEPS_ONLY_THE_OTHER[op](m, h, c)
        with m.no_grad():
            h.mul_(3.0)                     # h's own gradient never reads h
        z.sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)


@pytest.mark.parametrize("op", sorted(KEEPS_ONLY_THE_OTHER))
def test_writing_the_input_a_gradient_reads_still_raises(op):
    x, h, c = _h_and_c(gg)
    z = KEEPS_ONLY_THE_OTHER[op](gg, h, c) if op != "remainder" else gg.remainder(h, c)
    with gg.no_grad():
        c.mul_(3.0)                         # read by h's gradient
    if op == "remainder":                   # h % c: h's gradient is g, it reads nothing
        z.sum().backward()
        return
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.sum().backward()


def test_an_input_no_gradient_reads_is_freed_with_its_tensor():
    import gc
    import weakref
    x = gg.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    h = x + 1.0                             # add keeps nothing
    z = (h * 2.0).sum()                     # mul by a constant: h's gradient is 2 g, h is not read
    ref = weakref.ref(h._data)
    del h
    gc.collect()
    assert ref() is None, "the graph still holds an array no gradient reads"
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((4, 3), 2.0, np.float32))


def test_data_is_a_detached_tensor_sharing_storage():
    w, _ = _w_x()
    d = w.data
    assert isinstance(d, gg.Tensor) and not d.requires_grad and d.grad_fn is None
    d[0] = 7.0
    assert w.numpy()[0] == 7.0


def test_data_update_idiom_changes_the_parameter_exactly_once():
    p = gg.tensor([1., 2.], requires_grad=True)
    (p * p).sum().backward()               # grad = 2p = [2, 4]
    p.data -= 0.5 * p.grad.data
    np.testing.assert_allclose(p.numpy(), [0., 0.])
    assert p.requires_grad and p.is_leaf


def test_data_assignment_replaces_values():
    p = gg.tensor([1., 2.], requires_grad=True)
    p.data = gg.tensor([5., 6.])
    np.testing.assert_array_equal(p.numpy(), [5., 6.])
    assert p.requires_grad
    with pytest.raises(TypeError, match="data"):
        p.data = "nope"


# -- kind 3: gradients never alias what the user holds -------------------------------------------
def test_hook_returning_user_tensor_is_not_mutated_by_accumulation():
    x = gg.tensor([1., 2.], requires_grad=True)
    h = gg.tensor([10., 10.])
    x.register_hook(lambda g: h)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [20., 20.])
    np.testing.assert_array_equal(h.numpy(), [10., 10.])


def test_hook_argument_kept_by_user_is_not_mutated():
    x = gg.tensor([1., 2.], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(g))
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0].numpy(), [3., 3.])
    np.testing.assert_array_equal(x.grad.numpy(), [6., 6.])


def test_nonleaf_hook_argument_kept_by_user_is_not_mutated():
    x = gg.tensor([1., 2.], requires_grad=True)
    seen = []
    y = x * 1.0
    y.register_hook(lambda g: seen.append(g))
    z = y + 0.0                               # add's VJP passes g through unchanged
    z.sum().backward(retain_graph=True)
    z.sum().backward()
    np.testing.assert_array_equal(seen[0].numpy(), [1., 1.])
    np.testing.assert_array_equal(x.grad.numpy(), [2., 2.])


def test_backward_grad_argument_is_not_mutated():
    x = gg.tensor([1., 2.], requires_grad=True)
    seed = gg.tensor([1., 1.])
    x.backward(seed)
    x.backward(seed)
    np.testing.assert_array_equal(seed.numpy(), [1., 1.])
    np.testing.assert_array_equal(x.grad.numpy(), [2., 2.])


def test_grad_results_share_no_memory():
    x = gg.tensor([1., 2.], requires_grad=True)
    y = gg.tensor([3., 4.], requires_grad=True)
    seed = gg.tensor([1., 1.])
    gx, gy = gg.grad(x + y, [x, y], grad_outputs=seed)
    arrays = [gx._data, gy._data, seed._data]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not np.shares_memory(arrays[i], arrays[j])


def test_hook_returning_user_tensor_under_create_graph():
    x = gg.tensor([1., 2.], requires_grad=True)
    h = gg.tensor([10., 10.], requires_grad=True)
    x.register_hook(lambda g: h)
    (x * 3).sum().backward(create_graph=True)
    assert x.grad is not h
    (x * 3).sum().backward(create_graph=True)
    np.testing.assert_array_equal(h.numpy(), [10., 10.])
    np.testing.assert_array_equal(x.grad.numpy(), [20., 20.])


# -- kind 4: 0-d tensors stay 0-d and array-backed ------------------------------------------------
def _is_0d_array(t):
    return isinstance(t._data, np.ndarray) and t._data.shape == ()


def test_0d_square_backward_item():
    x = gg.tensor(3.0, requires_grad=True)
    (x * x).backward()
    assert _is_0d_array(x.grad)
    assert x.grad.item() == 6.0


def test_0d_zero_grad_keeps_array():
    x = gg.tensor(3.0, requires_grad=True)
    (x * x).backward()
    opt = gg.optim.SGD([x], lr=0.1)
    opt.zero_grad(set_to_none=False)
    assert _is_0d_array(x.grad) and x.grad.item() == 0.0


@pytest.mark.parametrize("make_opt", [
    lambda p: gg.optim.SGD([p], lr=0.1),
    lambda p: gg.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True),
    lambda p: gg.optim.Adam([p], lr=0.1),
    lambda p: gg.optim.AdamW([p], lr=0.1),
], ids=["sgd", "nesterov", "adam", "adamw"])
def test_0d_parameter_through_optimizer_steps_and_state_dict(make_opt, tmp_path):
    p = gg.tensor(3.0, requires_grad=True)
    opt = make_opt(p)
    for _ in range(3):
        opt.zero_grad()
        (p * p + p).backward()
        opt.step()
        assert _is_0d_array(p) and _is_0d_array(p.grad)
    state = opt.state_dict()
    for per_param in state["state"].values():
        for v in per_param.values():
            if isinstance(v, gg.Tensor):
                assert _is_0d_array(v)
    opt2 = make_opt(gg.tensor(p.item(), requires_grad=True))
    opt2.load_state_dict(state)
    path = tmp_path / "p.npz"
    gg.save({"p": p}, path)
    back = gg.load(path)["p"]
    assert _is_0d_array(back) and back.item() == p.item()


@pytest.mark.parametrize("fn", [
    lambda x: x * x, lambda x: x + x, lambda x: (x * x).sum(), lambda x: x.mean(),
    lambda x: gg.exp(x) * x, lambda x: x.reshape(1).sum(), lambda x: gg.maximum(x, x),
    lambda x: gg.stack([x, x]).sum(), lambda x: x[None][0] * x,
], ids=["mul", "add", "sum", "mean", "exp_mul", "reshape", "maximum", "stack", "index"])
def test_0d_every_path_keeps_arrays(fn):
    x = gg.tensor(1.5, requires_grad=True)
    y = fn(x)
    assert _is_0d_array(y)
    y.backward()
    assert _is_0d_array(x.grad)
    y2 = fn(x)
    y2.backward()                     # accumulation into an existing 0-d grad
    assert _is_0d_array(x.grad)
    (g,) = gg.grad(fn(x), x)
    assert _is_0d_array(g)
    (g2,) = gg.grad(fn(x), x, create_graph=True)
    assert _is_0d_array(g2)


# -- kind 9: anomaly frames by module ------------------------------------------------------------
def test_detect_anomaly_names_user_line_in_a_folder_named_gpugrad(tmp_path):
    folder = tmp_path / "gpugrad" / "scripts"
    folder.mkdir(parents=True)
    script = folder / "user_script.py"
    script.write_text(textwrap.dedent("""
        import gpugrad as gg
        x = gg.tensor([0.0], requires_grad=True)
        with gg.detect_anomaly():
            try:
                y = gg.log(x)  # THE-USER-LINE
            except gg.AnomalyError as e:
                print(e)
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         cwd=str(folder), env={**os.environ}, timeout=120)
    assert "THE-USER-LINE" in out.stdout, out.stdout + out.stderr


# -- a no-op reshape/broadcast is still its own node, as PyTorch's view/expand -----------------------
NO_OP_VIEWS = {
    "reshape": lambda x: x.reshape(x.shape), "view": lambda x: x.view(*x.shape),
    "broadcast_to": lambda x: gg.broadcast_to(x, x.shape), "expand": lambda x: x.expand(*x.shape),
}


@pytest.mark.parametrize("make", sorted(NO_OP_VIEWS))
def test_a_hook_on_a_no_op_view_sees_only_its_own_gradient(make):
    # y = x.reshape(x.shape) returned x itself: a hook or retain_grad on y then acted on x, seeing
    # every use of x (8s here, where PyTorch's hook sees y's 3s).
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    y = NO_OP_VIEWS[make](x)
    assert y is not x
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    y.retain_grad()
    (y * 3.0 + x * 5.0).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 8.0])
    assert len(seen) == 1
