"""The dashboard under a flood of output: does it keep up, stay responsive, stay bounded?

A throwaway workspace runs the real daemon with three local processes: `idle` (a line a
second: something running), `flood` (RATE lines/s of ~60 characters for DURATION seconds, then
a `flood done: N lines in T s` line) and `bigline` (one BIG_BYTES line every BIG_INTERVAL s for
DURATION seconds; the daemon cuts each at 16 KiB, the rest counted). Each run gets a fresh
daemon (`neodev start idle --wait`), opens the dashboard, measures a baseline with nothing
flooding, then starts `flood` or `bigline` through the API and measures again until it ended
and the pane caught up. Two ways of running the dashboard:

- headless: `NeodevApp.run_test()` in this process (Pilot presses the keys);
- tmux: the real `neodev` command in a 120x40 tmux pane, measured from outside.

Per run it prints:

- lines produced (the daemon's log ids) and delivered to the pane (`NeodevApp.delivered`; in
  tmux read from the `NEODEV_TUI_STATS` file the dashboard writes every second and at exit),
  lines collapsed (`NeodevApp.collapsed`, and the figure the log bar shows on screen);
- key-press-to-repaint latency, p50/p99/max, of `t` (timestamps on/off), pressed over and over
  with 20 ms between presses. Headless: from posting the key to the app (as the driver does)
  until the first screen refresh after which the app's state and its log bar show the change
  (`Screen.wait_for_refresh`; `Pilot.press` waits for the process to go idle, which a flood
  never lets it do, so it would measure up to a second of waiting). tmux: from `send-keys`
  until `capture-pane` shows the log bar's `timestamps` flag flipped (polled every 2 ms over
  one tmux control-mode client, ~0.2 ms a capture: spawning `tmux` per poll would cost ~3 ms
  of CPU each and steal a core from what is measured);
- peak RSS of the app (this process when headless) and of the daemon, and CPU (% of one core:
  CPU time / wall time over the window, and the busiest second) — psutil, sampled every 0.1 s;
- the same figures for the baseline, and the ratios.

Goals (the dashboard issue): no freeze, p99 under 100 ms, app memory bounded by the line cap.

Run: `.venv/bin/python benchmarks/tui_logs.py [--duration 60] [--rate 10000] [--quick]
[--modes headless,tmux] [--phases flood,bigline]`
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from textual import events

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from neodev.client import DaemonClient, calls  # noqa: E402
from neodev.paths import WorkspacePaths  # noqa: E402
from neodev.tui.app import NeodevApp  # noqa: E402
from neodev.tui.run import STATS_ENV, tune_gc  # noqa: E402
from tests.integration.stack_workspace import NeodevCLI, StackWorkspace  # noqa: E402
from tests.tui.tmux import Tmux, TmuxControl  # noqa: E402
from tests.waiting import until, until_async  # noqa: E402

PACE = 0.02
"""Seconds between two key presses (a fast typist, not a tight loop)."""
POLL = 0.002
FREEZE = 5.0
"""A key not shown within this many seconds counts as a freeze (and ends the wait)."""
SIZE = (120, 40)

IDLE = textwrap.dedent("""\
    import itertools, time
    for i in itertools.count():
        print(f"idle tick {i}", flush=True)
        time.sleep(1)
""")
FLOOD = textwrap.dedent("""\
    import sys, time
    rate, duration = int(sys.argv[1]), float(sys.argv[2])
    pad = "lorem ipsum dolor sit amet consectetur"
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic() - start) < duration:
        due = int(rate * now)
        if due > sent:
            sys.stdout.write("".join(f"flood {i:08d} {pad}\\n" for i in range(sent, due)))
            sys.stdout.flush()
            sent = due
        time.sleep(0.005)
    print(f"flood done: {sent} lines in {time.monotonic() - start:.2f} s", flush=True)
""")
BIGLINE = textwrap.dedent("""\
    import sys, time
    size, interval, duration = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    start = time.monotonic()
    sent = 0
    while time.monotonic() - start < duration:
        sys.stdout.write(f"big {sent:06d} " + "y" * size + "\\n")
        sys.stdout.flush()
        sent += 1
        time.sleep(max(start + sent * interval - time.monotonic(), 0))
    print(f"bigline done: {sent} lines in {time.monotonic() - start:.2f} s", flush=True)
