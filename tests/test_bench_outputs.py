"""`gpugrad bench`: unusable output paths are refused before anything is measured (one line, exit
status 2), and without PyTorch the plot's title does not claim a comparison with it."""
from __future__ import annotations

import pytest

from gpugrad.commands.bench import cli as bench_cli
from gpugrad.commands.bench import mlp as mb
from gpugrad.commands.bench import report


@pytest.fixture
def no_measuring(monkeypatch):
    monkeypatch.setattr(mb, "run_mlp_bench", lambda *a, **k: pytest.fail("benchmark ran before the "
                                                                          "output paths were checked"))


@pytest.mark.parametrize("flags, said", [
    (["--out", "{file}"], "--out {file} is a file, not a folder"),
    (["--json", "{file}/r.json"], "--json {file}/r.json: its folder {file} is a file, not a folder"),
    (["--json", "{dir}"], "--json {dir} is a folder; give a file path"),
    (["--plots", "{file}"], "--plots {file} is a file, not a folder"),
])
def test_bad_output_paths_are_refused_before_the_work(tmp_path, capsys, no_measuring, flags, said):
    afile = tmp_path / "existing"
    afile.write_text("keep me")
    fill = dict(file=str(afile), dir=str(tmp_path))
    rc = bench_cli.main(["mlp", "--device", "cpu", "--sizes", "tiny", "--quiet",
                         *[f.format(**fill) for f in flags]])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and said.format(**fill) in err, err
    assert afile.read_text() == "keep me"


def test_plot_title_without_torch(tmp_path, monkeypatch, capsys):
    titles = []
    monkeypatch.setattr(report, "plot_mlp", lambda rows, path, title: titles.append(title) or True)
    rc = bench_cli.main(["mlp", "--device", "cpu", "--sizes", "tiny", "--repeats", "1", "--steps", "1",
                         "--budget", "0.01", "--quiet", "--no-torch", "--plots", str(tmp_path)])
    assert rc == 0 and len(titles) == 1
    assert "PyTorch" in titles[0] and "vs PyTorch" not in titles[0], titles[0]
