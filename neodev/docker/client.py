"""Docker clients, error translation and the threads blocking SDK calls run in.

The docker SDK is synchronous and its client (a `requests.Session`) is not documented as
thread-safe (reference §2). So: one shared client for short calls, a fresh client for every
long-lived stream (log follow, events, `wait`), and every call on a worker thread so the event
loop never blocks. Errors surface as `DockerError` with a message a person can act on:
- `DockerException` while constructing a client: the engine is not reachable at all;
- `requests.exceptions.ConnectionError` later: the engine went away mid-run. docker-py does not
  wrap it in a `DockerException`, so it is caught separately, the shared client is dropped, and
  the next call connects afresh (reconnect on demand, no crash);
- `APIError`: the engine refused the operation (its explanation is kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import docker
import requests
from docker import DockerClient
from docker.context import ContextAPI
from docker.errors import APIError, DockerException

from neodev.errors import DockerError, EngineUnreachable, PortConflictError

T = TypeVar("T")

Connect = Callable[[], DockerClient]
"""Builds a new connected client (docker.from_env by default); injectable for tests."""

DEFAULT_WORKERS = 8
"""Threads for short docker calls. Own pool, so docker calls never starve (or are starved by)
the default executor that Textual workers and psutil calls share (only cpu+4 threads)."""


DEFAULT_ENDPOINT = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT = 60
"""Seconds one engine request may take (docker-py's default)."""
PORT_TAKEN_WORDS = ("port is already allocated", "address already in use")
"""How the engine says a container's published port is taken when it starts it."""


def connect_from_env(environ: Mapping[str, str] | None = None,
                     timeout: int = DEFAULT_TIMEOUT) -> DockerClient:
    """A client configured like the docker CLI (DOCKER_HOST, or the current context).

    Raises:
        DockerException: no engine answers (docker-py asks for the API version at once).
    """
    env = dict(os.environ if environ is None else environ)
    return docker.from_env(environment=env, timeout=timeout)


def docker_endpoint(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """Where the docker SDK will connect, and why: (endpoint, source).

    Mirrors `docker.from_env`: DOCKER_HOST, else the current docker CLI context, else the
    default socket.
    """
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"], "DOCKER_HOST"
    try:
        host = ContextAPI.kwargs_from_context(environment=dict(env)).get("base_url")
    except DockerException:
        host = None  # a broken context: from_env reports it when connecting
    if host and str(host).replace("http+unix://", "unix://") != DEFAULT_ENDPOINT:
        return str(host), "docker context"
    return DEFAULT_ENDPOINT, "default"


def engine_location(environ: Mapping[str, str] | None = None) -> str:
    """Where the client looks for the engine, for messages: `unix:///... (from DOCKER_HOST)`."""
    endpoint, source = docker_endpoint(environ)
    return endpoint if source == "default" else f"{endpoint} (from {source})"


def start_engine_hint(environ: Mapping[str, str] | None = None) -> str:
    """What to do when no engine answers."""
    endpoint, source = docker_endpoint(environ)
    if source == "DOCKER_HOST":
        return f"start the engine at {endpoint}, or unset DOCKER_HOST to use the local one"
    return ("start the Docker engine (`sudo systemctl start docker`, Docker Desktop, or "
            "`setsid dockerd &` as root) and check that `docker info` answers")


def engine_unreachable(cause: object, environ: Mapping[str, str] | None = None,
                       while_doing: str | None = None) -> EngineUnreachable:
    """The one wording of "no Docker engine answers", for the daemon, the CLI and doctor."""
    doing = f" while trying to {while_doing}" if while_doing else ""
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else "no answer"
    return EngineUnreachable(f"no Docker engine answers at {engine_location(environ)}{doing}: "
                             f"{first}. To fix: {start_engine_hint(environ)}; neodev "
                             "reconnects on its next call.")


def stop_timeout(grace: float) -> int:
    """Docker's stop timeout is whole seconds (a float is refused with HTTP 500): round up."""
    return max(0, math.ceil(grace))


def translate(exc: BaseException, what: str) -> DockerError:
    """Turn a docker SDK / requests exception into a DockerError naming the operation.

    Args:
        exc: the exception raised by the SDK.
        what: the operation in a few words ("create container neotool-postgres-1").

    Returns:
        A DockerError to raise (`raise translate(e, ...) from e`).
    """
    if isinstance(exc, requests.exceptions.ConnectionError):
        return engine_unreachable(exc, while_doing=what)
    if isinstance(exc, requests.exceptions.Timeout):
        return DockerError(f"The Docker engine did not answer in time while trying to {what}: "
                           f"{exc}", title="Docker engine timeout")
    if isinstance(exc, APIError):
        detail = exc.explanation or str(exc)
        message = f"Docker refused to {what}: {detail} (HTTP {exc.status_code})"
        if any(words in str(detail) for words in PORT_TAKEN_WORDS):
            return PortConflictError(message)  # taken after neodev's own pre-start check
        return DockerError(message)
    return DockerError(f"Docker error while trying to {what}: {exc}")


class ClientFactory:
    """Hands out docker clients and runs blocking calls on worker threads.

    Create one per daemon and pass it to every `DockerProject` and `ContainerRunner`. Nothing
    connects until the first call (no side effects in the constructor).
    """

    def __init__(self, connect: Connect = connect_from_env, workers: int = DEFAULT_WORKERS) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._shared: DockerClient | None = None
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="neodev-docker")

    def fresh(self) -> DockerClient:
        """A new client of its own, for one long-lived stream. The caller closes it.

        Raises:
            DockerError: the engine is not reachable.
        """
        try:
            return self._connect()
        except DockerException as e:
            raise engine_unreachable(e) from e
        except requests.exceptions.RequestException as e:
            raise translate(e, "connect") from e

    def shared(self) -> DockerClient:
        """The shared client for short calls, connecting (again) if there is none.

        Raises:
            DockerError: the engine is not reachable.
        """
        with self._lock:
            if self._shared is None:
                self._shared = self.fresh()
            return self._shared

    def invalidate(self, client: DockerClient | None = None) -> None:
        """Drop the shared client (`client`, or any when None); the next call reconnects."""
        with self._lock:
            if self._shared is not None and (client is None or client is self._shared):
                old, self._shared = self._shared, None
                _close_quietly(old)

    def call_sync(self, what: str, fn: Callable[[DockerClient], T]) -> T:
        """Run fn(shared client) on the current thread, translating errors.

        `fn` handles the SDK errors it expects itself (typically `NotFound`); anything else
        becomes a DockerError. A lost connection drops the shared client so the next call
        reconnects.

        Raises:
            DockerError: the engine is unreachable or refused the operation.
        """
        client = self.shared()
        try:
            return fn(client)
        except requests.exceptions.ConnectionError as e:
            self.invalidate(client)
            raise translate(e, what) from e
        except (DockerException, requests.exceptions.RequestException) as e:
            raise translate(e, what) from e

    async def call(self, what: str, fn: Callable[[DockerClient], T]) -> T:
        """`call_sync` on a worker thread: the event loop is never blocked.

        Args:
            what: the operation, for error messages ("inspect container x").
            fn: a blocking function of the shared client.

        Returns:
            Whatever fn returns.

        Raises:
            DockerError: the engine is unreachable or refused the operation.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.call_sync, what, fn)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run any blocking callable (no client handed in) on the docker worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    def close(self) -> None:
        """Close the shared client and stop the worker threads (queued calls still finish)."""
        self.invalidate()
        self._executor.shutdown(wait=False)


async def in_own_thread(fn: Callable[[], T], name: str) -> T:
    """Run a call that may block for a long time (container wait) on a dedicated daemon thread.

    Such calls must not hold a pool worker for a container's whole lifetime. If the awaiting
    task is cancelled the thread is abandoned; it ends when the call returns.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def resolve(ok: bool, value: object) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)  # type: ignore[arg-type]
        else:
            future.set_exception(value)  # type: ignore[arg-type]

    def body() -> None:
        try:
            result = fn()
        except BaseException as e:  # handed to the awaiting task, which re-raises it
            post_to_loop(loop, resolve, False, e)
        else:
            post_to_loop(loop, resolve, True, result)

    threading.Thread(target=body, name=name, daemon=True).start()
    return await future


def post_to_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: object) -> None:
    """call_soon_threadsafe that tolerates a loop closed meanwhile (the result has no reader)."""
    # A closed loop means nobody awaits the result any more.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def _close_quietly(client: DockerClient) -> None:
    """Close a client whose engine may be gone; failing to close a dead session changes nothing."""
    with contextlib.suppress(DockerException, requests.exceptions.RequestException, OSError):
        client.close()
