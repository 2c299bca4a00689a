"""`trainyard tasks update|archive|unarchive|rerun|diff`: change, re-run and compare tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from sdk.cli import output as out
from sdk.cli.session import session
from sdk.contracts.specs import RetentionPolicy, TaskPatch

if TYPE_CHECKING:  # types only: `--help` and other commands need not import the client
    from sdk.client import TaskDiff, TaskView


def retention_option(
    *, keep_all: bool, keep_latest: int | None, keep_best: int | None, keep_metric: str | None
) -> RetentionPolicy | None:
    """The policy the retention flags describe, or None when none was given."""
    if keep_all:
        if keep_latest is not None or keep_best is not None:
            raise typer.BadParameter("--keep-all excludes --keep-latest and --keep-best", param_hint="--keep-all")
        return RetentionPolicy.keep_all()
    if keep_latest is None and keep_best is None and keep_metric is None:
        return None
    data: dict[str, object] = {"keep_best": keep_best or 0, "metric": keep_metric}
    if keep_latest is not None:
        data["keep_latest"] = keep_latest if keep_latest > 0 else None
    return out.build(RetentionPolicy, data)


KeepAll = Annotated[bool, typer.Option("--keep-all", help="Keep every checkpoint.")]
KeepLatest = Annotated[int | None, typer.Option(min=0, help="Keep the N most recent checkpoints (0: no bound).")]
KeepBest = Annotated[int | None, typer.Option(min=0, help="Keep the K best by --keep-metric.")]
KeepMetric = Annotated[str | None, typer.Option(help="Metric that ranks checkpoints for --keep-best.")]


def _updated(t: TaskView) -> None:
    r = t.spec.retention
    keep = "all" if r.keeps_all else f"latest {r.keep_latest or '-'}, best {r.keep_best} by {r.metric or '-'}"
    out.fields(
        [
            ("task", t.task_id),
            ("name", out.text(t.spec.name)),
            ("description", out.text(t.description or "-")),
            ("tags", out.text(", ".join(t.tags) or "-")),
            ("priority", str(t.spec.priority)),
            ("retention", keep),
            ("archived", "yes" if t.archived else "no"),
        ]
    )


def add_task_edit_commands(app: typer.Typer) -> None:
    @app.command("update")
    def update(
        ctx: typer.Context,
        task: str,
        name: Annotated[str | None, typer.Option(help="New name.")] = None,
        description: Annotated[str | None, typer.Option(help="Free text.")] = None,
        tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag (repeatable; replaces the tags).")] = None,
        priority: Annotated[int | None, typer.Option(min=0, max=9, help="Only while its attempt is queued.")] = None,
        keep_all: KeepAll = False,
        keep_latest: KeepLatest = None,
        keep_best: KeepBest = None,
        keep_metric: KeepMetric = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Change a task's name, description, tags, checkpoint retention, or queued priority."""
        retention = retention_option(
            keep_all=keep_all, keep_latest=keep_latest, keep_best=keep_best, keep_metric=keep_metric
        )
        patch = out.build(
            TaskPatch,
            {"name": name, "description": description, "tags": tag, "priority": priority, "retention": retention},
        )
        t = session(ctx).client().update_task(task, patch)
        out.emit(t, as_json=json_, render=_updated)

    @app.command("archive")
    def archive(ctx: typer.Context, task: str, json_: out.JsonOpt = False) -> None:
        """Archive a finished task: it leaves `trainyard compare` (see --archived) and stays readable."""
        t = session(ctx).client().archive_task(task)
        out.emit(t, as_json=json_, render=lambda t: out.stdout().print(f"task {t.task_id} archived"))

    @app.command("unarchive")
    def unarchive(ctx: typer.Context, task: str, json_: out.JsonOpt = False) -> None:
        """Bring an archived task back into the default comparison."""
        t = session(ctx).client().archive_task(task, archived=False)
        out.emit(t, as_json=json_, render=lambda t: out.stdout().print(f"task {t.task_id} restored"))


def _show_diff(d: TaskDiff) -> None:
    if d.same:
        out.stdout().print(f"{d.task_id} and {d.other_id} run the same thing")
        return
    if d.only is not None:
        out.stdout().print(f"{d.task_id} and {d.other_id} differ only in {out.text(d.only)}")
    rows = [[out.text(x.field), out.text(str(x.value)), out.text(str(x.other))] for x in d.differences]
    out.table(f"{d.task_id} vs {d.other_id}", ["field", d.task_id, d.other_id], rows)


def add_rerun_commands(app: typer.Typer) -> None:
    @app.command("rerun")
    def rerun(
        ctx: typer.Context,
        task: str,
        param: Annotated[
            list[str] | None, typer.Option(help="Override a hyperparameter KEY=VALUE (repeatable).")
        ] = None,
        name: Annotated[str | None, typer.Option(help="Name of the new task (default: the same).")] = None,
        allow_code_change: Annotated[
            bool, typer.Option(help="Local commands: run even if the code dir changed since (recorded).")
        ] = False,
        json_: out.JsonOpt = False,
    ) -> None:
        """Run a task again, pinned to what its last attempt ran: the same image (by digest) or the
        same code dir content (a changed one refuses to start, naming it), data and limits; only the
        overridden parameters differ."""
        hyperparameters = dict(map(out.parse_param, param or []))  # the same KEY=VALUE typing as `tasks create`
        created = (
            session(ctx)
            .client()
            .rerun_task(task, hyperparameters=hyperparameters, name=name, allow_code_change=allow_code_change)
        )
        if json_:
            out.print_json(created)
            return
        out.stdout().print(
            f"task {created.task.task_id} re-runs {task}; job {created.job.job_id} {out.state(created.job.state)}"
        )

    @app.command("diff")
    def diff(ctx: typer.Context, task: str, other: str, json_: out.JsonOpt = False) -> None:
        """What two tasks' runs differ in (image/command, args, hyperparameters, data, resources, limits)."""
        out.emit(session(ctx).client().diff_tasks(task, other), as_json=json_, render=_show_diff)
