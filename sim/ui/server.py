"""Start the UI server: `weightshift ui [--host 127.0.0.1] [--port 8765]`.

Runs `solara run sim.ui.app` in production mode, set up for a room with no internet: the front end
comes from the local solara-assets package, and Solara's telemetry and version check (both would
call out to the internet) are switched off. Binds to 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import os
import sys

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
    return env


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Print the URL, then replace this process with the Solara server (Ctrl-C stops it)."""
    print(f"Weightshift UI: http://{host}:{port}/  (baseline scenario; Ctrl-C to stop)", flush=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  listening on {host}: anyone who can reach this machine can open the page", flush=True)
    os.execve(sys.executable, server_command(host, port), server_env())
