"""`python -m bench.cli_startup [--runs 21]`: how long the `trainyard` command takes, as a user
runs it (issue 11: ≤ 0.5 s for `--help` and a simple read).

Each run is a fresh `trainyard` process (the console script of this environment), timed
from spawn to exit: wall time, and CPU time (user + sys, from the kernel's accounting of
the waited-for child). A read is `trainyard --url URL --token T projects list` against a
stub HTTP server in this process that answers `{"items": []}` at once, so the figure is the
CLI's own cost (imports, parsing, one request, a table), not the platform's. `python -c
pass` is run alongside as the floor this machine gives any Python process. The commands run
interleaved, round after round, so a burst of outside load hits them alike. Bytecode is
compiled before timing and PYTHONDONTWRITEBYTECODE is removed from the children's
environment: an installed copy has its `.pyc` files.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def stub_platform(answers: Mapping[str, object] | None = None) -> Iterator[str]:
    """A platform stand-in on 127.0.0.1 answering GET `path` with `answers[path]` as JSON at
    once, and any other GET with an empty list (`{"items": []}`); yields its URL."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps((answers or {}).get(self.path, {"items": []})).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run of `argv`, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.cli_startup", description=__doc__)
    p.add_argument("--runs", type=int, default=21)
    a = p.parse_args(argv)
    trainyard = str(Path(sys.executable).parent / "trainyard")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for name in ("TRAINYARD_URL", "TRAINYARD_TOKEN", "TRAINYARD_CONFIG", "TRAINYARD_HOME"):
        env.pop(name, None)
    with stub_platform() as url:
        commands = {
            "trainyard --help": [trainyard, "--help"],
            "trainyard projects list (a read)": [trainyard, "--url", url, "--token", "t", "projects", "list"],
            "trainyard projects list --json": [trainyard, "--url", url, "--token", "t", "projects", "list", "--json"],
            "python -c pass (the floor)": [sys.executable, "-c", "pass"],
        }
        for argv_ in commands.values():  # compiles and caches bytecode, warms the page cache
            timed(argv_, env)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(a.runs):
            for name, argv_ in commands.items():
                wall, cpu = timed(argv_, env)
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"{a.runs} runs each, interleaved; load average {os.getloadavg()[0]:.1f} at the end")
    print("| command | wall median / best | CPU median / best |")
    print("|---|---|---|")
    for name in commands:
        w, c = walls[name], cpus[name]
        print(
            f"| `{name}` | {statistics.median(w):.2f} / {min(w):.2f} s | {statistics.median(c):.2f} / {min(c):.2f} s |"
        )


if __name__ == "__main__":
    main()
