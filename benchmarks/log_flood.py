"""The daemon's CPU per output line under a flood: this checkout, release 4e39a84, a bare reader.

A throwaway workspace per contender runs one local process, `flood`, that waits for a trigger
file, then writes RATE lines/s (~100 characters each, log-like, a level word in most of them;
one line in 500 carries the unit's secret and one a URL with a password, so masking has work)
for DURATION seconds, paced every 5 ms as an app would, and writes how many lines it wrote and
how long the writing took (a supervisor that reads too slowly blocks the app's writes, and the
app's 20 s of output take longer).

Contenders, interleaved round after round (each with a fresh daemon and app):

- `neodev`: this checkout's daemon (`neodev start --wait` through the CLI, the flood started by
  the trigger);
- `4e39a84`: the release of a turn ago, the same profile through its own CLI and daemon, from a
  worktree of that commit with a venv of its own (set-up below; not part of this repository);
- `bare`: a Python process that spawns the same app with a pipe and reads and discards its lines
  (`for line in proc.stdout: pass`): what reading the output costs at all.

With `--follow`, each daemon also has one `neodev logs -f flood` client (output discarded)
reading the lines live, as a person with a terminal or the dashboard would.

Measured: the CPU time (user + system, all threads) of the daemon (the reader for `bare`) from the
trigger until the app is done and its last line has been read, divided by the lines written:
microseconds per line, and % of one core over the flood. Also the app's own writing time. Printed
per round, then the mean per contender and the ratios neodev / 4e39a84 and neodev / bare. Goal
(issue 20): neodev at most half of 4e39a84's cost per line, measured in the same run.

Set-up of the release, once (outside this checkout):

    git worktree add /tmp/neodev-4e39a84 4e39a84
    python3 -m venv /tmp/neodev-4e39a84-venv
    /tmp/neodev-4e39a84-venv/bin/pip install -e /tmp/neodev-4e39a84

Run: `.venv/bin/python benchmarks/log_flood.py [--rate 20000] [--duration 20] [--rounds 3]
[--follow] [--quick] [--release-cli /tmp/neodev-4e39a84-venv/bin/neodev]`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from benchlib import kill_daemon, kill_strays, ratio, stop_group

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.waiting import until

NEODEV = Path(sys.executable).with_name("neodev")
RELEASE = "4e39a84"
RELEASE_CLI = Path(f"/tmp/neodev-{RELEASE}-venv/bin/neodev")
SECRET = "hunter2-flood-secret"
"""The unit's DB_PASSWORD: every output must show it masked."""
CATCH_UP = 0.5
"""Seconds after the app is done during which the reader may finish what the pipe still holds."""

FLOOD = textwrap.dedent("""\
    import json, os, sys, time
    rate, duration, trigger, done = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
    for _ in range(6000):  # up to 10 minutes, then give up
        if os.path.exists(trigger):
            break
        time.sleep(0.1)
    levels = ("INFO ", "DEBUG", "INFO ", "WARN ", "INFO ", "ERROR", "INFO ", "     ")
    secret = os.environ.get("DB_PASSWORD", "")

    def line(i):
        if i % 500 == 7:
            return f"connecting with password {secret} (line {i})\\n"
        if i % 500 == 9:
            return f"jdbc url postgres://app:{secret}@127.0.0.1:5432/app (line {i})\\n"
        return (f"2026-12-06 12:00:{i % 60:02d}.{i % 1000:03d} {levels[i % 8]} [worker-{i % 7}] "
                f"c.n.api.OrderService - handled request {i:08d} in {i % 97} ms\\n")

    out = sys.stdout
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic() - start) < duration:
        due = int(rate * now)
        if due > sent:
            out.write("".join(line(i) for i in range(sent, due)))
            out.flush()
            sent = due
        time.sleep(0.005)
    elapsed = time.monotonic() - start
    print(f"flood done: {sent} lines in {elapsed:.2f} s", flush=True)
    with open(done + ".tmp", "w") as fh:
        json.dump({"lines": sent + 1, "elapsed": elapsed}, fh)
    os.replace(done + ".tmp", done)
""")
READER = textwrap.dedent("""\
    import subprocess, sys
    proc = subprocess.Popen([sys.executable, *sys.argv[1:]], stdout=subprocess.PIPE)
    for line in proc.stdout:
        pass
    proc.wait()
""")


