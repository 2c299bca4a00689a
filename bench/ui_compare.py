"""`python -m bench.ui_compare [--tasks 1000] [--epochs 50] [--runs 5]`: the web UI's compare
page with many tasks, timed in a real headless Chromium.

The platform's real API app (and the UI it mounts) is served by uvicorn on 127.0.0.1 over an
in-memory store seeded in bulk (an indexed variant of the unit tests' fake, so the store's own
lookups do not dominate: the store-side cost of the comparison is issue 10's benchmark). The
browser signs in through the local one-click link, opens the compare page and reports, from
the Navigation Timing and Paint APIs and the page's own marks:

- first paint: first contentful paint of the server-rendered page (navigation start based);
- API fetch: the comparison's (first page's) JSON fetch, request to parsed body;
- first rows: navigation start to the first page of rows rendered;
- table: navigation start to every row rendered (the page is usable: sort, filter, select);
- curves: selecting the top 5 tasks to their overlaid curves drawn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from functions import bootstrap
from functions.api.app import create_app
from functions.core import projects, reads, tasks
from functions.core.deps import CoreConfig, Deps
from functions.domain.admission import Capacity, PoolPolicy
from functions.domain.model import Epoch, Job, JobState
from functions.store.memory import InMemoryStore
from functions.ui.app import UiOptions
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts.specs import ProjectSpec, TaskSpec

SECRET = "bench-secret-0123456789abcdef-0123456789"
TENANT = "bench"
CODE = "bench-login"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class IndexedStore(InMemoryStore):
    """The in-memory fake with per-task and per-job indexes, and a bulk epoch loader."""

    def __init__(self) -> None:
        super().__init__()
        self._jobs_of: dict[str, list[str]] = {}
        self._epochs_of: dict[str, list[Epoch]] = {}

    def seed(self, job: Job, epochs: list[Epoch]) -> None:
        self._jobs[job.job_id] = job.model_dump_json()
        self._jobs_of.setdefault(job.task_id, []).append(job.job_id)
        self._epochs_of[job.job_id] = epochs

    def list_jobs(self, tenant: str, task_id: str) -> list[Job]:
        if task_id not in self._jobs_of:
            return super().list_jobs(tenant, task_id)
        return [self.get_job(tenant, j) for j in self._jobs_of[task_id]]

    def epochs(self, tenant: str, job_id: str) -> list[Epoch]:
        found = self._epochs_of.get(job_id)
        return [e for e in found if e.tenant == tenant] if found is not None else super().epochs(tenant, job_id)


def seeded(n_tasks: int, n_epochs: int, *, seed: int = 7) -> tuple[Deps, str]:
    """Deps over a store holding one project of `n_tasks` finished tasks of `n_epochs` each."""
    store = IndexedStore()
    policy = PoolPolicy(budget=Capacity(slots=4, cpu_milli=4000, memory_mb=4096), tenant_cap=4)
    config = CoreConfig(token_secret=SECRET, platform_url="http://127.0.0.1", pools={"default": policy})
    deps = bootstrap.in_memory(config, store=store, clock=_Clock())
    project = projects.create(deps, tenant=TENANT, spec=ProjectSpec(name="sweep", purpose="bench the compare page"))
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n_tasks):
        lr, hidden, dropout = 10 ** rnd.uniform(-4, -1), rnd.choice([16, 32, 64, 128]), rnd.choice([0.0, 0.1, 0.3])
        spec = TaskSpec(
            name=f"trial-{i:04d}",
            command=["python", "train.py"],
            hyperparameters={"lr": round(lr, 6), "hidden": hidden, "dropout": dropout},
        )
        _, job = tasks.create(deps, tenant=TENANT, project_id=project.project_id, spec=spec)
        ceiling, speed = rnd.uniform(0.6, 0.97), rnd.uniform(0.05, 0.3)
        epochs = []
        for e in range(1, n_epochs + 1):
            acc = min(1.0, ceiling * (1 - (1 - speed) ** e) + rnd.gauss(0, 0.01))
            loss = (1 - acc) * 2 + rnd.gauss(0, 0.02)
            epochs.append(
                Epoch(
                    job_id=job.job_id,
                    tenant=TENANT,
                    epoch=e,
                    reported_at=start + timedelta(seconds=e),
                    metrics={
                        "accuracy": round(min(1.0, acc + 0.03), 5),
                        "val_accuracy": round(acc, 5),
                        "loss": round(loss * 0.9, 5),
                        "val_loss": round(loss, 5),
                    },
                )
            )
        done = job.model_copy(
            update={"state": JobState.SUCCEEDED, "last_epoch": n_epochs, "metadata": {"total_epochs": n_epochs}}
        )
        store.seed(done, epochs)
    return deps, project.project_id


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@contextlib.contextmanager
def served(deps: Deps) -> Iterator[str]:
    """The platform's API app, with the UI, on a free 127.0.0.1 port."""
    import socket

    people = {"dev": tokens.user_token(tenant=TENANT, sub=f"dev@{TENANT}", secret=SECRET, roles=(Role.DATA_SCIENTIST,))}
    app = create_app(deps, ui=UiOptions(dev_code=CODE, dev_tokens=people))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


