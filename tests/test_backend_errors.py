"""The engine re-says a backend's own errors through ``backend.translate_error`` (forward in
function.apply, VJPs in autograd), and never recognises a library's exception by its name."""
from __future__ import annotations

import types

import pytest

import gpugrad as gg
from gpugrad.backends import cuda as cuda_backend
from gpugrad.backends.cpu import CpuBackend
from gpugrad.op import defop


class LibraryError(Exception):
    """Stands for an array library's own error (e.g. CuPy's OutOfMemoryError)."""


def _boom(*args, **kwargs):
    raise LibraryError("asked for 8 GiB")


def _translate(self, exc, what, device):
    return MemoryError(f"{what} on {device}: {exc}") if isinstance(exc, LibraryError) else None


@pytest.fixture
def translating(monkeypatch):
    monkeypatch.setattr(CpuBackend, "translate_error", _translate)


def test_forward_errors_are_said_by_the_backend(translating):
    op = defop("explodes", lambda b, x: _boom())
    with pytest.raises(MemoryError, match=r"explodes on cpu: asked for 8 GiB"):
        op(gg.ones(3))


def test_backward_errors_are_said_by_the_backend(translating):
    op = defop("explodes_late", lambda b, x: x * 2)
    op.defvjp(lambda F, g, ans, x: _boom())
    y = op(gg.ones(3, requires_grad=True)).sum()
    with pytest.raises(MemoryError, match=r"backward of explodes_late on cpu: asked for 8 GiB"):
        y.backward()


def test_errors_the_backend_does_not_claim_pass_through_unchanged(translating):
    op = defop("fails", lambda b, x: (_ for _ in ()).throw(KeyError("k")))
    with pytest.raises(KeyError):
        op(gg.ones(3))


def test_the_cpu_backend_claims_no_error_even_one_named_out_of_memory():
    OutOfMemoryError = type("OutOfMemoryError", (Exception,), {})
    assert CpuBackend().translate_error(OutOfMemoryError("x"), "add", "cpu") is None


def test_the_cuda_backend_says_cupys_out_of_memory_with_the_pool_sizes(monkeypatch):
    oom = type("OutOfMemoryError", (Exception,), {})
    fake = types.SimpleNamespace(xp=types.SimpleNamespace(cuda=types.SimpleNamespace(
        memory=types.SimpleNamespace(OutOfMemoryError=oom))))
    said = cuda_backend.CudaBackend.translate_error(fake, oom("out of memory allocating 4096 bytes"), "matmul",
                                                    "cuda:0")
    assert isinstance(said, MemoryError)
    assert "matmul: out of GPU memory on cuda:0" in str(said) and "held by the pool" in str(said)
    assert cuda_backend.CudaBackend.translate_error(fake, ValueError("no"), "matmul", "cuda:0") is None
