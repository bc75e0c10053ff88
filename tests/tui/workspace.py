"""A workspace for the dashboard's tests: Postgres (the local test image) and two processes.

- `db`: PostgreSQL from `neodev-test/postgres:15`, healthchecked, published on a free port;
- `api`: a stdlib HTTP server that depends on `db` being healthy, prints a numbered line per
  request and a few thousand lines at start (one of them early holds `needle-4242`, so a search
  must find a line far beyond the screen), and has a secret in its environment;
- `chatty`: a process that prints a line every 50 ms.

Real daemon, real container, real processes: the dashboard is tested as a person meets it.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from tests.integration.stack_workspace import NeodevCLI, StackWorkspace, new_workspace
from tests.ports import free_ports

SECRET = "tui-secret-value-77"

API = textwrap.dedent("""\
    import http.server, os, sys
    port = int(os.environ["PORT"])
    for i in range(3000):
        print(f"warming up {i}" + (" needle-4242" if i == 10 else ""), flush=True)
    print("ERROR a problem for the level filter", flush=True)
    print(f"api token is {os.environ['API_TOKEN']}", flush=True)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            print(f"served {self.path}", flush=True)

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
""")

CHATTY = textwrap.dedent("""\
    import itertools, time
    for i in itertools.count():
        print(f"chatty line {i}", flush=True)
        time.sleep(0.05)
""")


def dashboard_workspace(tmp_path: Path) -> tuple[StackWorkspace, NeodevCLI, int]:
    """The workspace, a CLI for it (cleanup: `down --volumes`), and the api's port."""
    db, metrics, api_port = free_ports(3)
    ws = new_workspace(tmp_path, {"db": db, "metrics": metrics})
    apps = ws.root / "apps"
    apps.mkdir()
    (apps / "api.py").write_text(API)
    (apps / "chatty.py").write_text(CHATTY)
    profile = ws.root / "profiles" / "local.toml"
    profile.write_text(profile.read_text() + textwrap.dedent(f"""\

        [processes.api]
        cwd = "../apps"
        command = ["{sys.executable}", "-u", "api.py"]
        port = {api_port}
        env = {{ PORT = "{api_port}", API_TOKEN = "{SECRET}" }}
        depends_on = {{ db = "healthy" }}
        readiness = {{ http = "http://127.0.0.1:{api_port}/", interval = 0.2 }}

        [processes.chatty]
        cwd = "../apps"
        command = ["{sys.executable}", "-u", "chatty.py"]
        """))
    # The metrics container is not needed here: the dashboard starts only what the profile
    # has, so take it out of the compose file.
    compose = ws.root / "compose" / "stack.yml"
    text = compose.read_text()
    start = text.index("  metrics:\n")
    end = text.index("volumes:\n  pgdata")
    compose.write_text(text[:start] + text[end:])
    return ws, NeodevCLI(ws), api_port