""")


@dataclass(frozen=True)
class Settings:
    duration: float
    rate: int
    big_bytes: int
    big_interval: float
    baseline: float
    """Seconds of key presses with nothing flooding, before each flood."""


# -- the workspace --------------------------------------------------------------------------

def workspace(tmp: Path, settings: Settings) -> NeodevCLI:
    root = tmp / "ws"
    apps = root / "apps"
    apps.mkdir(parents=True)
    (root / "profiles").mkdir()
    for name, text in (("idle", IDLE), ("flood", FLOOD), ("bigline", BIGLINE)):
        (apps / f"{name}.py").write_text(text)
    python = sys.executable
    (root / "profiles" / "local.toml").write_text(textwrap.dedent(f"""\
        [project]
        name = "ndtui{uuid.uuid4().hex[:8]}"

        [processes.idle]
        cwd = "../apps"
        command = ["{python}", "-u", "idle.py"]

        [processes.flood]
        cwd = "../apps"
        command = ["{python}", "-u", "flood.py", "{settings.rate}", "{settings.duration}"]
        restart = "no"

        [processes.bigline]
        cwd = "../apps"
        command = ["{python}", "-u", "bigline.py", "{settings.big_bytes}",
                   "{settings.big_interval}", "{settings.duration}"]
        restart = "no"
        """))
    # NeodevCLI needs only the root (and no extra environment) of a StackWorkspace.
    return NeodevCLI(StackWorkspace(root=root, project="", ports={}))


def fresh_daemon(cli: NeodevCLI) -> tuple[psutil.Process, Path]:
    """Stop any daemon of the workspace, start one with only `idle`; (its process, socket)."""
    cli("stop", timeout=60)
    result = cli("start", "idle", "--wait", "--timeout", "60")
    if result.code != 0:
        raise RuntimeError(f"neodev start failed ({result.code}): {result.err or result.out}")
    info = cli.daemon_info()
    assert info is not None, "the daemon wrote no status file"
    return psutil.Process(info["pid"]), Path(info["socket"])


def api(socket: Path) -> DaemonClient:
    return DaemonClient(socket, timeout=30)


def state_of(client: DaemonClient, unit: str) -> str:
    return next(str(u.state) for u in client.call(calls.status()).units if u.name == unit)


def start_unit(socket: Path, unit: str) -> None:
    with api(socket) as client:
        client.call(calls.act(unit, "start"))


def last_id(socket: Path) -> int:
    with api(socket) as client:
        return client.call(calls.logs(limit=1)).last_id


def done_line(socket: Path, unit: str) -> tuple[int, float] | None:
    """(lines, seconds) from the unit's own `... done: N lines in T s`."""
    with api(socket) as client:
        lines = client.call(calls.logs([unit], q=f"{unit} done:", limit=1)).lines
    match = re.search(r"done: (\d+) lines in ([\d.]+) s", lines[-1].line) if lines else None
    return (int(match.group(1)), float(match.group(2))) if match else None


# -- measuring ------------------------------------------------------------------------------

@dataclass
class Sample:
    at: float
    app_rss: int
    daemon_rss: int
    app_cpu: float
    daemon_cpu: float
    """Cumulative CPU seconds (user + system)."""


class Sampler(threading.Thread):
    """RSS and CPU time of the app and the daemon, every 0.1 s, until stopped."""

    def __init__(self, app: psutil.Process, daemon: psutil.Process) -> None:
        super().__init__(name="sampler", daemon=True)
        self.app_process = app
        self.daemon_process = daemon
        self.samples: list[Sample] = []
        self._halt = threading.Event()

    def _sample(self) -> Sample:
        a, d = self.app_process.cpu_times(), self.daemon_process.cpu_times()
        return Sample(time.monotonic(), self.app_process.memory_info().rss,
                      self.daemon_process.memory_info().rss, a.user + a.system,
                      d.user + d.system)

    def run(self) -> None:
        while not self._halt.wait(0.1):
            with contextlib.suppress(psutil.Error):  # the app may be ending: stop sampling
                self.samples.append(self._sample())

    def stop(self) -> None:
        self._halt.set()
        self.join(5)

    def mark(self) -> int:
        self.samples.append(self._sample())
        return len(self.samples) - 1

    def summary(self, start: int) -> dict[str, float]:
        window = [*self.samples[start:], self._sample()]
        first, last = window[0], window[-1]
        wall = max(last.at - first.at, 1e-9)

        def busiest(key: Callable[[Sample], float]) -> float:
            best = 0.0
            for i, s in enumerate(window):
                j = next((k for k in range(i, len(window)) if window[k].at - s.at >= 1.0), None)
                if j is None:
                    break
                best = max(best, (key(window[j]) - key(s)) / (window[j].at - s.at))
            return best * 100

        return {"app_rss": max(s.app_rss for s in window),
                "daemon_rss": max(s.daemon_rss for s in window),
                "app_cpu": (last.app_cpu - first.app_cpu) / wall * 100,
                "daemon_cpu": (last.daemon_cpu - first.daemon_cpu) / wall * 100,
                "app_cpu_peak": busiest(lambda s: s.app_cpu),
                "daemon_cpu_peak": busiest(lambda s: s.daemon_cpu),
                "wall": wall}


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    resources: dict[str, float] = field(default_factory=dict)
    freezes: int = 0


