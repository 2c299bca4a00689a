"""`python -m functions.local` (what `trainyard up` runs): the platform on 127.0.0.1."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

import httpx
import uvicorn

from functions import bootstrap, logs
from functions.local.cgroups import JobCgroups
from functions.local.credentials import S3Credentials, platform_secret, s3_credentials
from functions.local.egress import EgressProxy
from functions.local.egress_policy import EgressPolicy
from functions.local.platform import (
    LocalOptions,
    build_apps,
    dev_tokens,
    embedded_aws,
    ensure_storage,
    internal_socket_dir,
    secret_for,
    serve_internal,
    write_client_config,
)
from functions.local.predictor import missing_modules, predictor
from functions.local.runtime import LocalRuntime
from functions.local.sandbox import default_devices, default_read_only, select_wrap
from functions.local.tls import LocalTLS
from functions.settings import Settings


def parse(argv: list[str] | None = None) -> tuple[LocalOptions, argparse.Namespace]:
    p = argparse.ArgumentParser(prog="python -m functions.local", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--state-dir", type=Path, default=Path(".trainyard"))
    p.add_argument("--sweep-interval", type=float, default=2.0, help="seconds between sweeps")
    p.add_argument("--tenant", default="demo", help="tenant of the printed dev token")
    p.add_argument("--aws-endpoint", default=None, help="use this DynamoDB/S3 endpoint instead of embedded moto")
    p.add_argument("--no-predictor", action="store_true", help="do not start the predictor (sidecar + inference)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--tls", type=Path, default=None, metavar="DIR",
                   help="serve the API with mutual TLS, certificates from DIR (made there when missing; "
                        "see `trainyard certs`), e.g. .trainyard/tls")
    a = p.parse_args(argv)
    tls = LocalTLS.prepare(a.tls, tenant=a.tenant) if a.tls is not None else None
    return LocalOptions(host=a.host, port=a.port, state_dir=a.state_dir.resolve(),
                        sweep_interval_s=a.sweep_interval, tenant=a.tenant, tls=tls), a


def local_runtime(settings: Settings, stack: contextlib.ExitStack, *, hidden: list[Path],
                  s3_keys: S3Credentials, tls: LocalTLS | None = None) -> LocalRuntime:
    """The local runner; its trainers sandboxed as TRAINYARD_SANDBOX says, then reaching the
    platform and S3 only through the egress proxy (which lives as long as `stack`). With
    `tls`, the proxy presents the platform's client certificate (the trainer holds none);
    unsandboxed trainers get their own in TRAINYARD_TLS_*."""
    wrap = select_wrap(settings.sandbox, read_only=default_read_only(*settings.sandbox_read_only),
                       hidden=hidden, devices=default_devices())
    cgroups = JobCgroups.detect()  # None: warned, and trainers are bounded by setrlimit only
    if wrap is None:
        return LocalRuntime(settings.state_dir, extra_env=tls.trainer_env() if tls is not None else None,
                            cgroups=cgroups, pids_max=settings.job_pids_max)
    assert settings.s3_endpoint is not None  # local mode always has one (moto or --aws-endpoint)
    # moto takes any signature, so the proxy checks it, with the keys the platform signs with;
    # and whatever the signature, it lets a job reach only the URLs the platform issued to it.
    policy = EgressPolicy(platform_url=settings.platform_url, s3_endpoint=settings.s3_endpoint,
                          credentials=s3_keys.as_mapping())
    transport = httpx.AsyncHTTPTransport(verify=tls.platform_client()) if tls is not None else None
    proxy = EgressProxy(policy, transport=transport)
    runtime = LocalRuntime(settings.state_dir, wrap=wrap, egress=stack.enter_context(proxy), cgroups=cgroups,
                           pids_max=settings.job_pids_max)
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


def main(argv: list[str] | None = None) -> None:
    options, args = parse(argv)
    logs.configure(args.log_level)
    private_state_dir(options.state_dir)
    s3_keys = s3_keys_for(options.state_dir, external=args.aws_endpoint is not None)
    with contextlib.ExitStack() as stack:
        endpoint = args.aws_endpoint or stack.enter_context(embedded_aws())
        url = options.url
        internal = stack.enter_context(internal_socket_dir())
        settings = Settings(token_secret=secret_for(options.state_dir), platform_url=url,
                            broker_url="http://internal/broker/", broker_uds=internal,
                            event_key_file=platform_secret(options.state_dir),
                            dynamodb_endpoint=endpoint, s3_endpoint=endpoint,
                            state_dir=options.state_dir / "runner")
        tls = options.tls
        hidden = [options.state_dir] + ([tls.directory] if tls is not None else [])  # keys stay out of sandboxes
        runtime = local_runtime(settings, stack, hidden=hidden, s3_keys=s3_keys, tls=tls)
        deps = bootstrap.build(settings, runtime=runtime)
        ensure_storage(deps, settings)
        bootstrap.install(deps)
        app, internal_app, _ = build_apps(deps, options, internal=internal)
        stack.enter_context(serve_internal(internal_app, internal))
        people = dev_tokens(settings, options.tenant)
        extra = {"aws_endpoint": endpoint, **people}
        missing = [] if args.no_predictor else missing_modules()
        if missing:
            print(f"predictor not started: {', '.join(missing)} not installed "
                  "(pip install 'trainyard[predictor]'; in a checkout, `make proto`)", flush=True)
        elif not args.no_predictor:
            served = stack.enter_context(predictor(state_dir=options.state_dir, platform_url=url,
                                                   token_secret=settings.token_secret, host=options.host,
                                                   tls_env=tls.predictor_env() if tls is not None else None))
            extra["predictor_url"] = served.url
            print(f"predictor (REST sidecar -> gRPC inference) at {served.url}", flush=True)
        if tls is not None:
            extra.update({k.removeprefix("TRAINYARD_").lower(): v for k, v in tls.user_env().items()})
        path = write_client_config(options, url=url, extra=extra)
        print(f"trainyard is up at {url}  (API docs {url}/docs)", flush=True)
        print(f"AWS endpoint (moto): {endpoint}", flush=True)
        print(f"tokens of tenant {options.tenant!r} (data scientist, approver, admin) written to {path}", flush=True)
        print(f"TRAINYARD_URL={url}\nTRAINYARD_TOKEN={people['token']}", flush=True)
        if tls is not None:
            print("mutual TLS is on; the CLI and SDK need:", flush=True)
            print("\n".join(f"{k}={v}" for k, v in tls.user_env().items()), flush=True)
        ssl_options = tls.uvicorn_options() if tls is not None else {}
        # timeout_graceful_shutdown: an idle keep-alive TLS client (the sidecar's pool) never answers
        # close_notify, and asyncio would wait its 30 s SSL shutdown timeout for each such connection.
        uvicorn.run(app, host=options.host, port=options.port, log_level="warning", access_log=False,
                    timeout_graceful_shutdown=5, **ssl_options)
        if not args.aws_endpoint:  # embedded state dies with us: trainers can no longer report
            for job in runtime.list():
                runtime.delete(job.job_id)


if __name__ == "__main__":
    main()
