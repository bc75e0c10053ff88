"""An engine that goes away in the middle of an answer is an outage, not a unit's failure.

A stand-in Docker engine on a Unix socket answers a container lookup, then — as a real engine
does when it stops while a client waits for a container's exit — sends the `wait` answer's
headers and closes the connection before the body. docker-py raises a `ChunkedEncodingError`
(not a `DockerException`, not a `ConnectionError`); neodev must call it `EngineUnreachable`, so
the supervisor waits the outage out instead of counting a failure and a restart.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from neodev.docker.client import ClientFactory, translate
from neodev.errors import EngineUnreachable

CONTAINER = {"Id": "abc123", "Name": "/shop-db-1", "State": {"Status": "running"},
             "Config": {"Labels": {}}}


def serve(listener: socket.socket, stop: threading.Event) -> None:
    """Answer requests until `stop`: inspect as running; cut every wait."""
    while not stop.is_set():
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            request = data.split(b"\r\n", 1)[0]
            if b"/wait" in request:  # headers now, the body never: the engine went away
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n")
                continue
            body = json.dumps(CONTAINER).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "docker.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.listen(8)
    listener.settimeout(0.05)
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(listener, stop), daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_wait_cut_by_the_engine_is_engine_unreachable(engine: str) -> None:
    client = docker.DockerClient(base_url=engine, version="1.41", timeout=5)
    try:
        with pytest.raises(requests.exceptions.ChunkedEncodingError) as cut:
            client.containers.get("abc123").wait()
    finally:
        client.close()
    assert isinstance(translate(cut.value, "wait for container shop-db-1"), EngineUnreachable)


def test_the_shared_client_is_dropped_and_the_error_is_the_engine_s(engine: str) -> None:
    made: list[docker.DockerClient] = []

    def connect() -> docker.DockerClient:
        made.append(docker.DockerClient(base_url=engine, version="1.41", timeout=5))
        return made[-1]

    factory = ClientFactory(connect=connect, workers=1)
    try:
        with pytest.raises(EngineUnreachable, match="wait for container shop-db-1"):
            factory.call_sync("wait for container shop-db-1",
                              lambda c: c.containers.get("abc123").wait())
        factory.call_sync("inspect", lambda c: c.containers.get("abc123").id)
        assert len(made) == 2  # reconnected after the cut
    finally:
        factory.close()
