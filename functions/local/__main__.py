"""`python -m functions.local` (what `trainyard up` runs): the platform on 127.0.0.1."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from functions import logs
from functions.local.credentials import S3Credentials, s3_credentials, secret_for
from functions.local.objects import SeaweedS3, embedded_s3
from functions.local.options import LocalOptions
from functions.local.predictor import PredictorProcesses, missing_modules, predictor

# Only light modules above: `main` starts SeaweedFS (seconds to come up) before it imports
# the platform (FastAPI, boto3, the functions: seconds too), so the two overlap.
if TYPE_CHECKING:
    from functions.local.runtime import LocalRuntime
    from functions.local.tls import LocalTLS
    from functions.settings import Settings

STARTED = time.monotonic()
log = logging.getLogger("trainyard.local")


def parser() -> argparse.ArgumentParser:
    """Every option `trainyard up` takes (its --help lists the same ones; a test checks)."""
    p = argparse.ArgumentParser(prog="python -m functions.local", description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address the API listens on")
    p.add_argument("--port", type=int, default=8080, help="port of the API (0: any free port)")
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".trainyard"),
        help="where everything is kept (projects, tasks, jobs, metrics, grants, audit in state/state.db; "
        "datasets, checkpoints, models, logs in blobs/; trainers' folders in runner/; the secret "
        "and tokens); it survives restarts and kill -9. `trainyard reset` empties it",
    )
    p.add_argument("--sweep-interval", type=float, default=2.0, help="seconds between sweeps")
    p.add_argument("--tenant", default="demo", help="tenant of the printed dev token")
    p.add_argument(
        "--aws-endpoint",
        default=None,
        help="keep state in this DynamoDB/S3 endpoint (e.g. a moto server) instead of the state dir",
    )
    p.add_argument("--no-predictor", action="store_true", help="do not start the predictor (sidecar + inference)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    p.add_argument(
        "--tls",
        type=Path,
        default=None,
        metavar="DIR",
        help="serve the API with mutual TLS, certificates from DIR (made there when missing; "
        "see `trainyard certs`), e.g. .trainyard/tls",
    )
    return p


def parse(argv: list[str] | None = None) -> tuple[LocalOptions, argparse.Namespace]:
    a = parser().parse_args(argv)
    tls = None
    if a.tls is not None:
        from functions.local.tls import LocalTLS

        tls = LocalTLS.prepare(a.tls, tenant=a.tenant)
    return LocalOptions(
        host=a.host,
        port=a.port,
        state_dir=a.state_dir.resolve(),
        sweep_interval_s=a.sweep_interval,
        tenant=a.tenant,
        tls=tls,
    ), a


def local_runtime(
    settings: Settings,
    stack: contextlib.ExitStack,
    *,
    hidden: list[Path],
    s3_keys: S3Credentials,
    tls: LocalTLS | None = None,
) -> LocalRuntime:
    """The local runner; its trainers sandboxed as TRAINYARD_SANDBOX says, then reaching the
    platform and S3 only through the egress proxy (which lives as long as `stack`). With
    `tls`, the proxy presents the platform's client certificate (the trainer holds none);
    unsandboxed trainers get their own in TRAINYARD_TLS_*."""
    import httpx

    from functions.local.cgroups import JobCgroups
    from functions.local.egress import EgressProxy
    from functions.local.egress_policy import EgressPolicy
    from functions.local.runtime import LocalRuntime
    from functions.local.sandbox import default_devices, default_read_only, select_wrap

    wrap = select_wrap(
        settings.sandbox,
        read_only=default_read_only(*settings.sandbox_read_only),
        hidden=hidden,
        devices=default_devices(),
    )
    cgroups = JobCgroups.detect()  # None: warned, and trainers are bounded by setrlimit only
    if wrap is None:
        return LocalRuntime(
            settings.state_dir,
            extra_env=tls.trainer_env() if tls is not None else None,
            cgroups=cgroups,
            pids_max=settings.job_pids_max,
        )
    assert settings.s3_endpoint is not None  # local mode always has one (SeaweedFS or --aws-endpoint)
    # The proxy checks signatures itself too (an --aws-endpoint moto takes any), with the keys the platform
    # signs with; and whatever the signature, it lets a job reach only the URLs the platform issued to it.
    policy = EgressPolicy(
        platform_url=settings.platform_url, s3_endpoint=settings.s3_endpoint, credentials=s3_keys.as_mapping()
    )
    transport = httpx.AsyncHTTPTransport(verify=tls.platform_client()) if tls is not None else None
    proxy = EgressProxy(policy, transport=transport)
    runtime = LocalRuntime(
        settings.state_dir,
        wrap=wrap,
        egress=stack.enter_context(proxy),
        cgroups=cgroups,
        pids_max=settings.job_pids_max,
    )
    runtime.reopen_egress()  # trainers still running from before a restart (with --aws-endpoint)
    return runtime


def private_state_dir(state_dir: Path) -> None:
    """Everything the platform writes from now on is its user's only (job logs hold customer
    data): umask 077, and the state dir itself 0700 even when an older run made it 0755."""
    os.umask(0o077)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_dir.chmod(0o700)


def s3_keys_for(state_dir: Path, *, external: bool) -> S3Credentials:
    """The installation's random S3 keys (boto3 in this process finds them in its environment;
    no child process inherits them: trainers and the predictor get environments of their own).
    With --aws-endpoint, keys already in the environment are that server's and win."""
    if external and os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return S3Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
    keys = s3_credentials(state_dir)
    os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"] = keys.access_key_id, keys.secret_access_key
    return keys


