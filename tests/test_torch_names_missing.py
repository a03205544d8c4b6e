"""Issue 25 item 3: a PyTorch name that gpugrad lacks says so and points to docs/pytorch-api.md;
a name that is nobody's gets Python's usual AttributeError."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

import gpugrad as gg
from gpugrad.torch_face import missing
from gpugrad.torch_face.pytorch_names import NAMES, TORCH_VERSION

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: PyTorch's namespace -> how a user reaches gpugrad's mirror of it.
MIRRORS = {
    "torch": lambda: gg,
    "torch.Tensor": lambda: gg.ones(2),
    "torch.nn": lambda: gg.nn,
    "torch.nn.Module": lambda: gg.nn.Linear(2, 2),
    "torch.nn.functional": lambda: gg.nn.functional,
    "torch.nn.init": lambda: gg.nn.init,
    "torch.nn.utils": lambda: gg.nn.utils,
    "torch.optim": lambda: gg.optim,
    "torch.optim.lr_scheduler": lambda: gg.optim.lr_scheduler,
    "torch.utils.data": lambda: gg.utils.data,
    "torch.linalg": lambda: gg.linalg,
}


def test_every_snapshot_namespace_has_a_mirror_here():
    assert set(MIRRORS) == set(NAMES)


def _has(obj, name) -> bool:
    try:
        getattr(obj, name)
    except AttributeError:
        return False
    except Exception:   # a property that exists but does not apply here (t.mT of a 1-D tensor)
        pass
    return True


def _lacking(namespace):
    obj = MIRRORS[namespace]()
    return [n for n in sorted(missing.pytorch_names(namespace)) if not _has(obj, n)]


@pytest.mark.parametrize("namespace", sorted(MIRRORS))
def test_a_pytorch_name_gpugrad_lacks_says_so(namespace):
    lacking = _lacking(namespace)
    if not lacking:
        pytest.skip(f"gpugrad has every name of {namespace}")
    obj = MIRRORS[namespace]()
    for name in lacking[:3] + lacking[-2:]:
        with pytest.raises(AttributeError) as info:
            getattr(obj, name)
        msg = str(info.value)
        assert f"{namespace}.{name} is a PyTorch name that gpugrad does not provide" in msg
        assert "docs/pytorch-api.md" in msg and repr(name) in msg


@pytest.mark.parametrize("namespace", sorted(MIRRORS))
def test_a_name_that_is_nobodys_gets_pythons_message(namespace):
    obj = MIRRORS[namespace]()
    with pytest.raises(AttributeError) as info:
        getattr(obj, "no_such_name_anywhere")
    assert str(info.value).endswith("has no attribute 'no_such_name_anywhere'")
    assert "PyTorch" not in str(info.value)
    assert getattr(obj, "no_such_name_anywhere", 7) == 7 and not hasattr(obj, "__no_such_dunder__")


def test_the_message_names_the_module_as_the_user_reaches_it_and_gives_a_kinds_reason():
    with pytest.raises(AttributeError, match=r"module 'gpugrad.nn' has no attribute 'Conv2d': torch.nn.Conv2d .*"
                                             r"no convolutions"):
        gg.nn.Conv2d
    lacking = _lacking("torch.linalg")
    with pytest.raises(AttributeError, match=r"^module 'gpugrad.linalg' has no attribute"):
        getattr(gg.linalg, lacking[0])
    with pytest.raises(AttributeError, match=r"^'Parameter' object has no attribute 'no_such'$"):
        gg.nn.Linear(2, 2).weight.no_such


def test_from_import_of_a_missing_name_raises_import_error_not_a_crash():
    with pytest.raises(ImportError):
        exec("from gpugrad.nn import Conv2d", {})


def test_gpugrad_does_not_import_torch_to_say_so():
    code = ("import sys, gpugrad as gg\ntry:\n    gg.nn.Conv2d\nexcept AttributeError:\n    pass\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_committed_snapshot_is_the_installed_pytorchs():
    torch = pytest.importorskip("torch")
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        pytest.skip(f"the snapshot is of PyTorch {TORCH_VERSION}, this is {torch.__version__}")
    out = subprocess.run([sys.executable, str(ROOT / "ci" / "pytorch_names.py"), "--check"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


# -- docs/pytorch-api.md says what is there ------------------------------------------------------------
def _doc_rows():
    import re
    rows, ns = [], None
    for line in (ROOT / "docs" / "pytorch-api.md").read_text().splitlines():
        m = re.match(r"## `([\w.]+)` -> `[\w.]+`", line)
        if m:
            ns = m.group(1)
            continue
        m = re.match(r"\| (`.*`) \| (yes|differs|no) \| (.*) \|$", line)
        if m and ns:
            rows += [(ns, name, m.group(2), m.group(3)) for name in re.findall(r"`([\w]+)`", m.group(1))]
    return rows


def test_the_list_covers_every_namespace_and_names_only_pytorchs_names():
    rows = _doc_rows()
    assert {ns for ns, *_ in rows} == set(MIRRORS)
    not_pytorchs = sorted(f"{ns}.{n}" for ns, n, *_ in rows if n not in missing.pytorch_names(ns))
    assert not not_pytorchs, f"docs/pytorch-api.md lists names PyTorch {TORCH_VERSION} does not have: {not_pytorchs}"


def test_the_list_says_yes_only_for_what_gpugrad_has_and_no_only_for_what_it_lacks():
    wrong = []
    for ns, name, status, note in _doc_rows():
        has = _has(MIRRORS[ns](), name)
        if status == "no" and has:
            wrong.append(f"{ns}.{name} is listed as not supported but gpugrad has it")
        if status != "no" and not has:
            wrong.append(f"{ns}.{name} is listed as {status} but gpugrad lacks it")
    assert not wrong, "\n".join(wrong)
