"""PyTorch's face of gpugrad: every PyTorch spelling of an array thing, in one folder.

gpugrad's core (tensor.py, ops/, autograd.py, creation.py) speaks NumPy (``axis=``, ``keepdims=``,
``astype``); this folder sits above it and gives PyTorch's names on top, one module per PyTorch
namespace it mirrors. Imports run one way: these modules import the core, the core never imports
them (the one exception is ``args``, a leaf that imports nothing of gpugrad, through which the
core's reductions also answer ``dim=``/``keepdim=``; tests/test_import_graph.py checks both).

============================  ===================================================================
``torch.X``                   ``top_level.py`` (exported as ``gpugrad.X`` by gpugrad/__init__.py)
``torch.X`` / ``Tensor.X``    composed from the op table, no new derivative formula:
                              ``functions.py`` (``max(dim)`` -> (values, indices), ``cat``, ``norm``,
                              ``var`` ...), ``indexing.py`` (``gather``, ``split``, ``sort``, ``topk``,
                              ``unique`` ...), ``elementwise.py`` (``log2``, ``lerp``, ``logical_*``,
                              ``eq`` ...), ``shaping.py`` (``flip``, ``roll``, ``tril``, ``diag``,
                              ``amax``, ``var_mean`` ...)
..                            ``ops.py``: ops PyTorch has that the op table lacked, each forward
                              beside its VJP (``cumsum``, ``remainder``, ``log1p``, ``floor`` ...)
``Tensor.X``                  ``tensor_methods.py`` (``size()``, ``float()``, ``to(dtype)``,
                              ``view_as`` ...) and ``tensor_operators.py`` (``+``, ``@``, ``[]``,
                              in-place methods, ``.to``/``.clone``/``.backward``: the one place that
                              binds operators onto Tensor)
``torch.linalg.X``            ``linalg.py`` (``gpugrad.linalg``)
``dim=`` beside ``axis=``     ``args.py``
a name gpugrad lacks          ``missing.py`` (the AttributeError) and ``pytorch_names.py`` (PyTorch
                              2.13's names, a snapshot written by ci/pytorch_names.py)
============================  ===================================================================

``torch.nn``, ``torch.nn.functional``, ``torch.optim`` and ``torch.utils.data`` are gpugrad's own
packages ``gpugrad.nn``, ``gpugrad.nn.functional``, ``gpugrad.optim`` and ``gpugrad.utils.data``:
they have no NumPy-style layer beneath them to keep apart from.

This package's ``__init__`` imports nothing, so that the core's import of ``args`` loads nothing else.
"""