class _Stop(Exception):
    """SIGTERM or SIGINT once the server has stopped: shut down in order, then exit."""


def _stop_on_signal(signum: int, frame: object) -> None:
    raise _Stop(signum)


def listen(host: str, port: int) -> socket.socket:
    """Bind the API's port first: a busy port fails at once, before anything is started or written."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what uvicorn does; a live listener still wins
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = (
            " (is another `trainyard up` running? stop it, or pick another --port)"
            if exc.errno == errno.EADDRINUSE
            else ""
        )
        raise SystemExit(f"trainyard: cannot listen on {host}:{port}: {exc.strerror}{hint}") from exc
    return sock


def main(argv: list[str] | None = None) -> None:
    # httpx's package imports its own command line (rich, pygments) when they are installed;
    # the platform never runs it, so that import fails softly instead (~0.1 s of start-up).
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    options, args = parse(argv)
    logs.configure(args.log_level)
    sock = listen(options.host, options.port)
    options = replace(options, port=int(sock.getsockname()[1]))  # --port 0: the one the kernel chose
    # uvicorn restores these after its own graceful stop and re-raises the signal into them, so
    # everything below unwinds in order (the predictor included) instead of dying mid-way.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_on_signal)
    private_state_dir(options.state_dir)
    s3_keys = s3_keys_for(options.state_dir, external=args.aws_endpoint is not None)
    with contextlib.suppress(_Stop), contextlib.ExitStack() as stack:
        stack.callback(sock.close)
        # First, as it takes longest to come up: it starts while the platform imports and loads.
        s3 = None if args.aws_endpoint else stack.enter_context(embedded_s3(options.state_dir / "blobs", s3_keys))
        served = start_predictor(options, args, stack)  # its imports (torch) overlap ours too
        serve(options, args, sock, stack, s3_keys=s3_keys, s3=s3, served=served)


def start_predictor(
    options: LocalOptions, args: argparse.Namespace, stack: contextlib.ExitStack
) -> PredictorProcesses | None:
    """The predictor's two processes, started and not waited for (they log when ready); None
    with --no-predictor or when its modules are not installed (said on stdout)."""
    if args.no_predictor:
        return None
    missing = missing_modules()
    if missing:
        print(
            f"predictor not started: {', '.join(missing)} not installed "
            "(pip install 'trainyard[predictor]'; in a checkout, `make proto`)",
            flush=True,
        )
        return None
    tls = options.tls
    served = stack.enter_context(
        predictor(
            state_dir=options.state_dir,
            platform_url=options.url,
            token_secret=secret_for(options.state_dir),
            host=options.host,
            tls_env=tls.predictor_env() if tls is not None else None,
            wait=False,
        )
    )
    print(f"predictor (REST sidecar -> gRPC inference) at {served.url}, starting (logs 'predictor ready')", flush=True)
    return served


def serve(
    options: LocalOptions,
    args: argparse.Namespace,
    sock: socket.socket,
    stack: contextlib.ExitStack,
    *,
    s3_keys: S3Credentials,
    s3: SeaweedS3 | None,
    served: PredictorProcesses | None,
) -> None:
    import uvicorn

    from functions import bootstrap
    from functions.core import adoption
    from functions.local.credentials import platform_secret
    from functions.local.event_journal import JOURNAL_FILE, EventJournal
    from functions.local.platform import (
        build_apps,
        dev_tokens,
        ensure_storage,
        internal_socket_dir,
        machine_pool,
        serve_internal,
        ui_links,
        ui_options,
        write_client_config,
    )
    from functions.local.state import embedded_state
    from functions.settings import Settings

    log.info("platform imported", extra={"elapsed_s": round(time.monotonic() - STARTED, 2)})
    # The state survives restarts (the embedded durable store, or --aws-endpoint): running trainers
    # are left running when the platform stops, and the next start re-adopts them.
    local = None if s3 is None else stack.enter_context(embedded_state(options.state_dir, s3, s3_keys))
    endpoint = args.aws_endpoint if local is None else local.endpoint
    url = options.url
    internal = stack.enter_context(internal_socket_dir())
    settings = Settings(
        token_secret=secret_for(options.state_dir),
        platform_url=url,
        broker_url="http://internal/broker/",
        broker_uds=internal,
        event_key_file=platform_secret(options.state_dir),
        dynamodb_endpoint=args.aws_endpoint,
        s3_endpoint=endpoint,
        state_dir=options.state_dir / "runner",
    )
    if not os.environ.get("TRAINYARD_POOLS"):  # Settings.pools wins; else the default pool is this machine
        settings = settings.model_copy(update={"pools": {"default": machine_pool()}})
    tls = options.tls
    hidden = [options.state_dir] + ([tls.directory] if tls is not None else [])  # keys stay out of sandboxes
    runtime = local_runtime(settings, stack, hidden=hidden, s3_keys=s3_keys, tls=tls)
    deps = bootstrap.build(
        settings,
        runtime=runtime,
        store=local.store if local else None,
        s3_credentials=(s3_keys.access_key_id, s3_keys.secret_access_key),
    )
    ensure_storage(deps, settings, tables=local is None)
    adoption.adopt(deps)  # trainers that ran on while the platform was down: before the first sweep
    people = dev_tokens(settings, options.tenant)
    extra = {"aws_endpoint": endpoint, **people}
    if served is not None:  # the web UI's "try it" needs its URL
        extra["predictor_url"] = served.url
        verify = tls.platform_client() if tls is not None else True
        deps = replace(deps, predictor=bootstrap.predictor_for(served.url, verify))  # models try, in one call
    ui = ui_options(options, people, predictor_url=extra.get("predictor_url"))
    journal = EventJournal(options.state_dir / "state" / JOURNAL_FILE)  # accepted events, until delivered
    stack.callback(journal.close)
    app, internal_app, _ = build_apps(deps, options, internal=internal, ui=ui, journal=journal)
    stack.enter_context(serve_internal(internal_app, internal))
    extra.update(ui_links(options, ui))
    if tls is not None:
        extra.update({k.removeprefix("TRAINYARD_").lower(): v for k, v in tls.user_env().items()})
    path = write_client_config(options, url=url, extra=extra)
    print(f"trainyard is up at {url}  (API docs {url}/docs; started in {time.monotonic() - STARTED:.1f} s)", flush=True)
    print(local.describe(options.state_dir) if local else f"AWS endpoint: {endpoint}", flush=True)
    print(f"tokens of tenant {options.tenant!r} (data scientist, approver, admin) written to {path}", flush=True)
    print(f"TRAINYARD_URL={url}\nTRAINYARD_TOKEN={people['token']}", flush=True)
    print(
        f"web UI: {url}/ui/  (one-click sign-in as dev@{options.tenant}: {extra['ui_login']} ; "
        "approver and admin links are in local.json)",
        flush=True,
    )
    if tls is not None:
        print("mutual TLS is on; the CLI and SDK need:", flush=True)
        print("\n".join(f"{k}={v}" for k, v in tls.user_env().items()), flush=True)
    ssl_options = tls.uvicorn_options() if tls is not None else {}
    # timeout_graceful_shutdown: an idle keep-alive TLS client (the sidecar's pool) never answers
    # close_notify, and asyncio would wait its 30 s SSL shutdown timeout for each such connection.
    # ws="none": the API serves no WebSocket, and importing a WebSocket library costs start-up time.
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        log_config=None,
        ws="none",
        **ssl_options,
    )  # JSON lines only
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
