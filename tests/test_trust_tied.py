"""Tied (shared) parameters and buffers, on every path that walks a module's tensors, against PyTorch.

The kind (issue 21, item 6): with ``b.weight = a.weight`` (or one module registered twice, or one
buffer in two modules) state_dict keeps every name, named_parameters/named_buffers/named_modules
yield each once unless remove_duplicate=False, either library loads the other's state_dict and the
tie survives, optimizers see a tied parameter once (and treat duplicates as PyTorch does), DDP
averages it once, gg.save/gg.load keep the storage shared, and gg.safetensors refuses shared
tensors in save_file and stores them once in save_model, interchangeably with safetensors.torch.
Handed case: state_dict dropped ``b.weight``, so loading PyTorch's failed ("unexpected keys") and
PyTorch could not load gpugrad's.
"""
from __future__ import annotations

import json
import warnings
import zipfile

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.serialization import CheckpointError

torch = pytest.importorskip("torch")


# -- the same tied structures, built with either library --------------------------------------------
def _lm(nn):
    """An embedding/decoder tie across nested modules (a language model's weight tying)."""
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Sequential(nn.Linear(4, 3), nn.Tanh())
            self.head = nn.Linear(3, 4)
            self.dec = nn.Linear(4, 3)
            self.dec.weight = self.enc[0].weight            # (3, 4) shared

        def forward(self, x):
            return self.head(self.dec(x) + self.enc(x))
    return LM()


def _pair(nn):
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    return nn.Sequential(a, nn.Tanh(), b)


def _twice(nn):
    layer = nn.Linear(3, 3)
    return nn.Sequential(layer, nn.Tanh(), layer)              # one module under two names


def _buffer(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)
            shared = (gg.zeros(3) if nn is gg.nn else torch.zeros(3))
            self.a.register_buffer("stat", shared)
            self.b.register_buffer("stat", shared)

        def forward(self, x):
            return self.b(self.a(x))
    return M()


MODELS = {"pair": _pair, "twice": _twice, "lm": _lm, "buffer": _buffer}


def _models(kind, seed=0):
    """The gpugrad and the torch model with the same values."""
    gm = MODELS[kind](gg.nn)
    torch.manual_seed(seed)
    tm = MODELS[kind](torch.nn)
    with torch.no_grad():
        for name, t in tm.state_dict().items():
            t.copy_(torch.randn(t.shape, dtype=t.dtype, generator=torch.Generator().manual_seed(
                hash(name) % 2 ** 31)) if t.is_floating_point() else t)
    gm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return gm, tm


@pytest.mark.parametrize("kind", list(MODELS))
def test_names_match_torch_with_and_without_duplicates(kind):
    gm, tm = _models(kind)
    assert list(gm.state_dict()) == list(tm.state_dict())
    for dedup in (True, False):
        assert [n for n, _ in gm.named_parameters(remove_duplicate=dedup)] == \
               [n for n, _ in tm.named_parameters(remove_duplicate=dedup)]
        assert [n for n, _ in gm.named_buffers(remove_duplicate=dedup)] == \
               [n for n, _ in tm.named_buffers(remove_duplicate=dedup)]
        assert [n for n, _ in gm.named_modules(remove_duplicate=dedup)] == \
               [n for n, _ in tm.named_modules(remove_duplicate=dedup)]
    assert len(list(gm.parameters())) == len(list(tm.parameters()))
    assert len(list(gm.buffers())) == len(list(tm.buffers()))


@pytest.mark.parametrize("kind", list(MODELS))
def test_each_library_loads_the_others_state_dict_strictly_and_keeps_the_tie(kind):
    gm, tm = _models(kind)
    ids = {n: id(p) for n, p in gm.named_parameters(remove_duplicate=False)}
    fresh_t = MODELS[kind](torch.nn)
    fresh_t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in gm.state_dict().items()})
    fresh_g = MODELS[kind](gg.nn)
    fresh_g.load_state_dict({k: v.detach().clone() for k, v in tm.state_dict().items()})
    for name, t in tm.state_dict().items():
        np.testing.assert_array_equal(fresh_t.state_dict()[name].numpy(), t.numpy())
        np.testing.assert_array_equal(fresh_g.state_dict()[name].numpy(), t.numpy())
    gm.load_state_dict(tm.state_dict())
    assert {n: id(p) for n, p in gm.named_parameters(remove_duplicate=False)} == ids


def test_handed_case_state_dict_keeps_b_weight():
    gm, tm = _models("pair")
    sd = gm.state_dict()
    assert "2.weight" in sd and sd["2.weight"]._data is sd["0.weight"]._data
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in sd.items()})   # strict
    gm.load_state_dict(tm.state_dict())                                                 # strict


