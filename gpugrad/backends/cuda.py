"""The CUDA backend: CuPy arrays on one GPU; matmul, relu and bias_sigmoid (forward and VJP) go to
the hand-written Numba kernels or to cuBLAS/CuPy, as the kernel policy says. Every other op is CuPy.

Everything is queued on CuPy's current stream (the Numba launches too); nothing here waits for
the GPU. Out-of-memory errors are re-raised as MemoryError with the sizes involved.
"""
from __future__ import annotations

from .kernel_backend import KernelBackend

# cuBLAS math modes (cublas_api.h): default, and TF32 tensor-op math for float32 GEMMs.
_CUBLAS_DEFAULT_MATH = 0
_CUBLAS_TF32_TENSOR_OP_MATH = 3


class CudaBackend(KernelBackend):
    """CuPy storage on GPU ``index``."""

    name = "cuda"

    def __init__(self, index: int = 0):
        import cupy
        import cupyx
        super().__init__(cupy)
        self.index = index
        self._cupyx = cupyx
        n = cupy.cuda.runtime.getDeviceCount()
        if not 0 <= index < n:
            raise ValueError(f"device cuda:{index} does not exist: this machine has {n} GPU(s)")
        self.device = cupy.cuda.Device(index)
        _pin_fp32_compute_type(cupy)

    def vendor_matmul(self, a, b, trans_a, trans_b, tf32=False):
        left = a.T if trans_a else a
        right = b.T if trans_b else b
        if not tf32 or a.dtype != self.xp.float32:
            return left @ right
        from cupy_backends.cuda.libs import cublas
        handle = self.xp.cuda.device.get_cublas_handle()
        cublas.setMathMode(handle, _CUBLAS_TF32_TENSOR_OP_MATH)
        try:
            return left @ right
        finally:
            cublas.setMathMode(handle, _CUBLAS_DEFAULT_MATH)

    # The vendor path of the kernel ops (policy "cupy"): one fused CuPy elementwise kernel each, the
    # fair baseline for the Numba kernels. bias_sigmoid_vjp and bias_relu_vjp need no line: their
    # formulas (ops/activation.py) call sigmoid_vjp / relu_vjp, then a column sum.
    KERNELS = {"sigmoid": "_ew_sigmoid", "sigmoid_vjp": "_ew_sigmoid_vjp", "bias_sigmoid": "_ew_bias_sigmoid",
               "relu_vjp": "_ew_relu_vjp"}

    def _ew_sigmoid(self, x):
        return _elementwise("sigmoid")(x)

    def _ew_sigmoid_vjp(self, g, h):
        return _elementwise("sigmoid_vjp")(g, h)

    def _ew_bias_sigmoid(self, z, b):
        return _elementwise("sigmoid_bias")(z, b)      # b broadcasts over the rows of z

    def _ew_relu_vjp(self, g, y):
        return _elementwise("relu_vjp")(g, y)

    # -- optimizer updates: one fused elementwise kernel per parameter ------------------------------
    # Hyperparameters are passed as kernel scalars, so a schedule changing lr between steps needs no
    # recompilation; step counts that enter the formula (Adam, Adagrad) live on the device and are
    # advanced there, so a captured CUDA graph replays with the right bias corrections / decay.
    def sgd_update(self, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, maximize=False):
        t = p.dtype.type
        if momentum == 0:
            _elementwise("sgd")(g, t(lr), t(weight_decay), int(maximize), p)
            return None
        if buf is None:   # first step: the buffer starts as the (decayed) gradient
            buf = self.xp.empty_like(p)
            first = 1
        else:
            first = 0
        _elementwise("sgd_momentum")(g, t(lr), t(momentum), t(1 - dampening), t(weight_decay), int(nesterov),
                                     first, int(maximize), p, buf)
        return buf

    def adam_update(self, p, g, state, lr, beta1, beta2, eps, weight_decay, decoupled, amsgrad=False,
                    maximize=False):
        step = _device_step(self.xp, state)
        args = (g, step, float(lr), float(beta1), float(beta2), float(eps), float(weight_decay), int(decoupled),
                int(maximize), p, state["exp_avg"], state["exp_avg_sq"])
        if amsgrad:
            _elementwise("adam_amsgrad")(*args, state["max_exp_avg_sq"])
        else:
            _elementwise("adam")(*args)

    def rmsprop_update(self, p, g, state, lr, alpha, eps, weight_decay, momentum, centered, maximize=False):
        state["step"] += 1      # not in the formula: a host count, as in PyTorch's state
        t = p.dtype.type
        name = "rmsprop" + ("_centered" if centered else "") + ("_momentum" if momentum > 0 else "")
        outs = [p, state["square_avg"]] + ([state["grad_avg"]] if centered else []) + (
            [state["momentum_buffer"]] if momentum > 0 else [])
        _elementwise(name)(g, t(lr), t(alpha), t(eps), t(weight_decay), t(momentum), int(maximize), *outs)

    def adagrad_update(self, p, g, state, lr, lr_decay, weight_decay, eps, maximize=False):
        step = _device_step(self.xp, state)
        _elementwise("adagrad")(g, step, float(lr), float(lr_decay), float(weight_decay), float(eps),
                                int(maximize), p, state["sum"])

    def add_at(self, target, index, values):
        self._cupyx.scatter_add(target, index, values)

    def asarray(self, data, dtype=None):
        with self.device:
            return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, a):
        return self.xp.asnumpy(a)


def _device_step(xp, state):
    """Advance ``state["step"]`` on the device, first turning a host count into a 1-element array."""
    step = state["step"]
    # isinstance, not hasattr(step, "device"): NumPy 2 scalars have .device too, and a scalar
    # (e.g. a restored count) must become a device array as much as a Python int.
    if not isinstance(step, xp.ndarray):
        step = state["step"] = xp.full((1,), int(step), dtype=xp.int64)
    step += 1
    return step


