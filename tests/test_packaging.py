"""Packaging: a regular (non-editable) install must ship every subpackage."""
from __future__ import annotations

import pathlib

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the check needs to run on one version only

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {"gpugrad." + ".".join(p.parent.relative_to(ROOT / "gpugrad").parts)
             for p in (ROOT / "gpugrad").rglob("__init__.py") if p.parent != ROOT / "gpugrad"}
    found |= {"gpugrad", "gpugrad.kernels"}
    assert found <= listed, f"missing from [tool.setuptools] packages: {sorted(found - listed)}"
    assert config["package-dir"]["gpugrad.kernels"] == "kernels"
