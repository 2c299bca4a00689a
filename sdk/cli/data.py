"""`trainyard datasets upload|download` and `trainyard compare`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from sdk.cli import output as out
from sdk.cli.session import session

if TYPE_CHECKING:  # types only: `--help` and other commands need not import the client
    from sdk.client import Comparison


@contextmanager
def _bytes_bar(label: str, total: int | None) -> Iterator[Callable[[int], None]]:
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
            size = client.upload_dataset(project, name, file, progress=progress)
        out.stdout().print(f"uploaded {size} bytes as dataset {out.text(name)} of {project}")

    @app.command("download")
    def download(
        ctx: typer.Context,
        project: str,
        name: str,
        dest: Annotated[Path | None, typer.Argument(help="Target file (default: ./NAME).")] = None,
    ) -> None:
        """Download the project's dataset NAME."""
        client = session(ctx).client()
        target = dest if dest is not None else Path(name)
        with _bytes_bar(f"download {name}", None) as progress:
            path = client.download_dataset(project, name, target, progress=progress)
        out.stdout().print(f"saved dataset {out.text(name)} to {out.text(path)} ({path.stat().st_size} bytes)")

    return app


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
