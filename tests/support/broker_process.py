"""`python -m tests.support.broker_process JOURNAL FUNCTIONS_URL`: the local dispatcher alone,
journaling to JOURNAL and delivering to FUNCTIONS_URL, on a free 127.0.0.1 port it prints."""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from functions.local.dispatcher import DeliveryPolicy, Dispatcher
from functions.local.event_journal import EventJournal


def main(journal_path: str, functions_url: str) -> None:
    policy = DeliveryPolicy(attempts=1_000, backoff_s=0.2, max_backoff_s=1.0, timeout_s=5)
    dispatcher = Dispatcher(functions_url, policy=policy, journal=EventJournal(Path(journal_path)))

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await dispatcher.start()
        yield
        await dispatcher.stop()

    app = Starlette(routes=[Mount("/", app=dispatcher.app())], lifespan=lifespan)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on")).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
