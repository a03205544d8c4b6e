"""README's test command is what CI runs, and its extra holds what the suite needs (issue 25,
item 5): the command in README, .ci/run's steps and pyproject's test extra must agree."""
from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text()
    at = text.index("Run the test suite")
    block = re.search(r"```bash\n(.*?)\n```", text[at:], re.S)
    return block.group(1).strip()


def test_readme_test_command_is_the_two_steps_ci_runs():
    cmd = _readme_test_command()
    assert cmd == 'pip install -e ".[test]" && bash ci/test.sh'
    steps = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert 'python -m pip install -q -e ".[test]"' in steps and steps[-1] == "bash ci/test.sh"
    # nothing else is installed by CI behind README's back
    installs = [s for s in steps if "pip install" in s or "apt-get" in s]
    assert installs == ["python -m pip install -q --upgrade pip", 'python -m pip install -q -e ".[test]"']


def test_the_test_extra_holds_what_the_suite_needs():
    tomllib = pytest.importorskip("tomllib")   # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {re.split(r"[<>=\[ ]", r, maxsplit=1)[0].lower(): r for r in extras["test"]}
    for needed in ("pytest", "hypothesis", "numba-cuda", "nvidia-cuda-nvdisasm", "torch", "mpi4py", "mpich",
                   "cupy-cuda13x", "safetensors", "tensorboardx", "pandas", "pyarrow", "scikit-learn"):
        assert needed in names, needed
    assert names["torch"] == "torch==2.13.0"      # pinned: unpinned, pip would take a CUDA build


def test_ci_test_sh_keeps_pytests_skip_report():
    """-ra from pyproject lists every skip's reason; a second -r on the command line would replace it."""
    script = (ROOT / "ci/test.sh").read_text()
    line = re.search(r"^python -m pytest .*$", script, re.M).group(0).split("#")[0]
    assert line.strip() == 'python -m pytest -q "$@"'                  # no -r of its own
    tomllib = pytest.importorskip("tomllib")
    assert "-ra" in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]


def test_no_gpugrad_module_shares_a_standard_library_name():
    """A gpugrad/random.py once shadowed the stdlib's random for a worker whose sys.path held the
    package folder (gpugrad bench ddp's PYTHONPATH): 'attempted relative import with no known parent
    package' inside mpi4py. Top-level module names must not be stdlib names."""
    import sys
    names = {p.stem for p in (ROOT / "gpugrad").iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    assert not names & set(sys.stdlib_module_names) - {"__init__", "__main__"}
