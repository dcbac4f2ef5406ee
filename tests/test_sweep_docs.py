"""The Python API example in docs/sweeps.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "sweeps.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_api_example_runs(tmp_path, monkeypatch, capsys):
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert blocks, "docs/sweeps.md has no python example"
    monkeypatch.chdir(tmp_path)  # the example writes into results/
    namespace: dict = {}
    for code in blocks:
        exec(compile(code, str(DOC), "exec"), namespace)
    out = capsys.readouterr().out
    assert "24 runs" in out and "runs/hour" in out
    assert (tmp_path / "results" / "api-example" / "results.parquet").exists()
    assert (tmp_path / "results" / "api-example" / "analysis" / "report.md").exists()
    assert (tmp_path / "results" / "api-example-compare" / "compare.png").exists()
    assert len(namespace["df"]) == 24 and (namespace["df"].status == "ok").all()


def test_every_shipped_sweep_file_is_in_the_docs():
    from sim.batch.sweep import available

    text = DOC.read_text(encoding="utf-8")
    for name in available():
        assert f"`{name}.toml`" in text


def test_the_quick_try_gives_indices(tmp_path, monkeypatch, capsys):
    """The guide's quick try, as written (smaller runs), yields sensitivity indices."""
    from sim.batch.analysis import analyze
    from sim.cli import main

    text = DOC.read_text(encoding="utf-8")
    sweep_line = next(line for line in text.splitlines() if line.startswith("bash run.sh sweep uncertainty_lhs --out"))
    argv = sweep_line.split("#")[0].split()[2:]
    assert "--samples" in argv
    argv[argv.index("n_developers=2000")] = "n_developers=300"  # the same design, faster runs
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--quiet"]) == 0
    out = argv[argv.index("--out") + 1]
    a = analyze(out)
    assert set(a.indices.measure) == {"S1", "pawn"} and not [n for n in a.notes if "indices" in n]
    capsys.readouterr()


def test_commands_in_the_guide_work_without_an_activated_venv():
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash)?\n(.*?)```", text, flags=re.S)
    commands = [line for b in blocks for line in b.splitlines() if line.strip() and not line.startswith("#")]
    assert not [c for c in commands if c.startswith("weightshift ")], "bare `weightshift` needs an activated venv"
