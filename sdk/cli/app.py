"""`trainyard`: the command line over the user client.

    trainyard up --port 8080                      # start the local platform
    trainyard reset                               # delete its state dir and start clean (asks first)
    trainyard projects create intents --purpose "intent model" --dataset reviews
    trainyard datasets upload PROJECT reviews reviews.jsonl
    trainyard tasks create PROJECT --name lr-3 --command "python train.py" --param lr=0.001
    trainyard jobs watch JOB
    trainyard compare PROJECT
    trainyard models publish JOB --metric accuracy
    trainyard models predict MODEL "where is my parcel?"
    trainyard approvals request --dataset reviews --action train --project P --purpose "..." --days 30
    trainyard approvals approve ID --reason "fits the purpose"
    trainyard audit --resource job/JOB
    trainyard token create --tenant demo --sub ana@demo --role data-scientist --ttl 12h

The app is built by `make_app(deps)`, so tests inject a client factory (pointing at an
httpx MockTransport), a sleep and a process launcher instead of patching.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError as PydanticValidationError
from typer.core import TyperGroup

from sdk.cli import output as out
from sdk.cli.approvals import approvals_app, audit
from sdk.cli.certs import certs_app
from sdk.cli.data import compare, datasets_app
from sdk.cli.jobs import jobs_app
from sdk.cli.models import models_app
from sdk.cli.projects import projects_app, tasks_app
from sdk.cli.reset import reset
from sdk.cli.session import CliDeps, Session, session
from sdk.cli.token import token_app
from sdk.contracts.errors import TrainyardError


class _Group(TyperGroup):
    """Turns our errors into one red line and exit status 1, for every subcommand."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TrainyardError as exc:
            out.print_error(str(exc))
            raise typer.Exit(1) from exc
        except PydanticValidationError as exc:  # a server response we cannot read
            out.print_error(f"unexpected response from the platform: {exc.error_count()} problem(s): {exc}")
            raise typer.Exit(1) from exc


def _up(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address the API listens on [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port of the API; 0 = any free port [default: 8080].")] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where the local platform keeps everything (state, objects, logs, secret, local.json; "
            "default .trainyard); it survives restarts. `trainyard reset` empties it."
        ),
    ] = None,
    sweep_interval: Annotated[float | None, typer.Option(help="Seconds between sweeps [default: 2].")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant of the dev tokens [default: demo].")] = None,
    aws_endpoint: Annotated[
        str | None, typer.Option(help="Use this DynamoDB/S3 endpoint instead of the embedded one.")
    ] = None,
    no_predictor: Annotated[bool, typer.Option("--no-predictor", help="Do not start the predictor.")] = False,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR [default: INFO].")] = None,
    tls: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Serve the API with mutual TLS, certificates from DIR (made there when "
            "missing; see `trainyard certs`), e.g. .trainyard/tls.",
        ),
    ] = None,
) -> None:
    """Start the local platform in the foreground (Ctrl-C or SIGTERM stops it).

    It writes STATE_DIR/local.json (default .trainyard/local.json), which later commands
    find from this folder or any folder below it, or anywhere with TRAINYARD_HOME=STATE_DIR.
    """
    deps = session(ctx).deps
    options = {
        "--host": host,
        "--port": port,
        "--state-dir": state_dir,
        "--sweep-interval": sweep_interval,
        "--tenant": tenant,
        "--aws-endpoint": aws_endpoint,
        "--log-level": log_level,
        "--tls": tls,
    }
    argv = [deps.python, "-m", "functions.local"]
    argv += [arg for flag, value in options.items() if value is not None for arg in (flag, str(value))]
    if no_predictor:
        argv.append("--no-predictor")
    code = deps.launcher(argv)
    if code < 0:  # killed by signal N: report it the way shells do
        code = 128 - code
    if code != 0:
        raise typer.Exit(code)


def make_app(deps: CliDeps | None = None) -> typer.Typer:
    """Build the CLI; `deps` replaces the client factory, sleep and launcher (tests)."""
    chosen = deps if deps is not None else CliDeps()
    app = typer.Typer(
        cls=_Group, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
        help="trainyard: train, compare and publish models on the trainyard platform.",
    )  # fmt: skip

    @app.callback()
    def root(
        ctx: typer.Context,
        url: Annotated[str | None, typer.Option(envvar="TRAINYARD_URL", help="Platform API URL.")] = None,
        token: Annotated[str | None, typer.Option(envvar="TRAINYARD_TOKEN", help="Bearer token.")] = None,
        config: Annotated[
            Path | None,
            typer.Option(
                envvar="TRAINYARD_CONFIG",
                help="Saved {url, token} [default: $TRAINYARD_HOME/local.json, else "
                ".trainyard/local.json here or in the nearest folder above].",
            ),
        ] = None,
    ) -> None:
        deps = chosen if config is None else replace(chosen, config_path=config)
        s = Session(deps, url=url, token=token)
        ctx.obj = s
        ctx.call_on_close(s.close)

    app.command("up")(_up)
    app.command("reset")(reset)
    app.add_typer(projects_app(), name="projects", help="Create, list, update and delete projects.")
    app.add_typer(tasks_app(), name="tasks", help="Create and inspect tasks (trials).")
    app.add_typer(jobs_app(), name="jobs", help="Inspect, follow and cancel jobs (attempts).")
    app.add_typer(datasets_app(), name="datasets", help="Move project datasets to and from the platform.")
    app.command("compare")(compare)
    app.add_typer(models_app(), name="models", help="Publish checkpoints as models, manage them, predict.")
    app.add_typer(approvals_app(), name="approvals", help="Request, decide, revoke and list data grants.")
    app.command("audit")(audit)
    app.add_typer(certs_app(), name="certs", help="A local CA and certificates for running with mutual TLS.")
    app.add_typer(token_app(), name="token", help="Sign tokens for principals of the local platform.")
    return app


app = make_app()


def main() -> None:
    """Console entry point (`trainyard`)."""
    app()
