"""`trainyard jobs ...`: list, show, provenance, cancel, logs, epochs, checkpoints, watch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sdk.cli import output as out
from sdk.cli.session import session

if TYPE_CHECKING:  # types only: `--help` and other commands need not import the client (nor `--json` rich)
    from rich.console import Console

    from sdk.client import Client, EpochView, JobView, Provenance


def _job_rows(jobs: list[JobView]) -> list[list[str]]:
    return [
        [j.job_id, str(j.attempt), out.state(j.state), "-" if j.last_epoch is None else str(j.last_epoch),
         out.when(j.created_at), out.when(j.finished_at), out.text(j.reason or "-")]
        for j in jobs
    ]  # fmt: skip


def _show_job(j: JobView) -> None:
    out.fields([
        ("job", j.job_id), ("task", j.task_id), ("project", j.project_id), ("attempt", str(j.attempt)),
        ("state", out.state(j.state)), ("reason", out.text(j.reason or "-")),
        ("failure", out.text(j.failure_kind or "-")),
        ("last epoch", "-" if j.last_epoch is None else str(j.last_epoch)),
        ("metadata", out.text(out.scalars(j.metadata))), ("final metrics", out.metrics(j.final_metrics)),
        ("created", out.when(j.created_at)), ("launched", out.when(j.launched_at)),
        ("running", out.when(j.running_at)), ("finished", out.when(j.finished_at)),
        ("deadline", out.when(j.deadline_at)),
        *_ran(j.provenance),
    ])  # fmt: skip


def _ran(record: dict[str, Any]) -> list[tuple[str, str]]:
    """What ran, as the platform recorded it (`jobs provenance JOB` shows all of it)."""
    rows = []
    if record.get("image"):
        rows.append(("image", out.text(str(record["image"]))))
    if record.get("image_id"):
        rows.append(("image id", out.text(str(record["image_id"]))))
    if record.get("command"):
        rows.append(("command", out.text(" ".join(map(str, record["command"])))))
    code = record.get("code") or {}
    if code:
        rows.append(("code sha256", out.text(str(code.get("sha256") or f"not hashed: {code.get('unhashed')}"))))
    for name, data in sorted((record.get("datasets") or {}).items()):
        rows.append((f"dataset {name}", out.text(f"sha256 {data.get('sha256')} ({data.get('size_bytes')} bytes)")))
    return rows


def _show_provenance(p: Provenance) -> None:
    code = p.code
    out.fields([
        ("job", p.job_id), ("task", p.task_id), ("re-runs", out.text(p.rerun_of or "-")),
        ("image", out.text(p.image or "-")), ("image digest", out.text(p.image_digest or "-")),
        ("command", out.text(" ".join(p.command) or "-")), ("code dir", out.text(p.code_dir or "-")),
        ("code sha256", out.text((code.sha256 or f"not hashed: {code.unhashed}") if code else "-")),
        ("code changed", "-" if p.code_changed is None else ("yes" if p.code_changed else "no")),
        *[(f"dataset {n}", out.text(f"{d.key} sha256 {d.sha256} ({d.size_bytes} bytes)"))
          for n, d in sorted(p.datasets.items())],
        ("hyperparameters", out.text(out.scalars(p.hyperparameters))), ("spec sha256", p.spec_sha256),
        ("platform", p.platform_version), ("sdk", p.sdk_version),
        ("trainer sdk", "-" if p.trainer_sdk_version is None else f"{p.trainer_sdk_version} (reported by the trainer)"),
        ("seed", "-" if p.seed is None else f"{p.seed} ({p.seed_source})"),
    ])  # fmt: skip


def _metric_table(title: str, rows: list[tuple[list[str], dict[str, float]]], lead: list[str]) -> None:
    names = sorted({name for _, values in rows for name in values})
    body = [cells + [out.number(values.get(name)) for name in names] for cells, values in rows]
    out.table(title, lead + names, body)


def _latest(epochs: list[EpochView]) -> EpochView | None:
    return max(epochs, key=lambda e: e.epoch, default=None)


def follow(
    client: Client, job_id: str, *, interval: float, sleep: Callable[[float], None], console: Console
) -> JobView:
    """Poll the job and its epochs into a progress bar until the job is terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TextColumn("{task.fields[metrics]}"),
    )  # fmt: skip
    with Progress(*columns, console=console) as progress:
        bar = progress.add_task(job_id, total=None, metrics="")
        while True:
            job = client.get_job(job_id)
            epochs = client.epochs(job_id)
            latest = _latest(epochs)
            progress.update(
                bar, total=job.total_epochs, completed=len({e.epoch for e in epochs}),
                description=f"{job_id} {out.state(job.state)}",
                metrics=out.metrics(latest.metrics) if latest else "",
            )  # fmt: skip
            if job.is_terminal:
                return job
            sleep(interval)


