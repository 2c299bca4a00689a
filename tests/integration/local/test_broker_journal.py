"""The local broker keeps what it acknowledged: an event answered 202 while its function was
down, then the broker killed with SIGKILL, is delivered by the next broker on the same journal.

Both brokers are real processes (tests.support.broker_process: the platform's Dispatcher and
EventJournal under uvicorn); the function is a real HTTP server that records what reaches it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


class Function(ThreadingHTTPServer):
    """A subscriber that acknowledges everything and remembers (function, event id)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.seen.append((self.path, self.headers["ce-id"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def function() -> Iterator[Function]:
    server = Function()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def broker(journal: Path, functions_url: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.broker_process", str(journal), functions_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/dead-letters", timeout=1)
            return proc, url
        except httpx.HTTPError:
            assert proc.poll() is None, "the broker exited at start"
            time.sleep(0.1)
    raise AssertionError("the broker did not start")


def reap(proc: subprocess.Popen[str]) -> None:
    proc.wait(timeout=30)
    assert proc.stdout is not None
    proc.stdout.close()


def post(url: str, event_id: str) -> httpx.Response:
    headers = {
        "ce-id": event_id,
        "ce-type": "io.trainyard.job.epoch",
        "ce-source": "trainer",
        "ce-subject": "j-1",
        "ce-specversion": "1.0",
        "content-type": "application/json",
    }
    return httpx.post(url + "/", headers=headers, content=b'{"tenant": "acme", "job_id": "j-1"}', timeout=10)


def test_an_event_acknowledged_then_sigkilled_before_delivery_is_delivered_after_restart(
    tmp_path: Path, function: Function
) -> None:
    journal = tmp_path / "state" / "broker.db"
    down = f"http://127.0.0.1:{free_port()}/fn"  # nothing listens: every delivery is refused
    first, url = broker(journal, down)
    try:
        assert [post(url, f"e-{n}").status_code for n in range(3)] == [202, 202, 202]
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # mid-backoff: nothing delivered, nothing cleaned up
        reap(first)

    port = function.server_address[1]
    second, _ = broker(journal, f"http://127.0.0.1:{port}/fn")
    try:
        deadline = time.monotonic() + 30
        while len(function.seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        second.terminate()
        reap(second)
    assert function.seen == [("/fn/report/", "e-0"), ("/fn/report/", "e-1"), ("/fn/report/", "e-2")]
