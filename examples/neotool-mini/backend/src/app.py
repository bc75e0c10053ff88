"""neotool-mini backend: a stand-in for the NeoTool Kotlin/Micronaut service (DEMO ONLY).

Endpoints: GET /health (200 when the database answers), /health/liveness, /health/readiness,
/metrics (Prometheus text format), /version, GET and POST /items (Postgres table `items`),
POST /graphql (a tiny subset: `{ items { id name } }` and `{ version }`).

Environment: MICRONAUT_SERVER_PORT or PORT (default 8080: the profile tells it the port of its
instance, `@{backend:8080}`); NEODEV_BIND_HOSTS (comma list, default 127.0.0.1 — neodev
adds the Docker bridge gateway so Prometheus can scrape, never 0.0.0.0); DATABASE_URL, or
DB_HOST / DB_PORT / DB_NAME / DB_USER / DB_PASSWORD.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import psycopg
except ImportError:  # reported by /health and /items, the server still runs
    psycopg = None

VERSION = "v1"  # the reload benchmark edits this line
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_metrics_lock = threading.Lock()
_requests: dict[tuple[str, str, int], int] = {}
_latency_counts = [0] * (len(LATENCY_BUCKETS) + 1)
_latency_sum = 0.0


def database_url() -> str:
    # The profile's DATABASE_URL is the JDBC form the Kotlin backend reads (no credentials in
    # it); this demo speaks libpq, so it builds its URL from the DB_* parts instead.
    url = os.environ.get("DATABASE_URL", "")
    if url and not url.startswith("jdbc:"):
        return url
    env = os.environ.get
    return (f"postgresql://{env('DB_USER', 'postgres')}:{env('DB_PASSWORD', '')}@"
            f"{env('DB_HOST', '127.0.0.1')}:{env('DB_PORT', '5432')}/{env('DB_NAME', 'neotool_dev')}")


def db_query(sql: str, params: tuple = ()) -> list[tuple]:
    if psycopg is None:
        raise RuntimeError("the psycopg package is not installed for this Python "
                           f"({sys.executable}); pip install 'psycopg[binary]'")
    with psycopg.connect(database_url(), connect_timeout=3, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL)")
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


def observe(method: str, path: str, status: int, seconds: float) -> None:
    global _latency_sum
    with _metrics_lock:
        key = (method, path, status)
        _requests[key] = _requests.get(key, 0) + 1
        index = next((i for i, b in enumerate(LATENCY_BUCKETS) if seconds <= b), len(LATENCY_BUCKETS))
        _latency_counts[index] += 1
        _latency_sum += seconds


def metrics_text() -> str:
    lines = ["# HELP http_requests_total HTTP requests handled.",
             "# TYPE http_requests_total counter"]
    with _metrics_lock:
        for (method, path, status), n in sorted(_requests.items()):
            lines.append(f'http_requests_total{{method="{method}",path="{path}",status="{status}"}} {n}')
        lines += ["# HELP http_request_duration_seconds Request latency.",
                  "# TYPE http_request_duration_seconds histogram"]
        cumulative = 0
        for bound, n in zip((*LATENCY_BUCKETS, float("inf")), _latency_counts):
            cumulative += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'http_request_duration_seconds_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"http_request_duration_seconds_sum {_latency_sum}")
        lines.append(f"http_request_duration_seconds_count {cumulative}")
    return "\n".join(lines) + "\n"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.handle_request("GET")

    def do_POST(self) -> None:
        self.handle_request("POST")

    def handle_request(self, method: str) -> None:
        started = time.perf_counter()
        path = self.path.split("?")[0]
        try:
            status, body, ctype = self.route(method, path)
        except Exception as exc:  # the demo reports every failure as a 500 with its reason
            status, body, ctype = 500, json.dumps({"error": str(exc)}), "application/json"
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        observe(method, path, status, time.perf_counter() - started)

    def route(self, method: str, path: str) -> tuple[int, str, str]:
        if path == "/health/liveness":
            return 200, '{"status":"UP"}', "application/json"
        if path in ("/health", "/health/readiness"):
            try:
                db_query("SELECT 1")
            except Exception as exc:  # any database failure means "not ready", with the reason
                return 503, json.dumps({"status": "DOWN", "db": str(exc)}), "application/json"
            return 200, '{"status":"UP","db":"UP"}', "application/json"
        if path == "/metrics":
            return 200, metrics_text(), "text/plain; version=0.0.4"
        if path == "/version":
            return 200, VERSION, "text/plain"
        if path == "/items" and method == "GET":
            return 200, json.dumps(self.items()), "application/json"
        if path == "/items" and method == "POST":
            name = json.loads(self.read_body() or "{}").get("name", "unnamed")
            (row,) = db_query("INSERT INTO items (name) VALUES (%s) RETURNING id, name", (name,))
            return 201, json.dumps({"id": row[0], "name": row[1]}), "application/json"
        if path == "/graphql" and method == "POST":
            query = json.loads(self.read_body() or "{}").get("query", "")
            data: dict[str, object] = {}
            if "items" in query:
                data["items"] = self.items()
            if "version" in query:
                data["version"] = VERSION
            return 200, json.dumps({"data": data}), "application/json"
        return 404, '{"error":"not found"}', "application/json"

    def items(self) -> list[dict[str, object]]:
        return [{"id": i, "name": n} for i, n in db_query("SELECT id, name FROM items ORDER BY id")]

    def read_body(self) -> str:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def serve(handler: type[BaseHTTPRequestHandler], port: int) -> None:
    """One listener per address in NEODEV_BIND_HOSTS; an address that cannot bind is skipped."""
    servers = []
    for host in os.environ.get("NEODEV_BIND_HOSTS", "127.0.0.1").split(","):
        try:
            servers.append(ThreadingHTTPServer((host.strip(), port), handler))
            print(f"listening on http://{host.strip()}:{port}", flush=True)
        except OSError as exc:
            print(f"cannot listen on {host}:{port}: {exc}", file=sys.stderr, flush=True)
    if not servers:
        sys.exit(1)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    if psycopg is None:
        print(f"warning: psycopg missing for {sys.executable}: /health will answer 503", flush=True)
    serve(Handler, int(os.environ.get("MICRONAUT_SERVER_PORT") or os.environ.get("PORT", "8080")))