def follow_task(
    client: Client, task_id: str, *, interval: float, sleep: Callable[[float], None], console: Console
) -> JobView:
    """Follow a task's attempts, each live, until one ends with no attempt after it; that one.

    An attempt that failed with retries left is cleaned up and its successor queued (after
    the retry backoff): the watch moves on to it instead of stopping at the first failure.
    """
    while True:
        latest = max(client.list_jobs(task_id), key=lambda j: j.attempt)
        if not latest.is_terminal:
            latest = follow(client, latest.job_id, interval=interval, sleep=sleep, console=console)
        while not latest.cleaned_up:  # cleanup decides whether another attempt follows
            sleep(interval)
            latest = client.get_job(latest.job_id)
        following = [j for j in client.list_jobs(task_id) if j.attempt > latest.attempt]
        if not following:
            return latest
        console.print(
            f"attempt {latest.attempt} ended {out.state(latest.state)}: {out.text(latest.reason or '-')}; "
            f"attempt {min(j.attempt for j in following)} follows"
        )


def jobs_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command("list")
    def list_(ctx: typer.Context, task: str, json_: out.JsonOpt = False) -> None:
        """List a task's jobs (one per attempt)."""
        jobs = session(ctx).client().list_jobs(task)
        if json_:
            out.print_json(jobs)
            return
        cols = ["id", "attempt", "state", "epoch", "created", "finished", "reason"]
        out.table(f"jobs of {task}", cols, _job_rows(jobs))

    @app.command("show")
    def show(ctx: typer.Context, job: str, json_: out.JsonOpt = False) -> None:
        """Show one job."""
        out.emit(session(ctx).client().get_job(job), as_json=json_, render=_show_job)

    @app.command("provenance")
    def provenance(ctx: typer.Context, job: str, json_: out.JsonOpt = False) -> None:
        """What a job ran, as the platform recorded it: image digest or command and code hash,
        the datasets it was granted (sha256), hyperparameters, versions, the seed it reported."""
        out.emit(session(ctx).client().job_provenance(job), as_json=json_, render=_show_provenance)

    @app.command("cancel")
    def cancel(ctx: typer.Context, job: str, json_: out.JsonOpt = False) -> None:
        """Cancel a job (it is not retried)."""
        j = session(ctx).client().cancel_job(job)
        out.emit(j, as_json=json_, render=lambda j: out.stdout().print(f"job {j.job_id} {out.state(j.state)}"))

    @app.command("logs")
    def logs(
        ctx: typer.Context,
        job: str,
        all_: Annotated[bool, typer.Option("--all", help="The whole log, page by page, not just its end.")] = False,
    ) -> None:
        """Print a job's log: its last MiB (saying so when there is more), or --all of it."""
        client = session(ctx).client()
        if not all_:
            typer.echo(client.logs(job), nl=False)
            return
        for page in client.log_pages(job):
            typer.echo(page.text, nl=False)

    @app.command("epochs")
    def epochs(ctx: typer.Context, job: str, json_: out.JsonOpt = False) -> None:
        """A job's epoch metrics, one row per epoch."""
        items = session(ctx).client().epochs(job)
        if json_:
            out.print_json(items)
            return
        _metric_table(f"epochs of {job}", [([str(e.epoch), out.when(e.reported_at)], e.metrics) for e in items],
                      ["epoch", "reported"])  # fmt: skip

    @app.command("checkpoints")
    def checkpoints(ctx: typer.Context, job: str, json_: out.JsonOpt = False) -> None:
        """A job's checkpoints: artifact key, size, sha256, metrics."""
        items = session(ctx).client().checkpoints(job)
        if json_:
            out.print_json(items)
            return
        rows = [([str(c.epoch), out.text(c.key), str(c.size_bytes), c.sha256[:12]], c.metrics) for c in items]
        _metric_table(f"checkpoints of {job}", rows, ["epoch", "key", "bytes", "sha256"])

    @app.command("download-checkpoint")
    def download_checkpoint(
        ctx: typer.Context,
        job: str,
        epoch: Annotated[int | None, typer.Option(help="The epoch's checkpoint [default: the latest].")] = None,
        out_dir: Annotated[Path, typer.Option("--out", help="Folder to save it in.", file_okay=False)] = Path("."),
    ) -> None:
        """Download a checkpoint of a job, checked against the sha256 its trainer reported."""
        path = session(ctx).client().download_checkpoint(job, out_dir, epoch=epoch)
        out.stdout().print(f"saved {out.text(path)} ({path.stat().st_size} bytes, sha256 checked)")

    @app.command("watch")
    def watch(
        ctx: typer.Context,
        job: str,
        interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 2.0,
    ) -> None:
        """Follow a job live until it finishes; exit 1 unless it succeeded."""
        s = session(ctx)
        console = out.stdout()
        final = follow(s.client(), job, interval=interval, sleep=s.deps.sleep, console=console)
        console.print(f"job {final.job_id} {out.state(final.state)} {out.metrics(final.final_metrics)}")
        if final.state != "SUCCEEDED":
            out.print_error(f"job {final.job_id} ended {final.state}: {final.reason or 'no reason given'}")
            raise typer.Exit(1)

    return app
