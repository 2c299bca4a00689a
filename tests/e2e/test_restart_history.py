"""A restart after a clean stop, with 1,000 jobs of history: how long until the API answers.

The history is written through DurableStore itself (bench/store.py's seeder: one project of
1,000 tasks, each with a finished job of 5 epochs and a checkpoint). The platform starts on
it, is stopped cleanly (SIGINT, as Ctrl-C), and started again; the second start-up is the
figure bench/README.md records (target: 5 s). The platform prints how long loading its state
took, which must stay well inside that on any machine; the rest is Python's imports and the
S3 server's own start, which depend on the machine's load.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.store import seed
from tests.conftest import free_port
from tests.e2e.test_crash_recovery import Platform

pytestmark = pytest.mark.e2e
JOBS = 1_000


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    p = Platform(tmp_path / "state", free_port())
    yield p
    p.kill()
    for client in p.clients:
        client.close()


def test_restart_with_1000_jobs_of_history(platform: Platform) -> None:
    project = seed(platform.state / "state", JOBS)
    platform.start()
    platform.kill(signal.SIGINT)  # a clean stop
    startup_s = platform.start()
    loads = re.findall(r"loaded in ([0-9.]+) s: ([^;]*)", platform.log())
    load_s, summary = float(loads[-1][0]), loads[-1][1]
    print(
        f"start-up with {JOBS:,} jobs of history: {startup_s:.1f} s to /healthz, of which loading the state "
        f"{load_s:.2f} s ({summary})"
    )
    assert f"jobs {JOBS:,}" in summary
    assert load_s < 5.0
    c = platform.client()
    tasks = c.list_tasks(project)
    assert len(tasks) == JOBS
    job = c.get_job(f"{tasks[-1].task_id}.1")
    assert job.state == "SUCCEEDED" and len(c.epochs(job.job_id)) == 5
