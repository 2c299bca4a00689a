"""Per-invocation CLI state and the outside world it depends on (injected, never patched)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from sdk.cli.config import find_local_config, resolve, resolve_predictor

if TYPE_CHECKING:  # imported when a command first needs them: `--help` stays light
    from sdk.client import Client
    from sdk.predict import Predictor

ClientFactory = Callable[[str, str], "Client"]  # (url, token) -> Client
PredictorFactory = Callable[[str, str], "Predictor"]  # (predictor url, token) -> Predictor
Launcher = Callable[[list[str]], int]  # argv -> exit code
GRACE_S = 30.0  # how long `up` lets the platform shut down after Ctrl-C before killing it


def run_forwarding_interrupt(argv: list[str]) -> int:
    """Run `argv` in the foreground; on Ctrl-C let it shut down gracefully, then insist.

    SIGTERM to us is passed on, so `timeout trainyard up` or a supervisor never orphans it.
    """
    proc = subprocess.Popen(argv)
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate()) if on_main else None
    try:
        return _wait_interruptibly(proc)
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)


def _wait_interruptibly(proc: subprocess.Popen[bytes]) -> int:
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # A terminal Ctrl-C reaches the child too; only signal it if it did not get one.
        try:
            return proc.wait(timeout=2)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(timeout=GRACE_S)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            proc.kill()
            return proc.wait()


def _client(url: str, token: str) -> Client:
    from sdk.client import Client

    return Client.from_env(url, token)  # TRAINYARD_TLS_* for a platform with mutual TLS


def _predictor(url: str, token: str) -> Predictor:
    from sdk.predict import Predictor

    return Predictor(url, token)


@dataclass(frozen=True)
class CliDeps:
    """What the CLI needs from the outside world, replaceable in tests."""

    client_factory: ClientFactory = field(default=lambda url, token: _client(url, token))
    predictor_factory: PredictorFactory = field(default=lambda url, token: _predictor(url, token))
    sleep: Callable[[float], None] = time.sleep
    launcher: Launcher = run_forwarding_interrupt
    config_path: Path | None = None  # None: $TRAINYARD_HOME, or .trainyard/local.json here or above
    python: str = field(default_factory=lambda: sys.executable)


class Session:
    """Per-invocation state (typer context `obj`): options and a lazily built client."""

    def __init__(self, deps: CliDeps, *, url: str | None, token: str | None) -> None:
        self.deps = deps
        self._url = url
        self._token = token
        self._client: Client | None = None
        self._predictor: Predictor | None = None

    def client(self) -> Client:
        if self._client is None:
            endpoint = resolve(self._url, self._token, config_path=self.config_path())
            self._client = self.deps.client_factory(endpoint.url, endpoint.token)
        return self._client

    def config_path(self) -> Path:
        """The saved config this invocation reads (it may not exist)."""
        return self.deps.config_path or find_local_config(Path.cwd(), os.environ)

    def predictor(self, url: str | None) -> Predictor:
        """The predictor client; `url` (--predictor-url or its env var) wins over the saved file."""
        if self._predictor is None:
            endpoint = resolve_predictor(url, self._token, config_path=self.config_path())
            self._predictor = self.deps.predictor_factory(endpoint.url, endpoint.token)
        return self._predictor

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._predictor is not None:
            self._predictor.close()


def session(ctx: typer.Context) -> Session:
    obj = ctx.find_object(Session)
    if obj is None:
        raise RuntimeError("trainyard CLI context has no session (build the app with make_app)")
    return obj
