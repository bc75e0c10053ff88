"""neotool-mini router: a stand-in for Apollo Router (DEMO ONLY).

Listens on `supergraph.listen` and forwards POST `supergraph.path` (/graphql) to the backend
subgraph URL (`override_subgraph_url.backend`); answers GET `health_check.path` on
`health_check.listen` like Apollo Router's health listener. Binds each port on every address of
NEODEV_BIND_HOSTS when neodev sets it (loopback + Docker bridge gateway), never 0.0.0.0.

Like Apollo Router, it expands `${env.NAME}` and `${env.NAME:-default}` in the YAML's values,
and APOLLO_ROUTER_LISTEN_ADDRESS overrides `supergraph.listen`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


ENV_REFERENCE = re.compile(r"\$\{env\.([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: object) -> object:
    """`${env.NAME:-default}` in every string of the config, as Apollo Router expands it."""
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, str):
        return ENV_REFERENCE.sub(lambda m: os.environ.get(m.group(1)) or m.group(2) or "", value)
    return value


def load_config(path: str) -> dict:
    """router.yaml, expanded; APOLLO_ROUTER_LISTEN_ADDRESS overrides supergraph.listen."""
    config = expand(read_yaml(path))
    assert isinstance(config, dict)
    listen = os.environ.get("APOLLO_ROUTER_LISTEN_ADDRESS")
    if listen:
        config.setdefault("supergraph", {})["listen"] = listen
    return config


def read_yaml(path: str) -> dict:
    """router.yaml; PyYAML when installed, else a reader for its two-level `key: value` form."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        import yaml
        return yaml.safe_load(text) or {}
    except ImportError:
        pass
    config: dict = {}
    section = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        key, _, value = line.strip().partition(":")
        value = value.strip().strip('"')
        if not raw.startswith(" "):
            section = config.setdefault(key, {}) if not value else None
            if section is None:
                config[key] = value
        elif section is not None:
            section[key] = value
    return config


def make_handlers(config: dict) -> tuple[type, type]:
    graphql_path = config["supergraph"].get("path", "/graphql")
    backend_url = config["override_subgraph_url"]["backend"]
    health_path = config["health_check"].get("path", "/health")

    class Router(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != graphql_path:
                return self.reply(404, b'{"error":"not found"}')
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = urllib.request.Request(backend_url, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    self.reply(response.status, response.read())
            except urllib.error.HTTPError as exc:
                self.reply(exc.code, exc.read())
            except OSError as exc:
                self.reply(502, f'{{"errors":[{{"message":"backend unreachable: {exc}"}}]}}'.encode())

        def reply(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            print(f"{self.address_string()} {format % args}", flush=True)

    class Health(Router):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == health_path:
                return self.reply(200, b'{"status":"UP"}')
            self.reply(404, b'{"error":"not found"}')

    return Router, Health


def listen(address: str, handler: type) -> list[ThreadingHTTPServer]:
    config_host, _, port = address.rpartition(":")
    hosts = os.environ.get("NEODEV_BIND_HOSTS") or config_host or "127.0.0.1"
    servers = []
    for host in hosts.split(","):
        try:
            servers.append(ThreadingHTTPServer((host.strip(), int(port)), handler))
            print(f"listening on http://{host.strip()}:{port}", flush=True)
        except OSError as exc:
            print(f"cannot listen on {host}:{port}: {exc}", file=sys.stderr, flush=True)
    return servers


def main() -> None:
    parser = argparse.ArgumentParser(description="neotool-mini demo router")
    parser.add_argument("--config", default="router.yaml")
    config = load_config(parser.parse_args().config)
    router, health = make_handlers(config)
    servers = (listen(config["supergraph"]["listen"], router)
               + listen(config["health_check"]["listen"], health))
    if not servers:
        sys.exit(1)
    print(f"forwarding {config['supergraph'].get('path', '/graphql')} to "
          f"{config['override_subgraph_url']['backend']}", flush=True)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
