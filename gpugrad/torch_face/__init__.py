"""PyTorch's face of gpugrad: every PyTorch spelling of an array thing, in one folder.

gpugrad's core (tensor.py, ops/, autograd.py, creation.py) speaks NumPy (``axis=``, ``keepdims=``,
``astype``); this folder sits above it and gives PyTorch's names on top, one module per PyTorch
namespace it mirrors. Imports run one way: these modules import the core, the core never imports
them (the one exception is ``args``, a leaf that imports nothing of gpugrad, through which the
core's reductions also answer ``dim=``/``keepdim=``; tests/test_import_graph.py checks both).

==========================  =====================================================================
``torch.X``                 ``top_level.py`` (exported as ``gpugrad.X`` by gpugrad/__init__.py)
``torch.X`` / ``Tensor.X``  ``functions.py``: the functions with PyTorch's conventions that both
                            spellings share (``max(dim)`` -> (values, indices), ``cat``, ``norm``...),
                            composed from the op table
..                          ``ops.py``: ops PyTorch has that the op table lacked, each forward
                            beside its VJP (``cumsum``, ``remainder``, ``isnan`` ...)
``Tensor.X``                ``tensor_methods.py`` (``size()``, ``float()``, ``to(dtype)``, ``add_`` ...)
                            and ``tensor_operators.py`` (``+``, ``@``, ``[]``, in-place operators,
                            ``.to``/``.clone``/``.backward``: the one place that binds onto Tensor)
``torch.linalg.X``          ``linalg.py`` (``gpugrad.linalg``)
``dim=`` beside ``axis=``   ``args.py``
==========================  =====================================================================

``torch.nn``, ``torch.nn.functional``, ``torch.optim`` and ``torch.utils.data`` are gpugrad's own
packages ``gpugrad.nn``, ``gpugrad.nn.functional``, ``gpugrad.optim`` and ``gpugrad.utils.data``:
they have no NumPy-style layer beneath them to keep apart from.

This package's ``__init__`` imports nothing, so that the core's import of ``args`` loads nothing else.
"""
