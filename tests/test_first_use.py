"""First contact, as a new user meets it: the commands of the README do what they say."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from sim.cli import main
from sim.params import REGISTRY, defaults

ROOT = Path(__file__).resolve().parent.parent


def test_a_mistyped_scenario_name_suggests_the_nearest_one(capsys):
    assert main(["run", "basline"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'baseline'?" in err and len(err.strip().splitlines()) == 1


def test_params_shows_the_value_a_run_uses_with_the_declared_one_beside_it(capsys):
    assert main(["params"]) == 0
    out = capsys.readouterr().out
    used = defaults()
    changed = [p for p in REGISTRY.values() if used[p.name] != p.default]
    assert changed, "no calibrated value differs from its declared one"
    for p in changed:
        assert f"{p.name} = {used[p.name]:.4g} (calibrated; declared {p.default:.4g})" in out


def test_python_m_sim_on_an_old_python_says_what_to_install_in_one_line():
    code = "import sys, runpy; sys.version_info = (3, 11, 7); sys.argv = ['-m']; runpy.run_module('sim')"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Python >= 3.12" in done.stderr and "run.sh" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_ui_prints_its_url_only_once_the_page_answers_and_no_warning_after(tmp_path):
    err = (tmp_path / "stderr").open("w")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim", "ui", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
        start_new_session=True,
    )
    try:
        url = None
        for line in proc.stdout:
            if line.startswith("Weightshift UI: http://"):
                url = line.split()[2]
                break
        assert url == f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=10) as r:  # at once: no retry, no wait
            assert r.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.close()
    # Solara warns on every page load over http on 127.0.0.1 that it falls back to SameSite=lax
    # cookies (right for a local app): noise in the main job's terminal, so it is filtered
    assert "samesite" not in (tmp_path / "stderr").read_text().lower()
