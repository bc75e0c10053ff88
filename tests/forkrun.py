"""Many `neodev` commands, each a child forked from one interpreter that imported neodev once.

A fresh `python -m neodev config` spends ~0.4 s of CPU importing before it reads a file; the
hostile-configuration corpus runs over 200 of them. This script imports the CLI once, then forks
a child per command: the child takes the job's working directory, environment, memory limit and
output files, and runs `neodev` exactly as `python -m neodev` does (`runpy`, `__main__`), so the
CLI's code path, its exit code and what it prints are the real ones; only the imports are paid
once. The interpreter starts with the same minimal environment the jobs carry.

Run as `python tests/forkrun.py PARALLEL`: one job per line on stdin (JSON: argv, cwd, env,
stdout, stderr, timeout, memory), read to the end; then at most PARALLEL children at once, each
killed at its timeout; one result per line on stdout as each ends (id, code, hung, seconds).
Standard library and neodev only: it is not a test module.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import resource
import runpy
import select
import signal
import sys
import time
import traceback
from typing import Any

PRELOAD = ("neodev.entry", "neodev.cli", "neodev.config.loader", "neodev.config.display",
           "neodev.client.spawn", "neodev.configstate")
"""What `config` and `start` import: paid once here (anything else, in the child)."""


def run_job(job: dict[str, Any]) -> int:
    """In the child: become the job's `neodev` process; its exit status."""
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    limit = int(job["memory"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = ["neodev", *job["argv"]]
    try:
        runpy.run_module("neodev", run_name="__main__", alter_sys=True)
    except SystemExit as exc:  # as the interpreter ends on it
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    except BaseException:  # printed as the interpreter would, then exit 1
        traceback.print_exc()
        return 1
    return 0


def fork(job: dict[str, Any]) -> int:
    """Start the job's child; its pid."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the parent's loop
        code = 1
        try:
            code = run_job(job)
            atexit._run_exitfuncs()  # what a normal exit runs
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    return pid


def serve(jobs: list[dict[str, Any]], parallel: int) -> None:
    """Run every job, `parallel` at a time, each killed at its deadline; report each end."""
    pending = list(jobs)
    running: dict[int, tuple[dict[str, Any], int, float, float]] = {}  # pidfd -> job, pid, ...
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            pid = fork(job)
            started = time.monotonic()
            running[os.pidfd_open(pid)] = (job, pid, started, started + float(job["timeout"]))
        first = min(deadline for _, _, _, deadline in running.values())
        ready, _, _ = select.select(list(running), [], [], max(0.0, first - time.monotonic()))
        now = time.monotonic()
        for fd, (job, pid, started, deadline) in list(running.items()):
            if fd not in ready and now < deadline:
                continue
            hung = fd not in ready
            if hung:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            os.close(fd)
            del running[fd]
            print(json.dumps({"id": job["id"], "code": os.waitstatus_to_exitcode(status),
                              "hung": hung, "seconds": now - started}), flush=True)


def main() -> None:
    for module in PRELOAD:
        importlib.import_module(module)
    jobs = [json.loads(line) for line in sys.stdin if line.strip()]
    serve(jobs, int(sys.argv[1]))


if __name__ == "__main__":
    main()