def test_a_state_dict_naming_a_tie_once_still_loads_strictly():
    # gpugrad's older state_dicts and safetensors' save_model files name a tied tensor once.
    gm, tm = _models("pair")
    sd = {k: v.numpy() for k, v in tm.state_dict().items() if k != "2.weight"}
    missing, unexpected = gm.load_state_dict(sd)
    assert missing == [] and unexpected == []
    with pytest.raises(RuntimeError, match="missing keys: 0.bias"):
        gm.load_state_dict({k: v for k, v in sd.items() if k != "0.bias"})


@pytest.mark.parametrize("kind", ["pair", "twice", "lm"])
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_training_a_tied_model_matches_torch(kind, opt):
    gm, tm = _models(kind)
    make = {"sgd": lambda L, ps: L.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
            "adam": lambda L, ps: L.optim.Adam(ps, lr=0.05, weight_decay=0.01)}[opt]
    gopt, topt = make(gg, list(gm.parameters())), make(torch, list(tm.parameters()))
    assert len(gopt.param_groups[0]["params"]) == len(topt.param_groups[0]["params"])
    rng = np.random.default_rng(1)
    for _ in range(4):
        x = rng.standard_normal((5, 3 if kind != "lm" else 4)).astype(np.float32)
        gopt.zero_grad()
        topt.zero_grad()
        (gm(gg.tensor(x)) ** 2).mean().backward()
        (tm(torch.from_numpy(x)) ** 2).mean().backward()
        gopt.step()
        topt.step()
    for name, t in tm.state_dict().items():
        np.testing.assert_allclose(gm.state_dict()[name].numpy(), t.numpy(), rtol=1e-5, atol=1e-6)


def test_optimizer_duplicates_warn_in_a_group_and_fail_across_groups_as_torch():
    p = gg.nn.Parameter(gg.ones(2))
    tp = torch.nn.Parameter(torch.ones(2))
    with pytest.warns(UserWarning, match="duplicate parameters"):
        torch.optim.SGD([tp, tp], lr=0.1)
    with pytest.warns(UserWarning, match="duplicate parameters"):
        opt = gg.optim.SGD([p, p], lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 1           # stepped once
    p.grad = gg.ones(2)
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.9, 0.9])
    with pytest.raises(ValueError, match="more than one parameter group"):
        torch.optim.SGD([{"params": [tp]}, {"params": [tp]}], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        gg.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    opt = gg.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})


def test_to_moves_a_tied_parameter_once_and_keeps_the_tie():
    gm, _ = _models("pair")
    gm.double()
    assert gm[0].weight is gm[2].weight and gm[0].weight.dtype == np.float64
    gm.load_state_dict(gm.state_dict())


# -- gg.save / gg.load ----------------------------------------------------------------------------
def _array_entries(path):
    with zipfile.ZipFile(path) as z:
        return sorted(n for n in z.namelist() if n != "__gpugrad__.npy")


def test_save_load_stores_a_tie_once_and_loads_one_storage(tmp_path):
    gm, _ = _models("pair")
    path = tmp_path / "ckpt.npz"
    gg.save({"model": gm.state_dict(), "opt": None}, path)
    assert len(_array_entries(path)) == 3                     # 0.weight, 0.bias, 2.bias
    sd = gg.load(path)["model"]
    assert list(sd) == list(gm.state_dict())
    assert sd["0.weight"]._data is sd["2.weight"]._data        # one storage, as torch.load gives
    sd["0.weight"]._bump_version()
    assert sd["2.weight"]._version_counter() is sd["0.weight"]._version_counter()   # one per storage
    fresh = _pair(gg.nn)
    fresh.load_state_dict(sd)
    assert fresh[0].weight is fresh[2].weight
    np.testing.assert_array_equal(fresh[2].weight.numpy(), gm[0].weight.numpy())


def test_save_load_keeps_object_identity_and_shared_arrays(tmp_path):
    t = gg.tensor([1.0, 2.0], requires_grad=True)
    a = np.arange(3.0)
    gg.save({"x": [t, t, t.detach()], "arrays": (a, a)}, tmp_path / "s.npz")
    back = gg.load(tmp_path / "s.npz")
    x0, x1, x2 = back["x"]
    assert x0 is x1 and x0.requires_grad and x2 is not x0 and x2._data is x0._data and not x2.requires_grad
    assert back["arrays"][0] is back["arrays"][1]
    assert len(_array_entries(tmp_path / "s.npz")) == 2


def test_files_without_ties_stay_format_1_and_bad_aliases_are_refused(tmp_path):
    gg.save({"w": gg.ones(2)}, tmp_path / "plain.npz")
    with zipfile.ZipFile(tmp_path / "plain.npz") as z:
        meta = json.loads(np.lib.format.read_array(z.open("__gpugrad__.npy")).tobytes())
    assert meta["version"] == 1

    def write(tree):
        path = tmp_path / "bad.npz"
        with zipfile.ZipFile(path, "w") as z:
            with z.open("__gpugrad__.npy", "w") as f:
                text = json.dumps({"format": "gpugrad-checkpoint", "version": 2, "tree": tree})
                np.lib.format.write_array(f, np.frombuffer(text.encode(), np.uint8))
            with z.open("a0.npy", "w") as f:
                np.lib.format.write_array(f, np.ones(2, np.float32))
        return path
    t = {"$": "tensor", "a": "a0", "device": "cpu"}
    with pytest.raises(CheckpointError, match="before it is stored"):
        gg.load(write({"$": "list", "v": [dict(t, alias="array"), t]}))
    with pytest.raises(CheckpointError, match="alias"):
        gg.load(write({"$": "list", "v": [t, dict(t, alias="pickle")]}))
    with pytest.raises(CheckpointError, match="referenced more than once"):
        gg.load(write({"$": "list", "v": [t, t]}))


