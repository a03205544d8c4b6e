"""Moving a tensor between devices, differentiably: the VJP moves the gradient back."""
from __future__ import annotations

from ..backends import get_backend
from ..op import defop
from ..vjp_namespace import raw_forward


def move_array(a, src, dst):
    """Array ``a`` of device ``src`` copied to device ``dst`` (staged through the host)."""
    return get_backend(dst).asarray(get_backend(src).to_numpy(a))


@raw_forward("to_device")
def _to_device_fwd(backend, x, src, dst):
    return move_array(x, src, dst)


_to_device = defop("to_device", _to_device_fwd, derivs=("1 (moved back)",))
_to_device.defvjp(lambda ns, g, ans, x, src, dst: ns.to_device(g, dst, src))


def to_device(x, device):
    """``x`` copied to ``device``; gradients flow back to ``x``'s device."""
    src = x.device
    out = _to_device(x, src=src, dst=device)
    out._device = device
    if out._node is not None:
        out._node.device = device
    return out