def _pin_fp32_compute_type(cupy) -> None:
    """Make float32 cupy.matmul use CUBLAS_COMPUTE_32F, so only the handle's math mode (set by the
    "cublas-tf32" policy) turns TF32 on: CUPY_TF32=1 in the environment would otherwise make the
    "cublas" policy TF32 behind the user's back."""
    try:
        from cupy._core import _routines_linalg as rl
        rl.set_compute_type(cupy.float32, rl.COMPUTE_TYPE_DEFAULT)
    except Exception:  # a CuPy without this internal: CUPY_TF32 then decides, as CuPy documents
        pass


def _adam_kernel(amsgrad: bool):
    """Adam/AdamW (decoupled) with or without amsgrad's running max of v. Bias corrections in double
    from the device step count (PyTorch computes them on the host)."""
    return (
        "T g, raw int64 step, float64 lr, float64 b1, float64 b2, float64 eps, float64 wd, "
        "int32 decoupled, int32 maximize", "T p, T m, T v" + (", T vmax" if amsgrad else ""),
        """
        const double t = (double)step[0];
        T d = maximize ? -g : g;
        if (decoupled) { p = p * (T)(1.0 - lr * wd); } else { d = d + (T)wd * p; }
        m = (T)b1 * m + (T)(1.0 - b1) * d;
        v = (T)b2 * v + (T)(1.0 - b2) * d * d;
        """ + ("vmax = max(vmax, v);\n" if amsgrad else "") + """
        const T step_size = (T)(lr / (1.0 - pow(b1, t)));
        const T bc2_sqrt = (T)sqrt(1.0 - pow(b2, t));
        p -= step_size * m / (sqrt(""" + ("vmax" if amsgrad else "v") + """) / bc2_sqrt + (T)eps);
        """)


def _rmsprop_kernel(centered: bool, momentum: bool):
    """RMSprop: the running mean of g^2 (minus the squared mean of g when centered), then a momentum
    buffer of the normalised step or the step itself."""
    outs = "T p, T sq" + (", T ga" if centered else "") + (", T buf" if momentum else "")
    body = """
        const T d = (maximize ? -g : g) + wd * p;
        sq = alpha * sq + ((T)1 - alpha) * d * d;
        """ + ("""ga = alpha * ga + ((T)1 - alpha) * d;
        const T avg = sqrt(sq - ga * ga) + eps;
        """ if centered else """const T avg = sqrt(sq) + eps;
        """) + ("""buf = mom * buf + d / avg;
        p -= lr * buf;
        """ if momentum else """p -= lr * (d / avg);
        """)
    return ("T g, T lr, T alpha, T eps, T wd, T mom, int32 maximize", outs, body)


# Every fused CuPy kernel of this backend, as (input params, output params, body) for
# cupy.ElementwiseKernel. Plain data, so tests compile the bodies with nvcc on a machine without
# a GPU (tests/test_cuda_kernel_sources.py).
# sigmoid without overflow: only exp(-|s|) is evaluated (as in the Numba kernel and on the CPU).
_SIGMOID = "T e = exp(-fabs(s)); y = s >= 0 ? (T)1 / ((T)1 + e) : e / ((T)1 + e);"
ELEMENTWISE_KERNELS = {
    "sigmoid": ("T x", "T y", "T s = x; " + _SIGMOID),
    "sigmoid_bias": ("T z, T b", "T y", "T s = z + b; " + _SIGMOID),
    "sigmoid_vjp": ("T g, T h", "T dz", "dz = g * h * ((T)1 - h);"),
    "relu_vjp": ("T g, T y", "T dx", "dx = y > (T)0 ? g : (T)0;"),
    # The optimizers: PyTorch's formulas (the CPU backend's, gpugrad/backends/base.py), one pass.
    "sgd": ("T g, T lr, T wd, int32 maximize", "T p", "p -= lr * ((maximize ? -g : g) + wd * p);"),
    "sgd_momentum": (
        "T g, T lr, T mom, T keep, T wd, int32 nesterov, int32 first, int32 maximize", "T p, T buf",
        """
        T d = (maximize ? -g : g) + wd * p;
        buf = first ? d : mom * buf + keep * d;
        p -= lr * (nesterov ? d + mom * buf : buf);
        """),
    **{name: _adam_kernel(amsgrad) for name, amsgrad in (("adam", False), ("adam_amsgrad", True))},
    **{"rmsprop" + ("_centered" if c else "") + ("_momentum" if m else ""): _rmsprop_kernel(c, m)
       for c in (False, True) for m in (False, True)},
    # lr / (1 + (step - 1) * lr_decay) in double from the device step count, as PyTorch does on the host.
    "adagrad": (
        "T g, raw int64 step, float64 lr, float64 lr_decay, float64 wd, float64 eps, int32 maximize",
        "T p, T s",
        """
        const T clr = (T)(lr / (1.0 + ((double)step[0] - 1.0) * lr_decay));
        const T d = (maximize ? -g : g) + (T)wd * p;
        s += d * d;
        p -= clr * d / (sqrt(s) + (T)eps);
        """),
}

_kernels: dict = {}


def _elementwise(name):
    """The compiled CuPy kernel ``name`` of ELEMENTWISE_KERNELS (built on first use)."""
    k = _kernels.get(name)
    if k is None:
        import cupy
        k = _kernels[name] = cupy.ElementwiseKernel(*ELEMENTWISE_KERNELS[name], f"gpugrad_{name}")
    return k
