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
