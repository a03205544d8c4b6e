"""A PyTorch name that gpugrad lacks says so.

``gpugrad.X``, ``gpugrad.nn.X``, ``gpugrad.nn.functional.X``, ``Tensor.X``, ``Module.X``,
``gpugrad.optim.X`` ... for a name that PyTorch has (the committed snapshot in pytorch_names.py,
PyTorch 2.13's public names) raise an AttributeError that names PyTorch's spelling, says gpugrad
does not provide it, gives the reason where one kind of name shares one (convolutions, sparse
tensors ...) and points to docs/pytorch-api.md. A name that is nobody's gets Python's usual message.
PyTorch is never imported here.
"""
from __future__ import annotations

from .pytorch_names import NAMES, TORCH_VERSION

DOC = "docs/pytorch-api.md"

_SETS: dict[str, frozenset] = {}

#: Why a kind of PyTorch name is absent: (substrings of the lower-cased name, whole names, the reason).
#: The first match wins.
_KIND_REASONS = (
    (("conv", "pool", "pixel_shuffle", "pixel_unshuffle", "upsample", "interpolate", "grid_sample",
      "affine_grid", "channel_shuffle"), ("unfold", "fold", "Unfold", "Fold"),
     "gpugrad is for MLPs and tabular models: no convolutions, pooling or image resampling"),
    (("rnn", "lstm", "gru", "transformer", "multihead", "attention", "ctc"), (),
     "gpugrad is for MLPs and tabular models: no recurrent or attention layers"),
    (("sparse", "quantiz", "qint", "quint", "complex", "fft", "stft", "nested", "mkldnn", "vulkan"),
     ("xpu", "mps", "mtia", "hpu", "ipu", "is_complex", "real", "imag", "view_as_real", "view_as_complex"),
     "sparse, quantized and complex tensors and devices other than the CPU and CUDA are not supported"),
    (("jit", "onnx", "dynamo", "inductor"), ("compile", "export", "fx", "vmap", "func", "compiler", "script"),
     "no compiler, tracer or export: gpugrad runs eagerly (gg.graphed replays a training step; see README)"),
    (("storage",), (), "a gpugrad Tensor holds a NumPy or CuPy array, not a Storage (Tensor.numpy() gives it)"),
)


def pytorch_names(namespace: str) -> frozenset:
    """The public names of PyTorch's ``namespace`` (``"torch"``, ``"torch.nn"``, ``"torch.Tensor"`` ...)."""
    names = _SETS.get(namespace)
    if names is None:
        names = _SETS[namespace] = frozenset("".join(NAMES[namespace]).split())
    return names


def reason(name: str) -> str | None:
    """Why a kind of PyTorch name is absent, or None when no kind-wide reason applies."""
    low = name.lower()
    for words, whole, why in _KIND_REASONS:
        if name in whole or any(w in low for w in words):
            return why
    return None


def attribute_error(owner: str, namespace: str, name: str, *, instance: bool = False) -> AttributeError:
    """The AttributeError for ``owner.name`` (``owner`` as Python names it: ``module 'gpugrad.nn'`` or
    ``'Tensor' object``): PyTorch's message when ``name`` is in PyTorch's ``namespace``, else Python's."""
    plain = f"{owner} has no attribute {name!r}"
    if name.startswith("_") or name not in pytorch_names(namespace):
        return AttributeError(plain)
    why = reason(name)
    return AttributeError(
        f"{plain}: {namespace}.{name} is a PyTorch name that gpugrad does not provide"
        f"{f' ({why})' if why else ''}; {DOC} lists what of PyTorch {TORCH_VERSION} is supported, "
        f"what differs, and why the rest is not (with what to use instead)")


def module_getattr(module_name: str, namespace: str):
    """A module-level ``__getattr__`` (PEP 562) for the module a user calls ``module_name``, which
    mirrors PyTorch's ``namespace``."""
    def __getattr__(name: str):
        raise attribute_error(f"module {module_name!r}", namespace, name)
    return __getattr__


def install(modules: dict) -> None:
    """Give each module (key) the ``__getattr__`` that knows PyTorch's namespace (value) it mirrors.

    Set from outside (gpugrad/__init__.py) so that every mirrored namespace is listed in one place.
    A module that defines its own ``__getattr__`` keeps it.
    """
    for module, namespace in modules.items():
        if namespace not in NAMES:
            raise KeyError(f"install: {namespace!r} is not in the snapshot (ci/pytorch_names.py lists it)")
        if "__getattr__" not in vars(module):
            # named as the user reaches it: torch.linalg is gpugrad.linalg, wherever its file lives
            module.__getattr__ = module_getattr("gpugrad" + namespace[len("torch"):], namespace)
