"""The embedded default: the whole platform in one process on 127.0.0.1.

State in a durable embedded store and SeaweedFS (unless an AWS endpoint is given), the HTTP API at / on the public
port, and, on an internal listener only the platform reaches (a UNIX socket in a private
0700 directory, never the public port): the functions (the same functions-framework ASGI
apps a cluster runs) under /fn/<name> and the local dispatcher under /broker. A ticker
emits the PingSource event, and the local job runner runs trainers. Every event the
platform publishes is signed with its event key (functions.eventauth), and the functions
check it. Switching to a cluster changes configuration, not this code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import socket
import tempfile
import threading
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import functions_framework.aio as ff
import httpx
import uvicorn
from cloudevents.http import CloudEvent
from starlette.applications import Starlette
from starlette.routing import Mount

from functions import bootstrap, entry
from functions.api.app import create_app
from functions.core.deps import Deps
from functions.domain.admission import Capacity, PoolPolicy
from functions.handlers import HANDLERS
from functions.local.dispatcher import Dispatcher
from functions.local.event_journal import EventJournal
from functions.local.options import LocalOptions
from functions.publishing import KEEPALIVE_EXPIRY_S
from functions.routing import ROUTES
from functions.settings import Settings
from functions.ui.app import UiOptions
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts.events import EventType

log = logging.getLogger("trainyard.local")


def function_apps(deps: Deps) -> dict[str, object]:
    """The functions-framework ASGI app of every routed function: the handler a cluster runs
    from entry.py, bound to `deps` (functions-framework's own CloudEvent decoding and answers)."""
    return {name: _function_app(name, deps) for name in ROUTES}


def _function_app(name: str, deps: Deps) -> object:
    handler = HANDLERS[name]

    def target(event: CloudEvent) -> None:
        handler(deps, event)

    bound = types.SimpleNamespace(**{name: target})  # what functions-framework looks its target up in
    return ff.create_asgi_app_from_module(  # type: ignore[no-untyped-call]
        target=name, source=entry.__file__, signature_type="cloudevent", source_module=bound, spec=None
    )


def machine_pool() -> PoolPolicy:
    """Local mode's default pool, sized from this machine: one slot per usable CPU, that
    many CPUs, three quarters of the memory (the platform and the store need the rest)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return PoolPolicy(
        budget=Capacity(slots=cpus, cpu_milli=cpus * 1000, memory_mb=max(512, memory_mb * 3 // 4)), tenant_cap=cpus
    )


def ensure_storage(deps: Deps, settings: Settings, *, tables: bool = True) -> None:
    """Create what is missing: the DynamoDB tables (unless the store is local mode's own) and buckets."""
    if tables:  # --aws-endpoint only: PynamoDB is not imported for the embedded store
        from functions.store.tables import create_all

        create_all(bootstrap.tables_for(settings))
    for store in (deps.datasets, deps.artifacts, deps.logs):
        ensure = getattr(store, "ensure_bucket", None)
        if ensure is not None:
            ensure()


class Pinger(Protocol):
    async def deliver_now(self, event: CloudEvent) -> None: ...


async def tick(dispatcher: Pinger, interval_s: float) -> None:
    """Emit what a Knative PingSource emits, every interval, but never while the last
    sweep still runs (a tick then is skipped, as a PingSource target of concurrency 1
    would make it wait): sweeps never overlap, and a slow one does not pile up more."""
    running: asyncio.Task[None] | None = None
    while True:
        await asyncio.sleep(interval_s)
        if running is not None and not running.done():
            log.info("sweep still running: tick skipped")
            continue
        running = asyncio.create_task(
            dispatcher.deliver_now(
                CloudEvent({"type": EventType.PING, "source": "trainyard/local/ticker", "id": uuid.uuid4().hex}, {})
            )
        )


INTERNAL_SOCKET = "internal.sock"
# How long the internal listener keeps an idle connection: far longer than its clients keep
# theirs (functions.publishing.KEEPALIVE_EXPIRY_S), so the client always closes first. With
# both at uvicorn's 5 s, a request sent as the server's timer fired was reset: "broker
# unreachable: connection reset" under load (tests/integration/functions/test_internal_socket.py).
INTERNAL_KEEP_ALIVE_S = 30


@contextlib.contextmanager
def internal_socket_dir() -> Iterator[Path]:
    """A fresh private (0700) directory for the internal listener's socket: short enough for
    sun_path wherever the state dir is, and hidden from trainers (their /tmp is their own)."""
    path = Path(tempfile.mkdtemp(prefix="trainyard-internal-"))
    try:
        yield path / INTERNAL_SOCKET
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build_apps(
    deps: Deps,
    options: LocalOptions,
    *,
    internal: Path,
    ui: UiOptions | None = None,
    journal: EventJournal | None = None,
) -> tuple[Starlette, Starlette, Dispatcher]:
    """The public app (the API only) and the internal one (functions and the dispatcher,
    which keeps accepted events in `journal`), served on the UNIX socket `internal`."""
    transport = httpx.AsyncHTTPTransport(uds=str(internal), limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S))
    dispatcher = Dispatcher(functions_url="http://internal/fn", transport=transport, journal=journal)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        ticker = asyncio.create_task(tick(dispatcher, options.sweep_interval_s))
        try:
            yield
        finally:
            ticker.cancel()
            await dispatcher.stop()

    routes = [Mount(f"/fn/{name}", app=app) for name, app in function_apps(deps).items()]  # type: ignore[arg-type]
    routes += [Mount("/broker", app=dispatcher.app())]
    public = Starlette(routes=[Mount("/", app=create_app(deps, ui=ui))])  # the API and its web UI at /ui/
    return public, Starlette(routes=routes, lifespan=lifespan), dispatcher


@contextlib.contextmanager
def serve_internal(app: Starlette, path: Path, *, timeout_s: float = 30.0) -> Iterator[None]:
    """Serve `app` on a 0600 UNIX socket at `path`, on a thread of its own, until the block ends."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)  # uvicorn's own uds binding would make it 0666
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            timeout_keep_alive=INTERNAL_KEEP_ALIVE_S,
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="trainyard-internal", daemon=True)
    thread.start()
    try:
        deadline = timeout_s
        while not server.started:
            if not thread.is_alive() or deadline <= 0:
                raise RuntimeError("the internal listener did not start")
            thread.join(0.05)
            deadline -= 0.05
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=timeout_s)
        sock.close()


def write_client_config(options: LocalOptions, *, url: str, extra: dict[str, str]) -> Path:
    path = options.state_dir / "local.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"url": url, "tenant": options.tenant, **extra}, indent=2))
    path.chmod(0o600)
    return path


def dev_tokens(settings: Settings, tenant: str) -> dict[str, str]:
    """Local mode's people of one tenant: a data scientist (the CLI's default token), an
    approver (a different person: nobody approves their own request) and an admin."""
    people = {
        "token": ("dev", Role.DATA_SCIENTIST),
        "approver_token": ("approver", Role.APPROVER),
        "admin_token": ("admin", Role.ADMIN),
    }
    return {
        key: tokens.user_token(tenant=tenant, sub=f"{who}@{tenant}", secret=settings.token_secret, roles=(role,))
        for key, (who, role) in people.items()
    }


def ui_options(options: LocalOptions, people: dict[str, str], *, predictor_url: str | None) -> UiOptions:
    """Local mode's web UI: a one-click sign-in link (a fresh secret code per start) for each
    local person; the session cookie is Secure when the API speaks TLS."""
    return UiOptions(
        predictor_url=predictor_url,
        dev_code=secrets.token_urlsafe(18),
        dev_tokens={"dev": people["token"], "approver": people["approver_token"], "admin": people["admin_token"]},
        secure_cookie=options.tls is not None,
    )


def ui_links(options: LocalOptions, ui: UiOptions) -> dict[str, str]:
    base = f"{options.url}/ui/login/dev?code={ui.dev_code}"
    return {
        "ui_url": f"{options.url}/ui/",
        "ui_login": base,
        **{f"ui_login_{who}": f"{base}&as={who}" for who in ("approver", "admin")},
    }
