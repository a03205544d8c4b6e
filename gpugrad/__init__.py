"""gpugrad: reverse-mode automatic differentiation for MLPs on NVIDIA GPUs.

Tensors hold NumPy arrays on "cpu" and CuPy arrays on "cuda"; ``backward()`` walks the recorded
graph applying each op's vector-Jacobian product.

>>> import gpugrad as gg
>>> x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4., 6.])
"""
from .torch_face import tensor_operators as _tensor_operators  # noqa: F401  (binds operators onto Tensor)
from .anomaly import AnomalyError, detect_anomaly
from .autograd import backward, grad
from .creation import (arange, empty, from_dlpack, from_numpy, full, manual_seed, ones, ones_like, rand,
                       randn, uniform, zeros, zeros_like)
from .device import Device, get_default_device, set_default_device
from .dtypes import get_default_dtype, set_default_dtype
from .gradcheck import GradcheckError, gradcheck
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .kernel_policy import get_kernels, set_kernels, use_kernels
from .ops import (abs, add, astype, bias_sigmoid, broadcast_to, clip, concatenate, cos, div, exp,
                  expand, expand_dims, flatten, linear, log, log_softmax, logsumexp, matmul, max, maximum,
                  mean, min, minimum, mul, neg, pow, relu, reshape, sigmoid, sign, sin, softmax, sqrt,
                  squeeze, stack, sub, sum, sum_to, swapaxes, tanh, transpose, unsqueeze, where)
from .rng import get_rng_state, set_rng_state  # torch.get_rng_state/set_rng_state (CPU generators)
from .serialization import load, save
from .tensor import Tensor, tensor
from . import cuda, data, nn, optim, viz
from . import distributed  # noqa: F401  (gg.distributed; imports mpi4py only in init())
from . import utils  # noqa: F401  (torch.utils.data's import path)
from . import safetensors  # noqa: F401  (state_dict <-> .safetensors files, PyTorch interchange)
from .data.generator import Generator  # torch.Generator's spelling: a seed for DataLoader/random_split

default_device = cuda.default_device   # "cuda" when a GPU really works, else "cpu"
graphed = cuda.graphed   # device-neutral name: a CUDA graph on a GPU, a NumPy-call replay on the CPU

from .torch_face.top_level import *  # noqa: E402,F401,F403  (PyTorch's top-level names: dtypes, cat, argmax ...)
import sys as _sys  # noqa: E402
_sys.modules[__name__ + ".linalg"] = linalg   # `import gpugrad.linalg` as `import torch.linalg` (it lives in torch_face/)
__version__ = "0.1.0"

# A PyTorch name that gpugrad lacks says so (torch_face/missing.py); every mirrored namespace, here.
from .torch_face import missing as _missing  # noqa: E402
from .nn import functional as _functional  # noqa: E402
_missing.install({_sys.modules[__name__]: "torch", nn: "torch.nn", _functional: "torch.nn.functional",
                  nn.init: "torch.nn.init", nn.utils: "torch.nn.utils", optim: "torch.optim",
                  optim.lr_scheduler: "torch.optim.lr_scheduler", utils.data: "torch.utils.data",
                  linalg: "torch.linalg"})
