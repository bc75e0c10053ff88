"""A small HTTP app that neodev runs as a user's process in tests and benchmarks.

It answers every GET on 127.0.0.1 with 200 and a body: the text of --file (read once at
start, so a changed file needs a restart to be served), else the value of the environment
variable --var, else "ok". It prints --banner at start ("{body}" in it is replaced by the
body) and, with --log-requests, one access line per request (what a health probe's GETs look
like in a real app's output).
"""

from __future__ import annotations

import argparse
import os
import pathlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=None, help="default: $PORT")
    parser.add_argument("--file", help="serve this file's text (read once at start)")
    parser.add_argument("--var", help="serve this environment variable's value")
    parser.add_argument("--banner", help='printed at start; "{body}" is replaced by the body')
    parser.add_argument("--log-requests", action="store_true", help="print one line a request")
    return parser.parse_args()


def body_of(args: argparse.Namespace) -> str:
    if args.file:
        return pathlib.Path(args.file).read_text().strip()
    if args.var:
        return os.environ[args.var]
    return "ok"


def main() -> None:
    args = parse()
    body = body_of(args).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *values: object) -> None:
            if args.log_requests:
                print(f"{self.address_string()} {format % values}", flush=True)

    port = args.port if args.port is not None else int(os.environ["PORT"])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    if args.banner:
        print(args.banner.replace("{body}", body.decode()), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
