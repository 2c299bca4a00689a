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

import importlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from sdk.cli.session import CliDeps, Session, session
from sdk.contracts.errors import TrainyardError

if TYPE_CHECKING:  # typer vendors its own click (typer._click), which is what it builds on
    from typer._click import Command, Context, HelpFormatter

# Every command but `up`, imported only when it runs (or its own --help is asked for): each
# module pulls in its dependencies (pydantic models, rich, httpx), and `trainyard --help`
# needs none of them. name -> (module, attribute: a typer app factory or a command function,
# the one-line help the root's --help lists; a test checks it against the command's own).
LAZY: dict[str, tuple[str, str, str]] = {
    "reset": ("sdk.cli.reset", "reset", "Delete everything the local platform keeps in STATE_DIR (asks first)."),
    "projects": ("sdk.cli.projects", "projects_app", "Create, list, update and delete projects."),
    "tasks": ("sdk.cli.projects", "tasks_app", "Create and inspect tasks (trials)."),
    "jobs": ("sdk.cli.jobs", "jobs_app", "Inspect, follow and cancel jobs (attempts)."),
    "datasets": (
        "sdk.cli.data",
        "datasets_app",
        "Move project datasets to and from the platform; list their versions; validate them.",
    ),
    "compare": ("sdk.cli.data", "compare", "Compare a project's tasks: params, state, best and last of every metric."),
    "models": ("sdk.cli.models", "models_app", "Publish checkpoints as models, manage them, predict."),
    "approvals": ("sdk.cli.approvals", "approvals_app", "Request, decide, revoke and list data grants."),
    "audit": (
        "sdk.cli.approvals",
        "audit",
        "Read the audit trail, newest first: the tenant's for admins, your own actions otherwise.",
    ),
    "certs": ("sdk.cli.certs", "certs_app", "A local CA and certificates for running with mutual TLS."),
    "token": ("sdk.cli.token", "token_app", "Sign tokens for principals of the local platform."),
}


def load_command(name: str) -> Command:
    """Import and build the command `name` of LAZY."""
    module, attribute, help_ = LAZY[name]
    made = getattr(importlib.import_module(module), attribute)
    # Built as it would be under the root (which has a callback, so it is a group), then taken out.
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    holder.callback()(lambda: None)
    if attribute.endswith("_app"):
        holder.add_typer(made(), name=name, help=help_)
    else:
        holder.command(name)(made)
    built = typer.main.get_command(holder)
    assert isinstance(built, TyperGroup)
    return built.commands[name]


class _Group(TyperGroup):
    """The root command: LAZY's commands loaded on first use; our errors turned into one red
    line and exit status 1, for every subcommand."""

    def list_commands(self, ctx: Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name in LAZY and cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Context, formatter: HelpFormatter) -> None:
        """The list of commands, from LAZY's help lines: listing does not import them."""
        rows = [(name, LAZY[name][2]) for name in LAZY]
        rows += [(name, cmd.get_short_help_str(limit=100)) for name, cmd in self.commands.items() if name not in LAZY]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TrainyardError as exc:
            _print_error(str(exc))
            raise typer.Exit(1) from exc
        except Exception as exc:
            pydantic = sys.modules.get("pydantic")  # loaded if it raised: never imported for this
            if pydantic is None or not isinstance(exc, pydantic.ValidationError):
                raise
            _print_error(f"unexpected response from the platform: {exc.error_count()} problem(s): {exc}")
            raise typer.Exit(1) from exc


def _print_error(message: str) -> None:
    from sdk.cli import output as out

    out.print_error(message)


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
    # rich_markup_mode=None: plain click help at the root (rich alone costs ~0.2 s to import).
    app = typer.Typer(
        cls=_Group, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
        rich_markup_mode=None, help="trainyard: train, compare and publish models on the trainyard platform.",
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

    app.command("up")(_up)  # the rest: LAZY, through _Group
    return app


app = make_app()


def main() -> None:
    """Console entry point (`trainyard`)."""
    # httpx's package imports its own command line (click, rich, pygments: ~0.15 s) when it
    # can; this process never runs httpx's CLI, so that import is made to fail softly.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    try:
        app()
    finally:  # the interpreter's last collections would walk every object pydantic, typer and rich
        import gc  # built (~0.15 s of a command's wall time here); frozen objects are not walked

        gc.freeze()
