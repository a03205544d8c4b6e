"""Deliberately bad kernels, for the test that shows the SASS checker fails them
(tests/kernels/test_sass_checks.py). Loaded by ``python -m gpugrad.kernels._sass --specs-from``.

* ``bad_rolled_matmul``: a 4x4-per-thread product whose k loop has a run-time trip count, so it
  stays a loop of 16 FFMA among its loads and index math (far under 80% FFMA);
* ``bad_aliasing_relu``: a grid-stride relu unrolled 4x but written load-store, load-store: the
  output may alias the input, so the compiler must keep each load after the previous store (one
  load in flight), and it indexes with signed 64-bit integers (wraparound, 64-bit IMAD);
* ``bad_f64_relu``: a float32 kernel that compares against a Python float literal's float64.
"""
from gpugrad.kernels import _launch as L

cuda = None


def _rolled():
    global cuda
    import numba
    cuda = L.numba_cuda()
    f32 = numba.float32

    def bad_rolled_matmul(a, b, c, K):
        acc = cuda.local.array((4, 4), f32)
        ty = cuda.threadIdx.y
        tx = cuda.threadIdx.x
        for i in range(4):
            for j in range(4):
                acc[i, j] = f32(0)
        for k in range(K):
            for i in range(4):
                for j in range(4):
                    acc[i, j] += a[ty * 4 + i, k] * b[k, tx * 4 + j]
        for i in range(4):
            for j in range(4):
                c[ty * 4 + i, tx * 4 + j] = acc[i, j]

    return bad_rolled_matmul


def _aliasing():
    global cuda
    import numba
    cuda = L.numba_cuda()
    ZERO = numba.float32(0)

    def bad_aliasing_relu(x, y, n):
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i + 3 * stride < n:
            for u in range(4):
                v = x[i + u * stride]
                y[i + u * stride] = ZERO if v < ZERO else v
            i += 4 * stride

    return bad_aliasing_relu


def _f64():
    global cuda
    cuda = L.numba_cuda()

    def bad_f64_relu(x, y, n):
        i = cuda.grid(1)
        if i < n:
            y[i] = x[i] * 0.1   # 0.1 is a float64: the product is computed in float64

    return bad_f64_relu


def specs():
    m, v = "float32[:, ::1]", "float32[::1]"
    return [
        L.KernelSpec("bad_rolled_matmul", "float32", _rolled, f"void({m}, {m}, {m}, int64)", 256,
                     meta=dict(kind="matmul", config=(64, 64, 8, 4, 4))),
        L.KernelSpec("bad_aliasing_relu", "float32", _aliasing, f"void({v}, {v}, int64)", 256,
                     meta=dict(kind="elementwise", elements_per_trip=4)),
        L.KernelSpec("bad_f64_relu", "float32", _f64, f"void({v}, {v}, int64)", 256,
                     meta=dict(kind="other")),
    ]
