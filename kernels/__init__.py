"""Hand-written Numba CUDA kernels (installed as ``gpugrad.kernels``).

Public API (the CUDA backend calls exactly these)::

    matmul(a, b, *, trans_a=False, trans_b=False, bias=None, relu=False, out=None) -> c
    relu(x, *, out=None) -> y
    relu_vjp(g, x, *, out=None) -> dx              # g * (x > 0)
    bias_sigmoid(z, b, *, out=None) -> h           # sigmoid(z + b[None, :])
    bias_sigmoid_vjp(g, h) -> (dz, db)
    bias_relu_vjp(g, y) -> (dz, db)                # dz = (y <= 0 ? 0 : g), db = dz.sum(0), one pass
    cross_entropy(x, t, w=None, *, ignore_index, label_smoothing, mean) -> [loss, denominator]
    cross_entropy_vjp(g, x, t, w=None, ...) -> dx  # softmax cross-entropy of class targets

Arrays are CuPy arrays on a GPU (launched on CuPy's current stream, no host sync) or NumPy
arrays under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``). float32 and float64 only.
Importing this package imports neither numba nor cupy; kernels compile on first use.

``kernel_specs()`` lists every compiled variant (name, dtype, signature, block size, register
budget) for introspection and for the sm_90 resource check in ``gpugrad.kernels._resource_check``.
"""
from ._launch import KernelSpec, kernel_specs
from .bias_activation import bias_relu_vjp, bias_sigmoid, bias_sigmoid_vjp
from .cross_entropy import cross_entropy, cross_entropy_vjp
from .matmul import matmul
from .relu import relu, relu_vjp

__all__ = ["matmul", "relu", "relu_vjp", "bias_sigmoid", "bias_sigmoid_vjp", "bias_relu_vjp",
           "cross_entropy", "cross_entropy_vjp", "kernel_specs", "KernelSpec"]