@dataclass
class Run:
    mode: str
    phase: str
    baseline: Window
    load: Window
    produced: int
    unit_lines: int
    unit_seconds: float
    delivered: int
    collapsed: int
    collapsed_shown: int | None
    window_seconds: float
    held: int | None = None
    capacity: int | None = None
    machine_load: tuple[float, float] = (0.0, 0.0)
    """The machine's 1-minute load average at the start and the end (other work skews it all)."""


def logbar_of(screen: str) -> str:
    return next((line for line in screen.splitlines() if line.startswith(" logs · ")), "")


def collapsed_shown(logbar: str) -> int:
    match = re.search(r"(\d+) lines collapsed", logbar)
    return int(match.group(1)) if match else 0


# -- headless -------------------------------------------------------------------------------

def headless_logbar(app: NeodevApp) -> str:
    return str(app.logpane.log_bar.render())


async def headless_press(app: NeodevApp) -> tuple[float, bool]:
    """Press `t` and wait for the screen update that shows it: (seconds, frozen).

    `Pilot.press` cannot measure this: it waits until the process is idle (Textual's
    `wait_for_idle`, up to 1 s per key), and under a flood the process is never idle. The key
    goes in as the driver sends it (an `events.Key` posted to the app); after each screen
    refresh (`Screen.wait_for_refresh`: callbacks run once the dirty widgets were painted) the
    app's state and the log bar are checked.
    """
    want = not app.logview.timestamps
    began = time.perf_counter()
    key = events.Key("t", "t")
    key.set_sender(app)
    app.post_message(key)
    while True:
        await app.screen.wait_for_refresh()
        took = time.perf_counter() - began
        if app.logview.timestamps == want and ("timestamps" in headless_logbar(app)) == want:
            return took, False
        if took > FREEZE:
            return took, True


async def headless_window(app: NeodevApp, sampler: Sampler, stop: Callable[[], bool],
                          timeout: float) -> Window:
    window = Window()
    start_mark, start = sampler.mark(), time.monotonic()
    while not stop() and time.monotonic() - start < timeout:
        took, frozen = await headless_press(app)
        window.latencies.append(took)
        window.freezes += frozen
        await asyncio.sleep(PACE)
    window.resources = sampler.summary(start_mark)
    return window


async def headless_run(cli: NeodevCLI, settings: Settings, phase: str) -> Run:
    daemon, socket = fresh_daemon(cli)
    app = NeodevApp(WorkspacePaths(cli.ws.root), "local", keymap=cli.ws.root / "no-keymap")
    sampler = Sampler(psutil.Process(), daemon)
    sampler.start()
    try:
        async with app.run_test(size=SIZE):
            await until_async(lambda: "idle" in app.view.units
                              and app.view.units["idle"].ready
                              and app.logpane.last_log_id is not None, "headless: idle unit", 60,
                              interval=0.05)
            base_end = time.monotonic() + settings.baseline
            baseline = await headless_window(app, sampler,
                                             lambda: time.monotonic() > base_end,
                                             settings.baseline + 5)
            first = await asyncio.to_thread(last_id, socket)
            delivered, collapsed = app.logpane.delivered, app.logpane.collapsed
            began = time.monotonic()
            await asyncio.to_thread(start_unit, socket, phase)
            ended = lambda: phase in app.view.units and app.view.units[phase].state in (  # noqa: E731
                "exited", "crashed")
            load = await headless_window(app, sampler, ended, settings.duration + 120)
            final = await asyncio.to_thread(last_id, socket)
            await until_async(lambda: (app.logpane.last_log_id or 0) >= final
                              and not app.logpane.pending, "headless: caught-up pane", 120,
                              interval=0.05)
            window_seconds = time.monotonic() - began
            held = len(app.logview.records)
            shown = collapsed_shown(headless_logbar(app))
            run = await asyncio.to_thread(
                finish_run, socket, "headless", phase, baseline, load, first, final,
                app.logpane.delivered - delivered, app.logpane.collapsed - collapsed, shown,
                window_seconds)
            run.held, run.capacity = held, app.logview.capacity
            return run
    finally:
        sampler.stop()