TIMINGS_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const root = document.getElementById('compare');
  return {first_paint_ms: fcp ? fcp.startTime : null, ttfb_ms: nav.responseStart,
          fetch_ms: Number(root.dataset.fetchMs), rows: Number(root.dataset.shown),
          in_dom: document.querySelectorAll('#rows tbody tr[data-task]').length,
          first_rows_ms: Number(root.dataset.firstRowsAt), table_ms: Number(root.dataset.renderedAt)};
}"""


def measure(page: Any, url: str) -> dict[str, float]:
    """One cold load of the compare page in `page` (signed in), and a selection's curves."""
    page.goto(url)
    page.wait_for_selector("#compare[data-ready=true]", timeout=60_000)
    found: dict[str, float] = page.evaluate(TIMINGS_JS)
    started = time.perf_counter()
    page.click("#select-top")
    page.wait_for_selector("#curves canvas", timeout=30_000)
    found["curves_ms"] = (time.perf_counter() - started) * 1000
    return found


def cache_comparisons() -> None:
    """--ui-alone: the API answers each comparison page from a cache after computing it once,
    so the timings are the UI's own (transfer, parse, render), not the store's."""
    computed: dict[tuple[Any, ...], dict[str, Any]] = {}
    compute = reads.comparison

    def cached(deps: Deps, **kw: Any) -> dict[str, Any]:
        key = tuple(sorted(kw.items()))
        if key not in computed:
            computed[key] = compute(deps, **kw)
        return computed[key]

    reads.comparison = cached  # type: ignore[assignment]


def run(n_tasks: int, n_epochs: int, runs: int, *, ui_alone: bool = False) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    deps, project_id = seeded(n_tasks, n_epochs)
    seed_s = time.perf_counter() - t0
    if ui_alone:
        cache_comparisons()
    with served(deps) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{base}/ui/login/dev?code={CODE}")
            url = f"{base}/ui/projects/{project_id}/compare"
            size = len(page.request.get(f"{base}/ui/projects/{project_id}/comparison.json").body())  # warms a cache
            samples = [measure(page, url) for _ in range(runs)]
        finally:
            browser.close()
    keys = ("first_paint_ms", "ttfb_ms", "fetch_ms", "first_rows_ms", "table_ms", "curves_ms")
    return {
        "tasks": n_tasks,
        "epochs": n_epochs,
        "runs": runs,
        "ui_alone": ui_alone,
        "seed_s": round(seed_s, 1),
        "json_bytes": size,
        "rows": samples[-1]["rows"],
        **{f"{k}_median": round(statistics.median(s[k] for s in samples), 1) for k in keys},
        **{f"{k}_max": round(max(s[k] for s in samples), 1) for k in keys},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bench.ui_compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--ui-alone", action="store_true", help="cache the API's comparison after its first answer")
    a = p.parse_args(argv)
    print(json.dumps(run(a.tasks, a.epochs, a.runs, ui_alone=a.ui_alone), indent=2))


if __name__ == "__main__":
    main()
