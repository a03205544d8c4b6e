"""``gpugrad doctor``: can this machine run gpugrad's GPU path? (like PyTorch's ``collect_env``)

Checks, each one line (``ok``, ``FAIL`` with the fix, ``skip`` saying why it cannot be checked
here, ``info``):

* versions of numba-cuda (refused below MIN_NUMBA_CUDA, the DLPack-first launch path), CuPy,
  cuda-core, cuda-bindings, nvJitLink and NVVM, and where libNVVM was loaded from;
* the driver's CUDA version and the GPU;
* one kernel compiled (NVVM) and linked to a cubin (nvJitLink) for the device, with its registers;
* the PTX ISA level NVVM writes against the highest the driver's JIT takes: the driver must never
  see gpugrad's PTX (driver 580 = CUDA 13.0 takes ISA 9.0; the pip NVVM 13.5 writes 9.5), so
  Numba must link with nvJitLink;
* Numba's DLPack launch path, and NUMBA_CUDA_ARRAY_INTERFACE_SYNC off (gpugrad launches on the
  producer's stream; the sync would wait for the host on every launch).

On a CPU-only machine it checks what it can (versions, NVVM, compiling and linking for sm_90)
and says which checks need a GPU. Exit status 1 when any check fails.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import sys

from .. import __version__
from ..backends.cuda_runtime import is_available
from ..kernels import _resource_check, kernel_specs
from ..kernels._launch import JIT_OPTIONS, MIN_NUMBA_CUDA, numba_cuda  # noqa: F401
from ..kernels._launch import distribution_version as _version, numba_cuda_version_error

#: The highest PTX ISA version a driver's JIT accepts, by the CUDA version the driver reports
#: (NVIDIA's PTX ISA release notes: ISA 8.x came with CUDA 12.x, 9.0 with 13.0).
PTX_ISA_BY_DRIVER = {(12, 0): (8, 0), (12, 1): (8, 1), (12, 2): (8, 2), (12, 3): (8, 3), (12, 4): (8, 4),
                     (12, 5): (8, 5), (12, 6): (8, 5), (12, 8): (8, 7), (12, 9): (8, 8), (13, 0): (9, 0)}


class _Skip(Exception):
    """A check that cannot be made in this process (the simulator is on)."""


@dataclasses.dataclass
class Check:
    name: str
    status: str          # "ok" | "FAIL" | "skip" | "info"
    detail: str
    fix: str = ""

    def line(self) -> str:
        tail = f" -> fix: {self.fix}" if self.status == "FAIL" and self.fix else ""
        return f"[{self.status:>4}] {self.name}: {self.detail}{tail}"


def _gpu():
    """(cupy, device id) when a GPU really works here, else (None, why not)."""
    if not is_available():
        return None, "no usable GPU (CuPy finds no driver or device)"
    import cupy
    return cupy, cupy.cuda.runtime.getDevice()


def run_checks() -> list[Check]:
    checks: list[Check] = []
    add = checks.append
    add(Check("python", "info", f"{sys.version.split()[0]} ({sys.executable}); gpugrad {__version__}"))
    sim = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")

    nc = _version("numba-cuda")
    err = numba_cuda_version_error(nc)
    add(Check("numba-cuda", "FAIL" if err else "ok", nc or "missing", err or ""))
    for dist, fix in (("cupy-cuda13x", "pip install 'cupy-cuda13x>=14,<15' (or cupy-cuda12x for CUDA 12)"),
                      ("cuda-core", "pip install 'numba-cuda[cu13]' (brings cuda-core)"),
                      ("cuda-bindings", "pip install 'numba-cuda[cu13]' (brings cuda-bindings)")):
        v = _version(dist) or (_version("cupy-cuda12x") if dist == "cupy-cuda13x" else None)
        add(Check(dist if dist != "cupy-cuda13x" else "cupy", "ok" if v else "FAIL", v or "missing", fix))

    # nvJitLink: what Numba links PTX with (else the driver's JIT would see the PTX)
    nvjitlink = False
    if sim:
        add(Check("nvJitLink/NVVM", "skip", "NUMBA_ENABLE_CUDASIM is set: numba.cuda is the simulator; unset "
                                            "it to check the compiler"))
    try:
        if sim:
            raise _Skip
        from cuda.bindings import nvjitlink as _nvj
        from numba.cuda.cudadrv.driver import _have_nvjitlink
        nvjitlink = bool(_have_nvjitlink())
        v = ".".join(map(str, _nvj.version()))
        add(Check("nvJitLink", "ok" if nvjitlink else "FAIL", f"{v}, used by Numba: {nvjitlink}",
                  "pip install nvidia-nvjitlink (CUDA 13 wheel; numba-cuda[cu13] brings it)"))
    except _Skip:
        pass
    except Exception as exc:
        add(Check("nvJitLink", "FAIL", f"not loadable ({type(exc).__name__}: {exc})",
                  "pip install 'numba-cuda[cu13]' (brings nvidia-nvjitlink)"))

    try:
        if sim:
            raise _Skip
        from numba.cuda.cudadrv import nvvm
        add(Check("NVVM", "ok", "version " + ".".join(map(str, nvvm.NVVM().get_version()))))
    except _Skip:
        pass
    except Exception as exc:
        add(Check("NVVM", "FAIL", f"not loadable ({type(exc).__name__}: {exc})",
                  "pip install 'numba-cuda[cu13]' (brings nvidia-cuda-nvcc's libNVVM), or point "
                  "CUDA_HOME at a CUDA 13 toolkit"))
    try:
        from cuda.pathfinder import load_nvidia_dynamic_lib
        add(Check("libNVVM path", "info", load_nvidia_dynamic_lib("nvvm").abs_path or "?"))
    except Exception as exc:
        add(Check("libNVVM path", "skip", f"cuda.pathfinder could not say ({type(exc).__name__})"))

    cupy, dev = _gpu()
    driver = None
    if cupy is None:
        add(Check("GPU", "skip", f"{dev}: the driver, device and launch checks need a GPU"))
    else:
        rt = cupy.cuda.runtime
        v = rt.driverGetVersion()
        driver = (v // 1000, (v % 1000) // 10)
        props = rt.getDeviceProperties(dev)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        cc = (props["major"], props["minor"])
        add(Check("GPU", "ok", f"cuda:{dev} {name}, sm_{cc[0]}{cc[1]}, {rt.getDeviceCount()} device(s)"))
        add(Check("driver", "ok", f"CUDA {driver[0]}.{driver[1]}"))

    # one kernel: compiled for the device (or sm_90 here), linked to a cubin, its registers
    ptx_isa = None
    if sim:
        add(Check("kernel compile", "skip", "NUMBA_ENABLE_CUDASIM is set (the simulator has no compiler); "
                                            "unset it to check"))
    elif err is None:
        try:
            from numba import cuda
            spec = next(s for s in kernel_specs() if s.name.startswith("relu") and s.dtype == "float32")
            cc = (9, 0)
            if cupy is not None:
                p = cupy.cuda.runtime.getDeviceProperties(dev)
                cc = (p["major"], p["minor"])
            ptx, _ = cuda.compile_ptx(spec.build(), spec.signature, cc=cc, **JIT_OPTIONS)
            m = re.search(r"^\.version (\d+)\.(\d+)", ptx, re.M)
            ptx_isa = (int(m.group(1)), int(m.group(2))) if m else None
            info = _resource_check._parse_log(_resource_check._link_log(ptx, f"sm_{cc[0]}{cc[1]}"))
            add(Check("kernel compile", "ok", f"{spec.name} ({spec.dtype}) for sm_{cc[0]}{cc[1]}: "
                      f"{info.get('registers', '?')} registers, {info.get('spill_stores', '?')} bytes spilled"))
        except Exception as exc:
            add(Check("kernel compile", "FAIL", f"{type(exc).__name__}: {exc}",
                      "check the NVVM and nvJitLink lines above; reinstall 'numba-cuda[cu13]'"))
    if ptx_isa is not None:
        most = None if driver is None else PTX_ISA_BY_DRIVER.get(driver, (9, 0) if driver >= (13, 0) else None)
        level = f"PTX ISA {ptx_isa[0]}.{ptx_isa[1]}"
        if most is None:
            add(Check("PTX level", "info", f"{level}; the driver's limit needs a GPU" if driver is None
                      else f"{level}; driver CUDA {driver} not in the table"))
        elif ptx_isa <= most or nvjitlink:
            add(Check("PTX level", "ok", f"{level}, driver takes up to {most[0]}.{most[1]}"
                      + ("; linked by nvJitLink, the driver never sees it" if ptx_isa > most else "")))
        else:
            add(Check("PTX level", "FAIL", f"{level} > {most[0]}.{most[1]}, the most the driver's JIT takes, "
                      f"and Numba has no nvJitLink to link it", "pip install nvidia-nvjitlink (CUDA 13), or an "
                      "NVVM no newer than the driver"))

    if err is None and not sim:
        numba_cuda()   # what gpugrad's launches see (it turns the sync off unless the user set it)
        try:
            from numba.cuda.typing.typeof import _typeof_dlpack  # noqa: F401
            add(Check("DLPack launch path", "ok", "numba-cuda types __dlpack__ objects (CuPy arrays zero-copy)"))
        except ImportError:
            add(Check("DLPack launch path", "FAIL", "numba-cuda has no DLPack typing",
                      "pip install 'numba-cuda[cu13]>=0.30,<0.31'"))
        try:
            from numba.cuda.core import config
        except ImportError:
            from numba.core import config
        sync = bool(getattr(config, "CUDA_ARRAY_INTERFACE_SYNC", False))
        add(Check("NUMBA_CUDA_ARRAY_INTERFACE_SYNC", "FAIL" if sync else "ok", "on" if sync else "off",
                  "export NUMBA_CUDA_ARRAY_INTERFACE_SYNC=0 (gpugrad launches on the producer's stream)"))
    return checks


def run(json_path: str | None = None) -> int:
    """Print every check, one line each, and a summary; write them as JSON to ``json_path`` if given.
    Returns the exit status: 1 when a check failed."""
    checks = run_checks()
    for c in checks:
        print(c.line())
    failed = [c for c in checks if c.status == "FAIL"]
    print(f"gpugrad doctor: {len(failed)} failed, "
          f"{sum(c.status == 'skip' for c in checks)} not checkable here")
    if json_path:
        with open(json_path, "w") as f:
            json.dump([dataclasses.asdict(c) for c in checks], f, indent=1)
    return 1 if failed else 0
