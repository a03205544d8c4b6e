"""The import graph of the gpugrad package has no cycle, and the engine and the application layer
import gpugrad at module level, except the lazy imports listed with their reasons.

Static: every ``import``/``from ... import`` in gpugrad/ and kernels/ (installed as gpugrad.kernels)
is parsed with ``ast``, function-level imports included (a lazy import that closes a cycle is still
a cycle; it only hides it until run time). ``if TYPE_CHECKING:`` blocks never run and are skipped.
An edge goes to the module named, or to ``pkg.name`` when ``from pkg import name`` names a
submodule. Importing a submodule also runs its parent package's ``__init__``; that edge is left out,
as import linters do, since every package's ``__init__`` imports its own children.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The engine's layers: below the application layer (nn, optim, data, CLI, train, bench), every
#: import of gpugrad is at module level, except those listed in LAZY_IMPORTS.
ENGINE = ("gpugrad.tensor", "gpugrad.torch_face", "gpugrad.op", "gpugrad.autograd",
          "gpugrad.vjp_namespace", "gpugrad.creation", "gpugrad.cuda", "gpugrad.cuda_graph",
          "gpugrad.ops", "gpugrad.backends")

#: PyTorch's spellings (torch.X, Tensor.X, torch.linalg.X) over the NumPy-style core: the face imports
#: the core, never the other way, except FACE_LEAVES_FOR_THE_CORE.
FACE = "gpugrad.torch_face"
CORE = ("gpugrad.tensor", "gpugrad.op", "gpugrad.autograd", "gpugrad.vjp_namespace", "gpugrad.creation",
        "gpugrad.ops", "gpugrad.backends", "gpugrad.dtypes", "gpugrad.device", "gpugrad.grad_mode")
#: The face's modules the core may import, and why: the core's reductions and shape ops answer
#: PyTorch's ``dim=``/``keepdim=`` themselves (``x.sum(dim=1)`` reaches ops.reduce.sum directly), through
#: the renaming helper in args.py, which imports nothing of gpugrad.
FACE_LEAVES_FOR_THE_CORE = {"gpugrad.torch_face.args"}

#: The function-level imports in the engine that must stay lazy, and why: (module, imported module).
LAZY_IMPORTS = {
    # The CUDA and simulated-CUDA backends load only when such a device is first asked for: the
    # kernel dispatch imports gpugrad.kernels and the kernel policy, which a CPU-only run never needs.
    ("gpugrad.backends", "gpugrad.backends.cuda"),
    ("gpugrad.backends", "gpugrad.backends.cudasim"),
    # gpugrad.kernels (kernels/) is loaded by a kernel backend only, after the cudasim backend has
    # checked NUMBA_ENABLE_CUDASIM (numba must not be imported first by anything on a CPU-only run).
    # (The optimizers register their fused kernels in backends/fused_elementwise.py, which imports
    # neither, so start-up loads none of these: checked below.)
    ("gpugrad.backends.kernel_backend", "gpugrad.kernels"),
}


#: The application layer is every other module of gpugrad except the kernels (commands, bench, nn, optim,
#: data, distributed, viz, serialization, ...). Its function-level imports of gpugrad that must stay
#: lazy, and why: (module, imported module). Each one's target is loaded neither by `import gpugrad`
#: nor by `gpugrad --help` / `gpugrad bench --help` (checked below); together they keep ~30 ms off a
#: ~0.3 s start (`python -X importtime`, cumulative per module). Every other import is at module level.
APP_LAZY_IMPORTS = {
    # The CLI parsers load a command's implementation when that command runs, so `gpugrad --help`,
    # `gpugrad train` and a usage error load none of the others (predict 2.3 ms, evaluate 0.8 ms;
    # bench: kernels 8.6, ddp 5.9, train_cpu 4.0, report 3.6 (shlex, platform probes), engine 1.6).
    ("gpugrad.commands.cli", "gpugrad.commands.predict"),
    ("gpugrad.commands.cli", "gpugrad.commands.evaluate"),
    # `gpugrad doctor` loads the kernels registry and the CUDA runtime probes only when it runs.
    ("gpugrad.commands.cli", "gpugrad.commands.doctor"),
    ("gpugrad.commands.bench.cli", "gpugrad.commands.bench.ddp"),
    ("gpugrad.commands.bench.cli", "gpugrad.commands.bench.engine"),
    ("gpugrad.commands.bench.cli", "gpugrad.commands.bench.kernels"),
    ("gpugrad.commands.bench.cli", "gpugrad.commands.bench.report"),
    ("gpugrad.commands.bench.cli", "gpugrad.commands.bench.train_cpu"),
    ("gpugrad.commands.bench.cli", "gpugrad.commands.bench.data"),
    # bench.mlp is loaded by the bench parser (its model and policy names); what only its runs need
    # waits: the CPU contenders (2.1 ms) and the report writer.
    ("gpugrad.commands.bench.mlp", "gpugrad.commands.bench.cpu_contenders"),
    ("gpugrad.commands.bench.mlp", "gpugrad.commands.bench.report"),
    # Data-parallel training support (2.3 ms) loads only for a run under mpiexec; the train module
    # itself is loaded by every `gpugrad` command (its defaults are in --help).
    ("gpugrad.commands.train", "gpugrad.distributed.train_support"),
    # `import gpugrad` loads gg.distributed, not its backends: init() loads the one it picks (MPI or
    # NCCL, ~1.1 ms each) and the abort-on-failure hook (0.9 ms).
    ("gpugrad.distributed", "gpugrad.distributed.mpi_backend"),
    ("gpugrad.distributed", "gpugrad.distributed.nccl_backend"),
    ("gpugrad.distributed", "gpugrad.distributed.faults"),
}


def _within(module: str, packages) -> bool:
    """``module`` is one of ``packages`` or inside one (``gpugrad.op`` holds not ``gpugrad.optim``)."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def _modules() -> dict[str, tuple[Path, bool]]:
    """Module name -> (file, is_package) for gpugrad/ and kernels/ (as gpugrad.kernels)."""
    mods = {}
    for base, pkg in ((ROOT / "gpugrad", "gpugrad"), (ROOT / "kernels", "gpugrad.kernels")):
        for f in base.rglob("*.py"):
            rel = f.relative_to(base)
            if pkg == "gpugrad" and rel.parts[0] == "kernels":   # the symlink to kernels/
                continue
            parts = [pkg, *rel.with_suffix("").parts]
            is_pkg = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_pkg else parts)] = (f, is_pkg)
    return mods


