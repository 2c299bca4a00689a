"""`python -m bench.startup [--jobs 1000] [--runs 4] [--state DIR]`: the local platform's
restart time with history, as a user sees it.

Seeds a state directory with `--jobs` finished jobs (bench.store.seed; reused when
`--state` already holds one), then starts `python -m functions.local --no-predictor` on
it `--runs` times, stopping it with SIGINT in between, and prints for each start the
seconds from Popen to the first 200 of /healthz and the platform process's CPU seconds
at that moment (from /proc; SeaweedFS's own CPU is not included), and how long the stop
took. Run it from the checkout whose code is measured (it starts `functions.local` from
the current directory). Unset PYTHONDONTWRITEBYTECODE first: compiling every module at
each start is not what a user's installed copy does.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.store import seed


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_once(state: Path, log: Path) -> tuple[float, float, float]:
    """(seconds to /healthz, platform CPU seconds then, seconds to stop)."""
    port = _port()
    began = time.monotonic()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "functions.local", "--port", str(port), "--state-dir", str(state), "--no-predictor"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the platform exited; see {log}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        up, cpu = time.monotonic() - began, _cpu_s(proc.pid)
    finally:
        stopping = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
    return up, cpu, time.monotonic() - stopping


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    p.add_argument("--jobs", type=int, default=1000)
    p.add_argument("--runs", type=int, default=4)
    p.add_argument("--state", type=Path, default=None, help="state dir to (re)use; default: a fresh temp dir")
    a = p.parse_args(argv)
    state = a.state or Path(tempfile.mkdtemp(prefix="trainyard-startup-")) / "state"
    if not (state / "state" / "state.db").exists():
        seed(state / "state", a.jobs)
    log = state.parent / "platform.log"
    print(f"state {state}, load average {os.getloadavg()[0]:.1f}, log {log}")
    for _ in range(a.runs):
        up, cpu, stop = start_once(state, log)
        print(f"start {up:.2f} s (platform CPU {cpu:.2f} s), stop {stop:.2f} s", flush=True)


if __name__ == "__main__":
    main()