def finish_run(socket: Path, mode: str, phase: str, baseline: Window, load: Window, first: int,
               final: int, delivered: int, collapsed: int, shown: int | None,
               window_seconds: float) -> Run:
    unit = done_line(socket, phase) or (0, 0.0)
    return Run(mode, phase, baseline, load, produced=final - first,
               unit_lines=unit[0] + 1, unit_seconds=unit[1],
               delivered=delivered, collapsed=collapsed, collapsed_shown=shown,
               window_seconds=window_seconds)


# -- tmux ------------------------------------------------------------------------------------

def tmux_window(tmux: TmuxControl, sampler: Sampler, stop: Callable[[], bool],
                timeout: float) -> Window:
    window = Window()
    start_mark, start = sampler.mark(), time.monotonic()
    shown = "timestamps" in logbar_of(tmux.screen())
    while not stop() and time.monotonic() - start < timeout:
        want = not shown
        began = time.perf_counter()
        tmux.keys("t")
        while ("timestamps" in logbar_of(tmux.screen())) != want:
            if time.perf_counter() - began > FREEZE:
                window.freezes += 1
                break
            time.sleep(POLL)
        else:
            shown = want
        window.latencies.append(time.perf_counter() - began)
        time.sleep(PACE)
    window.resources = sampler.summary(start_mark)
    return window


def read_stats(path: Path) -> dict[str, int]:
    data: dict[str, int] = until(lambda: json.loads(path.read_text()),
                                 f"the dashboard's stats in {path}", 10,
                                 retry_on=(OSError, ValueError), interval=0.1)
    return data


def tmux_run(cli: NeodevCLI, settings: Settings, phase: str, tmp: Path) -> Run:
    daemon, socket = fresh_daemon(cli)
    stats = tmp / f"stats-{phase}-{uuid.uuid4().hex[:6]}.json"
    tmux = Tmux(tmp, *SIZE)
    env = {**cli.env, STATS_ENV: str(stats), "NEODEV_KEYMAP": str(tmp / "no-keymap")}
    sampler: Sampler | None = None
    try:
        tmux.start([sys.executable, "-m", "neodev"], cli.ws.root, env)
        tmux.wait_for_text(r"^\s*idle\s+proc\s+● running", 60)
        sampler = Sampler(psutil.Process(tmux.pid()), daemon)
        sampler.start()
        checked = [0.0]
        status = api(socket)

        def ended() -> bool:
            if time.monotonic() - checked[0] < 0.5:  # the key presses go on meanwhile
                return False
            checked[0] = time.monotonic()
            return state_of(status, phase) in ("exited", "crashed")

        with tmux.control() as control, status:
            base_end = time.monotonic() + settings.baseline
            baseline = tmux_window(control, sampler, lambda: time.monotonic() > base_end,
                                   settings.baseline + 5)
            first = last_id(socket)
            before = read_stats(stats)
            began = time.monotonic()
            start_unit(socket, phase)
            load = tmux_window(control, sampler, ended, settings.duration + 120)
        final = last_id(socket)
        screen = tmux.wait_for_text(rf"{phase} done: \d+ lines", 120)
        window_seconds = time.monotonic() - began
        shown = collapsed_shown(logbar_of(screen))
        tmux.keys("q")
        tmux.wait_for("the dashboard's exit", lambda _: tmux.exit_status() is not None, 30)
        after = read_stats(stats)
        return finish_run(socket, "tmux", phase, baseline, load, first, final,
                          after["delivered"] - before["delivered"],
                          after["collapsed"] - before["collapsed"], shown, window_seconds)
    finally:
        if sampler is not None:
            sampler.stop()
        tmux.kill()


# -- report ----------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q / 100 * len(ordered)), len(ordered) - 1)]


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def mb(value: float) -> str:
    return f"{value / 2 ** 20:.0f} MB"


def ratio(a: float, b: float) -> str:
    return f"x{a / b:.1f}" if b else "x-"