# -- safetensors ------------------------------------------------------------------------------------
def test_safetensors_save_file_refuses_shared_tensors_as_safetensors_torch(tmp_path):
    import safetensors.torch as st
    gm, tm = _models("pair")
    with pytest.raises(RuntimeError, match="share memory"):
        st.save_file(tm.state_dict(), str(tmp_path / "t.safetensors"))
    with pytest.raises(RuntimeError, match="share memory.*save_model"):
        gg.safetensors.save_file(gm.state_dict(), tmp_path / "g.safetensors")
    with pytest.raises(RuntimeError, match="share memory"):
        w = gg.randn(4, 3)
        gg.safetensors.save({"w": w, "view": w[1:]})       # a view overlaps too


@pytest.mark.parametrize("kind", ["pair", "twice", "lm"])
def test_safetensors_save_model_and_load_model_interchange_with_safetensors_torch(kind, tmp_path):
    import safetensors.torch as st
    from safetensors import safe_open
    gm, tm = _models(kind)
    gg.safetensors.save_model(gm, tmp_path / "g.safetensors")
    st.save_model(tm, str(tmp_path / "t.safetensors"))
    with safe_open(str(tmp_path / "g.safetensors"), "np") as g, \
            safe_open(str(tmp_path / "t.safetensors"), "np") as t:
        assert sorted(g.keys()) == sorted(t.keys()) and g.metadata() == t.metadata()
    fresh_t = MODELS[kind](torch.nn)
    assert st.load_model(fresh_t, str(tmp_path / "g.safetensors")) == (set(), [])
    fresh_g = MODELS[kind](gg.nn)
    assert gg.safetensors.load_model(fresh_g, tmp_path / "t.safetensors") == ([], [])
    named = dict(fresh_g.named_parameters(remove_duplicate=False))
    ties = [n for n, p in named.items() if sum(q is p for q in named.values()) > 1]
    assert ties                                                # the tie survived the load
    for name, t in tm.state_dict().items():
        np.testing.assert_array_equal(fresh_g.state_dict()[name].numpy(), t.numpy())
        np.testing.assert_array_equal(fresh_t.state_dict()[name].numpy(), t.numpy())
    # load_file + load_state_dict also accepts the file (the dropped name is tied to a kept one)
    fresh_g.load_state_dict(gg.safetensors.load_file(tmp_path / "t.safetensors"))


def test_safetensors_load_model_into_an_untied_model_reports_the_dropped_name(tmp_path):
    gm, _ = _models("pair")
    gg.safetensors.save_model(gm, tmp_path / "g.safetensors")
    untied = gg.nn.Sequential(gg.nn.Linear(3, 3), gg.nn.Tanh(), gg.nn.Linear(3, 3))
    with pytest.raises(RuntimeError, match="missing keys: 2.weight"):
        gg.safetensors.load_model(untied, tmp_path / "g.safetensors")
    assert gg.safetensors.load_model(untied, tmp_path / "g.safetensors", strict=False) == (["2.weight"], [])


# -- DDP (a one-rank stand-in group; tests/mpi_scripts/ddp_unused.py runs tied models over ranks)
def test_ddp_buckets_and_averages_a_tied_parameter_once():
    from test_distributed_unit import RecordingGroup
    from gpugrad.nn.parallel import DistributedDataParallel
    gm, _ = _models("lm")
    ref, _ = _models("lm")
    ddp = DistributedDataParallel(gm, process_group=RecordingGroup())
    n_unique = len(list(gm.parameters()))
    assert sum(len(b.params) for b in ddp._buckets) == n_unique
    x = gg.randn(3, 4)
    (ddp(x) ** 2).sum().backward()
    (ref(x) ** 2).sum().backward()
    for p, q in zip(gm.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_a_module_registered_twice_is_one_child_for_apply_and_every_name_in_repr():
    gm, tm = _models("twice")
    assert [n for n, _ in gm.named_children()] == [n for n, _ in tm.named_children()]
    seen_g, seen_t = [], []
    gm.apply(lambda m: seen_g.append(type(m).__name__))
    tm.apply(lambda m: seen_t.append(type(m).__name__))
    assert seen_g == seen_t == ["Linear", "Tanh", "Sequential"]       # the shared Linear once
    assert "(2): Linear" in repr(gm) and "(2): Linear" in repr(tm)
