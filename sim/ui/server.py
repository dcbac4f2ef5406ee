"""Start the UI server: `weightshift ui [--host 127.0.0.1] [--port 8765]`.

Runs `solara run sim.ui.app` in production mode, set up for a room with no internet: the front end
comes from the local solara-assets package, and Solara's telemetry and version check (both would
call out to the internet) are switched off. Binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def server_command(host: str, port: int) -> list[str]:
    """The command line that serves the app (also what the browser tests start)."""
    return [
        sys.executable,
        "-m",
        "solara",
        "run",
        "sim.ui.app",
        "--host",
        host,
        "--port",
        str(port),
        "--production",
        "--no-open",
        "--no-check-version",
    ]


def server_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment with Solara's outside calls (telemetry) and its banner off."""
    env = dict(os.environ if base is None else base)
    env.update(
        SOLARA_TELEMETRY_MIXPANEL_ENABLE="False",
        SOLARA_THEME_SHOW_BANNER="False",
        SOLARA_THEME_TITLE="Weightshift",
        SOLARA_ASSETS_PROXY="True",
    )
    # a tab that closes frees its session at once; one that only lost its connection (a laptop
    # lid closed) is kept this long, then freed (Solara's default is 24 h of a run held in memory)
    env.setdefault("SOLARA_KERNEL_CULL_TIMEOUT", "10m")
    # reacton's renderer that skips the subtrees in which nothing changed (opt-in in reacton 1.11):
    # without it every render walks and compares the whole page, controls included, even when only the
    # numbers and time charts changed (most of the time a preview took, after its own run)
    env.setdefault("REACTON_FAST", "1")
    # Solara warns at every page load over http on 127.0.0.1 that its cookie falls back to
    # SameSite=lax, which is right for a local app: noise in the terminal a class is shown
    quiet = "ignore:Cookies with samesite=none require https:UserWarning"
    env["PYTHONWARNINGS"] = ",".join(w for w in (env.get("PYTHONWARNINGS", ""), quiet) if w)
    return env


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, ready_timeout: float = 300.0) -> int:
    """Start the Solara server, print the URL once it answers, and wait for it (Ctrl-C stops it).

    The URL is printed only when the page can be opened: printed earlier, a visitor who clicks at
    once gets "connection refused" for the few seconds the server takes to start.
    """
    print(f"Weightshift UI: starting on {host}:{port} …", flush=True)
    proc = subprocess.Popen(server_command(host, port), env=server_env())
    try:
        if wait_until_listening(proc, DEFAULT_HOST if host in ("0.0.0.0", "::") else host, port, ready_timeout):
            print(f"Weightshift UI: http://{host}:{port}/  (calibrated baseline; Ctrl-C to stop)", flush=True)
            if host not in ("127.0.0.1", "localhost", "::1"):
                print(f"  listening on {host}: anyone who can reach this machine can open the page", flush=True)
        elif proc.poll() is None:
            print(f"Weightshift UI: no answer on port {port} after {ready_timeout:.0f} s; still waiting", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


def wait_until_listening(proc: subprocess.Popen, host: str, port: int, timeout: float) -> bool:
    """True once the page answers over HTTP; False if the server exits or `timeout` passes first."""
    deadline = time.monotonic() + timeout
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False