@dataclass(frozen=True)
class Settings:
    rate: int
    duration: float
    follow: bool


@dataclass(frozen=True)
class Result:
    contender: str
    cpu: float
    """CPU seconds of the daemon (or reader) over the flood."""
    wall: float
    lines: int
    app_elapsed: float
    """Seconds the app took to write its output."""

    @property
    def us_per_line(self) -> float:
        return self.cpu / self.lines * 1e6

    @property
    def core_percent(self) -> float:
        """% of one core while the app wrote (the reader's cost spread over the flood)."""
        return self.cpu / self.app_elapsed * 100


def workspace(root: Path, settings: Settings) -> tuple[Path, Path, Path]:
    """The workspace, its trigger file and its done file."""
    root.mkdir(parents=True)
    apps = root / "apps"
    apps.mkdir()
    (apps / "flood.py").write_text(FLOOD)
    (apps / "reader.py").write_text(READER)
    trigger, done = root / "go", root / "done.json"
    (root / "profiles").mkdir()
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "ndflood{uuid.uuid4().hex[:8]}"

        [processes.flood]
        cwd = "../apps"
        command = ["{sys.executable}", "-u", "flood.py", "{settings.rate}",
                   "{settings.duration}", "{trigger}", "{done}"]
        env = {{ DB_PASSWORD = "{SECRET}" }}
        """))
    return root, trigger, done


def cpu_seconds(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def flood(proc: psutil.Process, trigger: Path, done: Path, settings: Settings,
          contender: str) -> Result:
    """Trigger the app, measure `proc` until the app is done and the reader caught up."""
    before, start = cpu_seconds(proc), time.monotonic()
    trigger.touch()
    until(done.exists, f"{contender}: the end of the flood", settings.duration * 4 + 30,
          interval=0.05)
    time.sleep(CATCH_UP)
    cpu, wall = cpu_seconds(proc) - before, time.monotonic() - start
    report = json.loads(done.read_text())
    return Result(contender, cpu, wall, report["lines"], report["elapsed"])


def run_daemon(cli: Path, tmp: Path, settings: Settings, contender: str) -> Result:
    ws, trigger, done = workspace(tmp / f"{contender}-{uuid.uuid4().hex[:6]}", settings)
    env = {**os.environ, "NEODEV_WORKSPACE": str(ws), "NO_COLOR": "1"}
    env.pop("NEODEV_PYTHON", None)  # each CLI spawns its daemon with its own interpreter
    follower = None
    try:
        started = subprocess.run([str(cli), "start", "--wait", "--timeout", "60"], cwd=ws,
                                 env=env, capture_output=True, text=True, timeout=120,
                                 check=False)
        if started.returncode != 0:
            raise SystemExit(f"{contender}: neodev start failed: {started.stderr}"
                             f"{started.stdout}")
        daemon = psutil.Process(json.loads((ws / ".neodev" / "daemon.json").read_text())["pid"])
        if settings.follow:
            follower = subprocess.Popen([str(cli), "logs", "-f", "flood"], cwd=ws, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
            time.sleep(1.0)  # connected and past its backlog
        result = flood(daemon, trigger, done, settings, contender)
        check_log_file(ws, contender, masked=cli == NEODEV)
        return result
    finally:
        if follower is not None:
            stop_group(follower, grace=2)
        subprocess.run([str(cli), "stop"], cwd=ws, env=env, capture_output=True, timeout=60,
                       check=False)
        kill_daemon(ws)
        kill_strays(ws)


def check_log_file(ws: Path, contender: str, masked: bool) -> None:
    """The unit's log file ends with the app's last line and (`masked`) never shows the secret.
    The release wrote lines to the file before masking them, so it is not asked to."""
    log = ws / ".neodev" / "logs" / "flood.log"
    text = log.read_text(errors="replace")
    if "flood done:" not in text.rstrip().rsplit("\n", 1)[-1]:
        raise SystemExit(f"{contender}: the daemon did not read the whole flood ({log})")
    if masked and SECRET in text:
        raise SystemExit(f"{contender}: the secret leaked into {log}")


def run_bare(tmp: Path, settings: Settings) -> Result:
    ws, trigger, done = workspace(tmp / f"bare-{uuid.uuid4().hex[:6]}", settings)
    apps = ws / "apps"
    reader = subprocess.Popen(
        [sys.executable, "reader.py", "-u", "flood.py", str(settings.rate),
         str(settings.duration), str(trigger), str(done)], cwd=apps,
        env={**os.environ, "DB_PASSWORD": SECRET}, start_new_session=True)
    try:
        time.sleep(0.5)  # the app is waiting for its trigger
        return flood(psutil.Process(reader.pid), trigger, done, settings, "bare")
    finally:
        stop_group(reader, grace=5)


def report(results: list[Result], settings: Settings) -> None:
    by: dict[str, list[Result]] = {}
    for result in results:
        by.setdefault(result.contender, []).append(result)
    print(f"\nmean over {len(next(iter(by.values())))} round(s), {settings.rate:,} lines/s for "
          f"{settings.duration:g} s{', one logs -f follower' if settings.follow else ''}:")
    mean: dict[str, float] = {}
    for contender, rows in by.items():
        mean[contender] = statistics.fmean(r.us_per_line for r in rows)
        cores = statistics.fmean(r.core_percent for r in rows)
        app = statistics.fmean(r.app_elapsed for r in rows)
        spread = (f" (rounds {min(r.us_per_line for r in rows):.2f}.."
                  f"{max(r.us_per_line for r in rows):.2f})")
        print(f"  {contender:8s} {mean[contender]:7.2f} us/line{spread}  {cores:5.1f} % of one "
              f"core  app wrote its {settings.duration:g} s in {app:5.2f} s")
    new, old, bare = mean.get("neodev"), mean.get(RELEASE), mean.get("bare")
    if new is not None and old is not None:
        verdict = "met" if new <= old / 2 else "NOT met"
        print(f"  neodev / {RELEASE}: {ratio(new, old)}   goal <= 0.50x: {verdict}")
    if new is not None and bare is not None:
        print(f"  neodev / bare:    {ratio(new, bare)} ({new - bare:+.2f} us/line over reading)")
    if old is not None and bare is not None:
        print(f"  {RELEASE} / bare:   {ratio(old, bare)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=20_000, help="lines per second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of flood")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--follow", action="store_true", help="one `logs -f` client each")
    parser.add_argument("--quick", action="store_true", help="one round of 5 s")
    parser.add_argument("--release-cli", type=Path, default=RELEASE_CLI,
                        help=f"the CLI of a venv with {RELEASE} installed (see the docstring)")
    parser.add_argument("--only", default="neodev,release,bare",
                        help="contenders, comma-separated: neodev, release, bare")
    args = parser.parse_args()
    settings = Settings(args.rate, 5.0 if args.quick else args.duration, args.follow)
    rounds = 1 if args.quick else args.rounds
    only = set(args.only.split(","))
    if "release" in only and not args.release_cli.exists():
        raise SystemExit(f"{args.release_cli} is missing: set up the release as the docstring "
                         "says, or leave it out with --only neodev,bare")
    print(f"log flood: {settings.rate:,} lines/s for {settings.duration:g} s, {rounds} round(s), "
          f"contenders interleaved{' (with a logs -f follower)' if settings.follow else ''}")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="neodev-flood-") as name:
        tmp = Path(name)
        for round_no in range(1, rounds + 1):
            contenders = [("neodev", lambda: run_daemon(NEODEV, tmp, settings, "neodev")),
                          ("release", lambda: run_daemon(args.release_cli, tmp, settings,
                                                         RELEASE)),
                          ("bare", lambda: run_bare(tmp, settings))]
            for key, run in contenders:
                if key not in only:
                    continue
                result = run()
                results.append(result)
                print(f"  round {round_no} {result.contender:8s} {result.us_per_line:7.2f} "
                      f"us/line  {result.core_percent:5.1f} % of one core  "
                      f"({result.lines:,} lines, app {result.app_elapsed:.2f} s)", flush=True)
    report(results, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
