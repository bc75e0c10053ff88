"""neotool-mini frontend dev server: a stand-in for the NeoTool Next.js app (DEMO ONLY).

`npm run dev` runs it. Serves index.html on `-p PORT` (as `next dev -p`), else $PORT (default
3000), and forwards POST /graphql to the router (ROUTER_URL, default
http://127.0.0.1:4000/graphql), like a Next.js rewrite, so the page needs no CORS. Listens on
every address of NEODEV_BIND_HOSTS (default 127.0.0.1).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROUTER_URL = os.environ.get("ROUTER_URL", "http://127.0.0.1:4000/graphql")
PAGE = Path(__file__).with_name("index.html")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] in ("/", "/index.html"):
            return self.reply(200, PAGE.read_bytes(), "text/html; charset=utf-8")
        self.reply(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/graphql":
            return self.reply(404, b"not found", "text/plain")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = urllib.request.Request(ROUTER_URL, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                self.reply(response.status, response.read(), "application/json")
        except urllib.error.HTTPError as exc:
            self.reply(exc.code, exc.read(), "application/json")
        except OSError as exc:
            self.reply(502, f'{{"errors":[{{"message":"router unreachable: {exc}"}}]}}'.encode(),
                       "application/json")

    def reply(self, status: int, data: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="neotool-mini demo frontend (next dev)")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("PORT", "3000")))
    port = parser.parse_args().port
    servers = []
    for host in os.environ.get("NEODEV_BIND_HOSTS", "127.0.0.1").split(","):
        try:
            servers.append(ThreadingHTTPServer((host.strip(), port), Handler))
            print(f"ready - started server on http://{host.strip()}:{port}", flush=True)
        except OSError as exc:
            print(f"cannot listen on {host}:{port}: {exc}", file=sys.stderr, flush=True)
    if not servers:
        sys.exit(1)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