def report(run: Run, settings: Settings) -> None:
    what = (f"{settings.rate} lines/s for {settings.duration:g} s" if run.phase == "flood" else
            f"one {settings.big_bytes // 1000} KB line every {settings.big_interval:g} s "
            f"for {settings.duration:g} s")
    b, f = run.baseline, run.load
    print(f"\n== {run.mode} · {run.phase} ({what}) · machine load {run.machine_load[0]:.1f} -> "
          f"{run.machine_load[1]:.1f}")
    print(f"  produced           {run.produced:,} lines kept by the daemon (log ids) — the unit "
          f"wrote {run.unit_lines:,} in {run.unit_seconds:.1f} s = "
          f"{run.unit_lines / max(run.unit_seconds, 1e-9):,.0f} lines/s")
    print(f"  delivered          {run.delivered:,} lines to the pane = "
          f"{run.delivered / run.window_seconds:,.0f} lines/s over {run.window_seconds:.1f} s "
          f"(start of the unit until the pane caught up)")
    shown = "-" if run.collapsed_shown is None else f"{run.collapsed_shown:,}"
    print(f"  collapsed          {run.collapsed:,} (app counter; the log bar shows {shown}); "
          f"unaccounted {run.produced - run.delivered - run.collapsed:,}")
    if run.held is not None:
        print(f"  pane holds         {run.held:,} records (cap {run.capacity:,})")
    print(f"  key→repaint        baseline p50 {ms(pct(b.latencies, 50))} p99 "
          f"{ms(pct(b.latencies, 99))} (n={len(b.latencies)}) · under load p50 "
          f"{ms(pct(f.latencies, 50))} p99 {ms(pct(f.latencies, 99))} max "
          f"{ms(max(f.latencies, default=0))} (n={len(f.latencies)}, freezes>{FREEZE:g}s: "
          f"{f.freezes}) · p99 {ratio(pct(f.latencies, 99), pct(b.latencies, 99))}")
    br, fr = b.resources, f.resources
    print(f"  app RSS peak       baseline {mb(br['app_rss'])} · load {mb(fr['app_rss'])} "
          f"({ratio(fr['app_rss'], br['app_rss'])})")
    print(f"  daemon RSS peak    baseline {mb(br['daemon_rss'])} · load {mb(fr['daemon_rss'])} "
          f"({ratio(fr['daemon_rss'], br['daemon_rss'])})")
    print(f"  daemon CPU         baseline {br['daemon_cpu']:.0f}% · load mean "
          f"{fr['daemon_cpu']:.0f}%, busiest second {fr['daemon_cpu_peak']:.0f}% (of one core)")
    print(f"  app CPU            baseline {br['app_cpu']:.0f}% · load mean {fr['app_cpu']:.0f}%, "
          f"busiest second {fr['app_cpu_peak']:.0f}%")
    p99_ok = pct(f.latencies, 99) < 0.1
    print(f"  goals              p99 < 100 ms: {'yes' if p99_ok else 'NO'} · no freeze: "
          f"{'yes' if not f.freezes else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=10_000, help="flood lines per second")
    parser.add_argument("--big-bytes", type=int, default=100_000)
    parser.add_argument("--big-interval", type=float, default=0.1)
    parser.add_argument("--baseline", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true",
                        help="10 s floods and 2 s baselines (a smoke run)")
    parser.add_argument("--modes", default="headless,tmux")
    parser.add_argument("--phases", default="flood,bigline")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.baseline = min(args.duration, 10.0), min(args.baseline, 2.0)
    settings = Settings(args.duration, args.rate, args.big_bytes, args.big_interval,
                        args.baseline)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)  # each run's figures as they come
    print(f"tui_logs: {os.cpu_count()} CPUs · {sys.version.split()[0]} · {settings}")
    if "headless" in args.modes:
        tune_gc()  # what `neodev` does before it opens the dashboard (run_dashboard)
    with tempfile.TemporaryDirectory(prefix="neodev-tui-bench-") as name:
        tmp = Path(name)
        cli = workspace(tmp, settings)
        try:
            for mode in args.modes.split(","):
                for phase in args.phases.split(","):
                    load = os.getloadavg()[0]
                    if mode == "headless":
                        run = asyncio.run(headless_run(cli, settings, phase))
                    else:
                        run = tmux_run(cli, settings, phase, tmp)
                    run.machine_load = (load, os.getloadavg()[0])
                    report(run, settings)
        finally:
            cli.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