def _skipped_blocks(tree) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (never run)."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skip.update(id(n) for n in ast.walk(child))
    return skip


def import_graph() -> dict[str, list[tuple[str, int, bool]]]:
    """Module -> [(imported gpugrad module, line, at function level)]."""
    mods = _modules()
    graph = {}
    for mod, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = _skipped_blocks(tree)
        lazy = {id(n) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
                for n in ast.walk(fn)}
        edges = []
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name in mods]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    here = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = here[:len(here) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for a in node.names:
                    if f"{target}.{a.name}" in mods:
                        targets.append(f"{target}.{a.name}")
                    elif target in mods:
                        targets.append(target)
            edges += [(t, node.lineno, id(node) in lazy) for t in targets if t != mod]
        graph[mod] = sorted(set(edges))
    return graph


def find_cycles(graph: dict[str, list]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, comps, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for edge in it:
                w = edge[0]
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph.get(w, ()))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        comps.append(sorted(comp))
    return comps


def test_the_cycle_finder_finds_cycles_and_only_cycles():
    g = {"a": [("b", 1, False)], "b": [("c", 2, True)], "c": [("a", 3, False)], "d": [("a", 4, False)]}
    assert find_cycles(g) == [["a", "b", "c"]]
    g["c"] = []
    assert find_cycles(g) == []


def test_the_graph_sees_function_level_imports_and_the_kernels_folder():
    graph = import_graph()
    assert ("gpugrad.backends.cuda", True) in {(t, lazy) for t, _, lazy in graph["gpugrad.backends"]}
    assert "gpugrad.kernels._launch" in {t for t, _, _ in graph["gpugrad.kernels.matmul"]}


def test_the_gpugrad_import_graph_has_no_cycle():
    graph = import_graph()
    cycles = find_cycles(graph)
    lines = []
    for comp in cycles:
        members = set(comp)
        lines += [f"{m} -> {t} ({_modules()[m][0].relative_to(ROOT)}:{ln}{', in a function' if lazy else ''})"
                  for m in comp for t, ln, lazy in graph[m] if t in members]
    assert not cycles, ("imports form a cycle; make the lower module not import the higher one "
                        "(see docs/architecture.md):\n" + "\n".join(lines))


def test_the_engine_imports_gpugrad_at_module_level_except_the_listed_lazy_imports():
    graph = import_graph()
    lazy = {(m, t) for m, edges in graph.items() if _within(m, ENGINE) for t, _, is_lazy in edges if is_lazy}
    assert lazy == LAZY_IMPORTS, (
        f"function-level imports not in LAZY_IMPORTS: {sorted(lazy - LAZY_IMPORTS)}; listed but gone: "
        f"{sorted(LAZY_IMPORTS - lazy)}. Import at module level, or list it with the reason it must wait.")


def _app_layer(module: str) -> bool:
    return module.startswith("gpugrad.") and not _within(module, ENGINE + ("gpugrad.kernels",))


def test_the_application_layer_imports_gpugrad_at_module_level_except_the_listed_lazy_imports():
    graph = import_graph()
    lazy = {(m, t) for m, edges in graph.items() if _app_layer(m) for t, _, is_lazy in edges if is_lazy}
    where = {(m, t): f"{_modules()[m][0].relative_to(ROOT)}:{ln}" for m, edges in graph.items()
             for t, ln, is_lazy in edges if is_lazy}
    assert lazy == APP_LAZY_IMPORTS, (
        "function-level imports not in APP_LAZY_IMPORTS: "
        f"{sorted(f'{m} -> {t} ({where[m, t]})' for m, t in lazy - APP_LAZY_IMPORTS)}; listed but gone: "
        f"{sorted(APP_LAZY_IMPORTS - lazy)}. Import at module level, or list it with the reason it must wait.")


_START_UP = """
import json, sys
import gpugrad.commands.cli as cli
for argv in (["--help"], ["bench", "--help"], ["train", "--help"]):
    try:
        cli.main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("gpugrad"))))
"""


def test_each_listed_lazy_import_defers_a_module_that_start_up_does_not_load():
    """A lazy import whose target `import gpugrad` or the CLI's help already loaded guards nothing."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", _START_UP], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout.splitlines()[-1]))
    assert "gpugrad.commands.train" in loaded and "gpugrad.commands.bench.cli" in loaded   # the check ran
    needless = sorted((m, t) for m, t in APP_LAZY_IMPORTS | LAZY_IMPORTS if t in loaded)
    assert not needless, (f"these lazy imports wait for modules that start-up loads anyway: {needless}; "
                          f"import them at module level and drop them from (APP_)LAZY_IMPORTS")


@pytest.mark.parametrize("module", ["gpugrad.tensor", "gpugrad.op", "gpugrad.backends.cuda_runtime"])
def test_the_low_floors_do_not_import_the_floors_above(module):
    """Tensor, the op machinery and the CUDA runtime never reach up to ops, autograd or the CLI."""
    above = ("gpugrad.ops", "gpugrad.autograd", "gpugrad.torch_face", "gpugrad.cuda_graph", "gpugrad.nn",
             "gpugrad.optim", "gpugrad.commands")
    graph = import_graph()
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        for t, _, _ in graph.get(m, ()):
            if t not in seen:
                seen.add(t)
                todo.append(t)
    reached = sorted(m for m in seen if _within(m, above))
    assert not reached, f"{module} reaches {reached}"


def test_the_core_does_not_import_the_pytorch_face_except_its_leaves():
    """PyTorch's face (gpugrad/torch_face/) sits above the NumPy-style core: a core module reaching the
    face (directly or through other modules) would put a PyTorch spelling beneath the op table."""
    graph = import_graph()
    bad = sorted(f"{m} -> {t}" for m, edges in graph.items() if _within(m, CORE) for t, _, _ in edges
                 if _within(t, (FACE,)) and t not in FACE_LEAVES_FOR_THE_CORE)
    assert not bad, f"the core imports PyTorch's face: {bad}; move the spelling up into {FACE}"
    for leaf in FACE_LEAVES_FOR_THE_CORE:
        assert graph[leaf] == [], f"{leaf} is imported by the core, so it must import nothing of gpugrad"
    assert graph[FACE] == [], f"{FACE}/__init__.py must import nothing: the core's import of its leaves runs it"
    # the check sees the edges it is about: the face does import the core, and the core the leaf
    assert any(_within(t, CORE) for t, _, _ in graph["gpugrad.torch_face.top_level"])
    assert "gpugrad.torch_face.args" in {t for t, _, _ in graph["gpugrad.ops.reduce"]}
