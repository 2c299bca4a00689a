"""`trainyard projects ...` and `trainyard tasks ...`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sdk.cli import output as out
from sdk.cli.session import session
from sdk.cli.task_edit import add_rerun_commands, add_task_edit_commands
from sdk.contracts.errors import Problem, ValidationError
from sdk.contracts.specs import ProjectPatch, ProjectSpec, TaskSpec

if TYPE_CHECKING:  # types only: `--help` and other commands need not import the client
    from sdk.client import ProjectView, TaskView

DatasetOpt = Annotated[list[str] | None, typer.Option("--dataset", help="Dataset name (repeatable).")]


def _project_rows(projects: list[ProjectView]) -> list[list[str]]:
    return [
        [p.project_id, out.text(p.name), "yes" if p.active else "no", out.text(", ".join(p.datasets) or "-"),
         out.when(p.expires_at)]
        for p in projects
    ]  # fmt: skip


def _show_project(p: ProjectView) -> None:
    out.fields([
        ("project", p.project_id), ("name", out.text(p.name)), ("tenant", out.text(p.tenant)),
        ("purpose", out.text(p.purpose)), ("datasets", out.text(", ".join(p.datasets) or "-")),
        ("active", "yes" if p.active else "no"), ("created", out.when(p.created_at)),
        ("expires", out.when(p.expires_at)),
    ])  # fmt: skip


def projects_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command("create")
    def create(
        ctx: typer.Context,
        name: str,
        purpose: Annotated[str, typer.Option(help="Why this project exists (shown to approvers).")],
        dataset: DatasetOpt = None,
        ttl_days: Annotated[int | None, typer.Option(help="Days until the project expires.")] = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Create a project."""
        data: dict[str, Any] = {"name": name, "purpose": purpose, "datasets": dataset or []}
        if ttl_days is not None:
            data["ttl_days"] = ttl_days
        project = session(ctx).client().create_project(out.build(ProjectSpec, data))
        out.emit(project, as_json=json_, render=_show_project)

    @app.command("list")
    def list_(ctx: typer.Context, json_: out.JsonOpt = False) -> None:
        """List your projects."""
        projects = session(ctx).client().list_projects()
        if json_:
            out.print_json(projects)
            return
        out.table("projects", ["id", "name", "active", "datasets", "expires"], _project_rows(projects))

    @app.command("show")
    def show(ctx: typer.Context, project: str, json_: out.JsonOpt = False) -> None:
        """Show one project."""
        p = session(ctx).client().get_project(project)
        out.emit(p, as_json=json_, render=_show_project)

    @app.command("update")
    def update(
        ctx: typer.Context,
        project: str,
        purpose: Annotated[str | None, typer.Option(help="New purpose.")] = None,
        dataset: Annotated[list[str] | None, typer.Option("--dataset", help="Replaces the dataset list.")] = None,
        ttl_days: Annotated[int | None, typer.Option(help="New TTL in days.")] = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Change a project's purpose, datasets or TTL."""
        changes = {"purpose": purpose, "datasets": dataset, "ttl_days": ttl_days}
        patch = out.build(ProjectPatch, {k: v for k, v in changes.items() if v is not None})
        p = session(ctx).client().update_project(project, patch)
        out.emit(p, as_json=json_, render=_show_project)

    @app.command("delete")
    def delete(ctx: typer.Context, project: str, json_: out.JsonOpt = False) -> None:
        """Deactivate a project (no new tasks; its records stay)."""
        p = session(ctx).client().delete_project(project)
        out.emit(p, as_json=json_, render=lambda p: out.stdout().print(f"project {p.project_id} deactivated"))

    return app


def task_spec_data(
    name: str, *, command: str | None, image: str | None, params: list[str], datasets: list[str],
    resources: dict[str, Any], retries: int | None, limits: dict[str, Any], pool: str | None,
    code_dir: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The TaskSpec fields the user set; everything else keeps the spec's defaults.

    A local command runs in `code_dir` (default: the current directory), which a sandboxed
    trainer sees read-only: `--command "python train.py"` finds the user's own train.py.
    """
    data: dict[str, Any] = {"name": name, "datasets": datasets, "hyperparameters": dict(map(out.parse_param, params))}
    if command:
        data["command"] = shlex.split(command)
        if not image:
            data["code_dir"] = str((code_dir or Path.cwd()).absolute())
    if image:
        data["image"] = image
    if pool:
        data["pool"] = pool
    if retries is not None:
        data["retry"] = {"max_retries": retries}
    data["resources"] = {k: v for k, v in resources.items() if v is not None}
    data["limits"] = {k: v for k, v in limits.items() if v is not None}
    return data


def _pins(pairs: list[str]) -> dict[str, str]:
    """NAME=N pairs as the spec's pins (the spec validates the numbers, naming the field)."""
    pins = {}
    for pair in pairs:
        name, sep, version = pair.partition("=")
        if not sep or not name:
            raise ValidationError([Problem("dataset_version", f"{pair!r} is not NAME=N")])
        pins[name] = version
    return pins


def _task_rows(tasks: list[TaskView]) -> list[list[str]]:
    return [
        [t.task_id, out.text(t.spec.name), out.text(out.scalars(t.spec.hyperparameters)), out.when(t.created_at)]
        for t in tasks
    ]


def tasks_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)

    @app.command("create")
    def create(
        ctx: typer.Context,
        project: str,
        name: Annotated[str, typer.Option(help="Task (trial) name.")],
        command: Annotated[str | None, typer.Option(help='Local command, shell-quoted: "python train.py".')] = None,
        image: Annotated[str | None, typer.Option(help="Container image (Kubernetes runtime).")] = None,
        param: Annotated[list[str] | None, typer.Option(help="Hyperparameter KEY=VALUE (repeatable).")] = None,
        dataset: DatasetOpt = None,
        dataset_version: Annotated[
            list[str] | None, typer.Option(help="Pin a dataset's version NAME=N (repeatable; default: the latest).")
        ] = None,
        require_validated: Annotated[
            bool, typer.Option(help="Read only dataset versions that passed validation.")
        ] = False,
        cpu: Annotated[float | None, typer.Option(help="CPU cores.")] = None,
        memory_mb: Annotated[int | None, typer.Option(help="Memory in MiB.")] = None,
        gpu: Annotated[int | None, typer.Option(help="GPUs.")] = None,
        retries: Annotated[int | None, typer.Option(help="Attempts after the first.")] = None,
        launch_s: Annotated[float | None, typer.Option(help="Seconds to report running.")] = None,
        epoch_s: Annotated[float | None, typer.Option(help="Max seconds between epoch reports.")] = None,
        ttl_s: Annotated[float | None, typer.Option(help="Max seconds for the whole job.")] = None,
        pool: Annotated[str | None, typer.Option(help="Capacity pool.")] = None,
        code_dir: Annotated[
            Path | None,
            typer.Option(
                help="Folder holding the trainer's code; the command runs there, read-only in the sandbox "
                "[default: the current directory].",
                file_okay=False,
            ),
        ] = None,
        json_: out.JsonOpt = False,
    ) -> None:
        """Create a task; its first job is queued at once.

        A --command runs in --code-dir (default: here), so "python train.py" runs your train.py;
        it may read that folder and write only its job's own directory ($HOME, Trainer.workdir).
        """
        data = task_spec_data(
            name, command=command, image=image, params=param or [], datasets=dataset or [],
            resources={"cpu": cpu, "memory_mb": memory_mb, "gpu": gpu}, retries=retries,
            limits={"launch_s": launch_s, "epoch_s": epoch_s, "ttl_s": ttl_s}, pool=pool, code_dir=code_dir,
        )  # fmt: skip
        data["dataset_versions"] = _pins(dataset_version or [])
        data["require_validated"] = require_validated
        created = session(ctx).client().create_task(project, out.build(TaskSpec, data))
        if json_:
            out.print_json(created)
            return
        out.stdout().print(
            f"task {created.task.task_id} created; job {created.job.job_id} {out.state(created.job.state)}"
        )

    @app.command("watch")
    def watch(
        ctx: typer.Context,
        task: str,
        interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 2.0,
    ) -> None:
        """Follow a task live across its attempts (retries included); exit 1 unless it succeeded."""
        from sdk.cli.jobs import follow_task

        s = session(ctx)
        console = out.stdout()
        final = follow_task(s.client(), task, interval=interval, sleep=s.deps.sleep, console=console)
        console.print(
            f"task {task}: attempt {final.attempt} {out.state(final.state)} {out.metrics(final.final_metrics)}"
        )
        if final.state != "SUCCEEDED":
            out.print_error(
                f"task {task} ended {final.state} after {final.attempt} attempt(s): {final.reason or 'no reason given'}"
            )
            raise typer.Exit(1)

    @app.command("list")
    def list_(ctx: typer.Context, project: str, json_: out.JsonOpt = False) -> None:
        """List a project's tasks."""
        tasks = session(ctx).client().list_tasks(project)
        if json_:
            out.print_json(tasks)
            return
        out.table(f"tasks of {project}", ["id", "name", "params", "created"], _task_rows(tasks))

    @app.command("show")
    def show(ctx: typer.Context, task: str, json_: out.JsonOpt = False) -> None:
        """Show one task and its spec."""
        t = session(ctx).client().get_task(task)
        if json_:
            out.print_json(t)
            return
        s = t.spec
        out.fields([
            ("task", t.task_id), ("project", t.project_id), ("name", out.text(s.name)),
            ("run", out.text(s.image or shlex.join(s.command))), ("args", out.text(shlex.join(s.args) or "-")),
            ("code dir", out.text(s.code_dir or "-")),
            ("params", out.text(out.scalars(s.hyperparameters))), ("datasets", out.text(_datasets(s) or "-")),
            ("resources", f"cpu={s.resources.cpu:g} memory={s.resources.memory_mb}MiB gpu={s.resources.gpu}"),
            ("limits", f"launch={s.limits.launch_s:g}s epoch={s.limits.epoch_s:g}s ttl={s.limits.ttl_s:g}s"),
            ("retries", str(s.retry.max_retries)), ("pool", s.pool), ("created", out.when(t.created_at)),
        ])  # fmt: skip

    add_task_edit_commands(app)
    add_rerun_commands(app)
    return app


def _datasets(s: TaskSpec) -> str:
    pinned = [f"{d} v{s.dataset_versions[d]}" if d in s.dataset_versions else d for d in s.datasets]
    kind = f" ({s.kind}{', require_validated' if s.require_validated else ''})"
    return ", ".join(pinned) + (kind if s.kind != "training" or s.require_validated else "")
