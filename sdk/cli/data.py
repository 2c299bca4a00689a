"""`trainyard datasets upload|download|show|validate` and `trainyard compare`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sdk.cli import output as out
from sdk.cli.session import session

if TYPE_CHECKING:  # types only: `--help` and other commands need not import the client
    from sdk.client import Comparison, DatasetVersionView, DatasetView


@contextmanager
def _bytes_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn())
    with Progress(*columns, console=out.stdout()) as progress:
        bar = progress.add_task(label, total=total)
        yield lambda n: progress.advance(bar, n)


def datasets_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command("upload")
    def upload(
        ctx: typer.Context,
        project: str,
        name: str,
        file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    ) -> None:
        """Upload FILE as the project's dataset NAME (straight to storage)."""
        client = session(ctx).client()
        with _bytes_bar(f"upload {name}", file.stat().st_size) as progress:
            version, size = client.upload_dataset_version(project, name, file, progress=progress)
        out.stdout().print(f"uploaded {size} bytes as dataset {out.text(name)} version {version} of {project}")

    @app.command("download")
    def download(
        ctx: typer.Context,
        project: str,
        name: str,
        dest: Annotated[Path | None, typer.Argument(help="Target file (default: ./NAME).")] = None,
        version: Annotated[int | None, typer.Option(min=1, help="Which version (default: the latest).")] = None,
    ) -> None:
        """Download the project's dataset NAME (needs an active read grant)."""
        client = session(ctx).client()
        target = dest if dest is not None else Path(name)
        with _bytes_bar(f"download {name}", None) as progress:
            path = client.download_dataset(project, name, target, progress=progress, version=version)
        out.stdout().print(f"saved dataset {out.text(name)} to {out.text(path)} ({path.stat().st_size} bytes)")

    @app.command("show")
    def show(ctx: typer.Context, project: str, name: str, json_: out.JsonOpt = False) -> None:
        """The dataset's versions and their last validation (with its findings)."""
        out.emit(session(ctx).client().dataset(project, name), as_json=json_, render=_render_dataset)

    @app.command("validate")
    def validate(
        ctx: typer.Context,
        project: str,
        name: str,
        version: Annotated[int | None, typer.Option(min=1, help="Which version (default: the latest).")] = None,
        wait: Annotated[bool, typer.Option(help="Wait for the report and show it; exit 1 if it failed.")] = True,
        interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 1.0,
    ) -> None:
        """Run a one-time validation of a dataset version (needs an active validate grant)."""
        s = session(ctx)
        client = s.client()
        created = client.validate_dataset(project, name, version=version)
        checked = created.task.spec.dataset_versions.get(name)
        console = out.stdout()
        job_id = created.job.job_id
        console.print(f"validating {out.text(name)} version {checked}: task {created.task.task_id}, job {job_id}")
        if not wait:
            return
        job = client.get_job(job_id)
        while not job.is_terminal:
            s.deps.sleep(interval)
            job = client.get_job(job.job_id)
        if job.state != "SUCCEEDED":
            out.print_error(f"validation job {job.job_id} ended {job.state}: {job.reason or 'no reason given'}")
            raise typer.Exit(1)
        shown = client.dataset(project, name)
        checked_version = next(v for v in shown.versions if v.version == checked)
        _render_version(name, checked_version)
        if checked_version.status != "passed":
            raise typer.Exit(1)

    return app


def _render_dataset(d: DatasetView) -> None:
    out.table(
        f"dataset {d.name} of {d.project_id}",
        ["version", "created", "by", "validation", "job", "errors", "warnings"],
        [
            [
                str(v.version), out.when(v.created_at), v.created_by, v.status,
                v.validation.job_id if v.validation else "-",
                str(v.validation.checked.get("errors", 0)) if v.validation else "-",
                str(v.validation.checked.get("warnings", 0)) if v.validation else "-",
            ]
            for v in d.versions
        ],
    )  # fmt: skip
    out.fields(
        [
            ("latest", str(d.latest) if d.latest is not None else "none uploaded"),
            ("latest validated", str(d.latest_validated) if d.latest_validated is not None else "none"),
        ]
    )
    if d.last_validation is not None:
        _render_version(d.name, d.last_validation)


def _render_version(name: str, v: DatasetVersionView) -> None:
    console = out.stdout()
    check = v.validation
    if check is None:
        console.print(f"{out.text(name)} version {v.version}: not validated")
        return
    counts = ", ".join(f"{k} {n}" for k, n in sorted(check.checked.items()))
    console.print(f"last validation: {out.text(name)} version {v.version} {v.status.upper()} ({counts})")
    if check.findings:
        out.table(
            None,
            ["severity", "code", "line", "finding"],
            [[f.severity, f.code, str(f.line or "-"), f.message] for f in check.findings],
        )


def comparison_rows(cmp: Comparison) -> tuple[list[str], list[list[str]]]:
    """Columns and rows: task, params, state, attempts, then best and last of each metric."""
    columns = ["task", "params", "state", "attempts"]
    for metric in cmp.metrics:
        columns += [f"{metric} best", f"{metric} last"]
    rows = []
    for t in cmp.tasks:
        row = [out.text(t.name), out.text(out.scalars(t.hyperparameters)), out.state(t.state), str(t.attempts)]
        for metric in cmp.metrics:
            row += [out.number(t.best.get(metric)), out.number(t.last.get(metric))]
        rows.append(row)
    return columns, rows


def compare(
    ctx: typer.Context,
    project: str,
    archived: Annotated[bool, typer.Option("--archived", help="Include archived tasks.")] = False,
    json_: out.JsonOpt = False,
) -> None:
    """Compare a project's tasks: params, state, best and last of every metric."""
    cmp = session(ctx).client().comparison(project, archived=archived)
    if json_:
        out.print_json(cmp)
        return
    columns, rows = comparison_rows(cmp)
    out.table(f"comparison of {project}", columns, rows)
    for line in single_difference_lines(cmp):
        out.stdout().print(line)


def single_difference_lines(cmp: Comparison) -> list[str]:
    """One line per pair of tasks that differ in exactly one runnable field (each pair once)."""
    names = {t.task_id: t.name for t in cmp.tasks}
    lines = []
    for t in cmp.tasks:
        for other, field in sorted(t.differs_only_in.items()):
            if t.task_id < other and other in names:
                lines.append(
                    f"{out.text(t.name)} ({t.task_id}) and {out.text(names[other])} ({other}) differ only in "
                    f"{out.text(field)}"
                )
    return lines
