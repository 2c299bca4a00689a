"""Projects: list, create, deactivate; a project's datasets (uploaded through the
pre-signed URL flow), grants, tasks; and the compare view's data."""

from __future__ import annotations

import asyncio
import re
import shlex
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from functions.ui.api import ApiError
from functions.ui.web import Ctx, Ui, field_of, ident, page, redirect

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
FINDINGS_SHOWN = 20  # of a version's last validation; the page counts the rest
CHECKING = frozenset({"QUEUED", "LAUNCHING", "RUNNING"})  # a validation job not finished yet
_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def ui_of(request: Request) -> Ui:
    ui: Ui = request.app.state.ui
    return ui


@page
async def projects(request: Request, ctx: Ctx) -> Response:
    items = await ctx.api.items("/v1/projects")
    return ui_of(request).render(request, "projects.html", ctx, projects=items)


def _names(text: str) -> list[str]:
    return [n for n in (part.strip() for part in text.replace(",", " ").split()) if n]


@page
async def create_project(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    body: dict[str, Any] = {
        "name": field_of(form, "name"),
        "purpose": field_of(form, "purpose"),
        "datasets": _names(field_of(form, "datasets")),
    }
    if field_of(form, "ttl_days"):
        body["ttl_days"] = _number(field_of(form, "ttl_days"))
    created = await ctx.api.post("/v1/projects", body)
    return redirect(request, f"/projects/{created['project_id']}")


@page
async def project(request: Request, ctx: Ctx) -> Response:
    pid = ident(request, "project_id")
    found = await ctx.api.get(f"/v1/projects/{pid}")
    tasks: list[dict[str, Any]] = []
    if ctx.me.is_scientist:
        tasks = await ctx.api.items(f"/v1/projects/{pid}/tasks")
    grants = await ctx.api.items("/v1/approvals", project=pid)
    shown = await dataset_versions(ctx, pid, list(found.get("datasets") or []), tasks)
    validating = request.query_params.get("validating", "")
    return ui_of(request).render(
        request,
        "project.html",
        ctx,
        project=found,
        tasks=tasks,
        grants=grants,
        datasets=shown,
        uploaded=request.query_params.get("uploaded"),
        validating=validating if _TASK_ID.fullmatch(validating) else "",
    )


async def dataset_versions(ctx: Ctx, pid: str, names: list[str], tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each dataset's versions as the API shows them (size, sha256, last validation), with the
    first FINDINGS_SHOWN findings of that validation, and the newest validation task of each
    version when it is newer than the version's last report (`tasks`: the project's, where the
    caller may list them), with the state of its job."""
    shown: list[dict[str, Any]] = list(
        await asyncio.gather(*(ctx.api.get(f"/v1/projects/{pid}/datasets/{quote(n, safe='')}") for n in names))
    )
    newest = _newest_checks(tasks)
    pending: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for dataset in shown:
        for version in dataset.get("versions") or []:
            _findings(version)
            check = newest.get((str(dataset.get("name")), int(version.get("version") or 0)))
            done = (version.get("validation") or {}).get("task_id")
            if check is not None and check.get("task_id") != done:  # newer than its last report
                pending.append((version, check))
    states = await asyncio.gather(*(ctx.api.items(f"/v1/tasks/{c['task_id']}/jobs") for _, c in pending))
    for (version, check), jobs in zip(pending, states, strict=True):
        state = str(max(jobs, key=lambda j: str(j.get("created_at", "")))["state"]) if jobs else "QUEUED"
        version["check"] = {"task_id": check["task_id"], "state": state, "running": state in CHECKING}
    return shown


def _newest_checks(tasks: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """(dataset, version) -> the newest validation task of that version."""
    newest: dict[tuple[str, int], dict[str, Any]] = {}
    for t in tasks:
        spec = t.get("spec") or {}
        names = spec.get("datasets") or []
        if spec.get("kind") != "validation" or len(names) != 1:
            continue
        number = (spec.get("dataset_versions") or {}).get(names[0])
        if not isinstance(number, int):
            continue
        key = (str(names[0]), number)
        if key not in newest or str(t.get("created_at", "")) > str(newest[key].get("created_at", "")):
            newest[key] = t
    return newest


def _findings(version: dict[str, Any]) -> None:
    """The validation's first FINDINGS_SHOWN findings, and how many more it counted (the
    report keeps at most 100; its counts say how many there were)."""
    check = version.get("validation")
    if not check:
        return
    findings = list(check.get("findings") or [])
    counted = check.get("checked") or {}
    total = max(len(findings), int(counted.get("errors", 0)) + int(counted.get("warnings", 0)))
    check["shown"] = findings[:FINDINGS_SHOWN]
    check["more"] = total - len(check["shown"])


@page
async def deactivate_project(request: Request, ctx: Ctx) -> Response:
    pid = ident(request, "project_id")
    await ctx.api.delete(f"/v1/projects/{pid}")
    return redirect(request, f"/projects/{pid}")


@page
async def upload_dataset(request: Request, ctx: Ctx) -> Response:
    """The browser sends the file here; the API signs a PUT for it (checking the caller may
    upload and auditing it), and the bytes go straight to that pre-signed URL."""
    pid = ident(request, "project_id")
    form = await request.form(max_part_size=MAX_UPLOAD_BYTES)
    upload = form.get("file")
    name = field_of(form, "name")
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise ApiError(400, "invalid", "file: choose a file to upload", [{"field": "file", "message": "required"}])
    grant = await ctx.api.post(f"/v1/projects/{pid}/datasets", {"name": name, "op": "upload"})

    async def chunks() -> AsyncIterator[bytes]:  # streamed from the spooled upload, never whole in memory
        while chunk := await upload.read(1 << 20):
            yield chunk

    headers = {**(grant.get("headers") or {}), "content-length": str(upload.size or 0)}
    async with httpx.AsyncClient(timeout=300) as s3:
        sent = await s3.put(grant["url"], content=chunks(), headers=headers)
    if sent.status_code >= 300:
        raise ApiError(502, "upload_failed", f"the storage refused the upload ({sent.status_code})")
    return redirect(request, f"/projects/{pid}?uploaded={name}")


@page
async def validate_dataset(request: Request, ctx: Ctx) -> Response:
    """Start a one-time validation task of one version; the API checks the validate grant."""
    pid = ident(request, "project_id")
    name = ident(request, "name")
    form = await request.form()
    body: dict[str, Any] = {}
    if field_of(form, "version"):
        body["version"] = _number(field_of(form, "version"))
    created = await ctx.api.post(f"/v1/projects/{pid}/datasets/{quote(name, safe='')}/validate", body)
    return redirect(request, f"/projects/{pid}?validating={quote(str(created['task']['task_id']), safe='')}")


@page
async def request_grant(request: Request, ctx: Ctx) -> Response:
    pid = ident(request, "project_id")
    form = await request.form()
    await ctx.api.post(
        "/v1/approvals",
        {
            "datasets": _names(field_of(form, "datasets")),
            "action": field_of(form, "action") or "train",
            "project": pid,
            "purpose": field_of(form, "purpose"),
            "days": _number(field_of(form, "days") or "30"),
        },
    )
    return redirect(request, f"/projects/{pid}")


def _number(text: str) -> Any:
    """A form value as the JSON number it spells, else the text (the API names the field)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def _value(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return _number(text)


def hyperparameters(text: str) -> dict[str, Any]:
    """`lr=0.05 epochs=8` (spaces, commas or lines between pairs) -> {"lr": 0.05, "epochs": 8}."""
    out: dict[str, Any] = {}
    for pair in _names(text):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ApiError(
                400,
                "invalid",
                f"hyperparameters: {pair!r} is not key=value",
                [{"field": "hyperparameters", "message": f"{pair!r} is not key=value"}],
            )
        out[key] = _value(value)
    return out


@page
async def create_task(request: Request, ctx: Ctx) -> Response:
    pid = ident(request, "project_id")
    form = await request.form()
    try:
        command = shlex.split(field_of(form, "command"))
    except ValueError as exc:
        raise ApiError(400, "invalid", f"command: {exc}", [{"field": "command", "message": str(exc)}]) from exc
    spec: dict[str, Any] = {
        "name": field_of(form, "name"),
        "command": command,
        "hyperparameters": hyperparameters(field_of(form, "hyperparameters")),
        "datasets": _names(field_of(form, "datasets")),
    }
    if field_of(form, "retries"):
        spec["retry"] = {"max_retries": _number(field_of(form, "retries"))}
    created = await ctx.api.post(f"/v1/projects/{pid}/tasks", spec)
    return redirect(request, f"/jobs/{created['job']['job_id']}")


@page
async def compare(request: Request, ctx: Ctx) -> Response:
    """The shell paints at once; the rows and curves come from one JSON fetch (comparison.json)."""
    pid = ident(request, "project_id")
    found = await ctx.api.get(f"/v1/projects/{pid}")
    return ui_of(request).render(request, "compare.html", ctx, project=found)


@page
async def comparison_json(request: Request, ctx: Ctx) -> Response:
    pid = ident(request, "project_id")
    # one page of the API's comparison (`after`: its cursor); the API checks and words both
    q = request.query_params
    body = await ctx.api.raw(
        f"/v1/projects/{pid}/comparison", after=q.get("after", "")[:512], limit=q.get("limit", "")[:8]
    )
    return Response(body, media_type="application/json", headers={"cache-control": "no-store"})


@page
async def task(request: Request, ctx: Ctx) -> Response:
    tid = ident(request, "task_id")
    found, jobs = await asyncio.gather(ctx.api.get(f"/v1/tasks/{tid}"), ctx.api.items(f"/v1/tasks/{tid}/jobs"))
    return ui_of(request).render(request, "task.html", ctx, task=found, jobs=jobs)


routes = [
    Route("/projects", projects, methods=["GET"]),
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects/{project_id}", project, methods=["GET"]),
    Route("/projects/{project_id}/deactivate", deactivate_project, methods=["POST"]),
    Route("/projects/{project_id}/datasets", upload_dataset, methods=["POST"]),
    Route("/projects/{project_id}/datasets/{name}/validate", validate_dataset, methods=["POST"]),
    Route("/projects/{project_id}/grants", request_grant, methods=["POST"]),
    Route("/projects/{project_id}/tasks", create_task, methods=["POST"]),
    Route("/projects/{project_id}/compare", compare, methods=["GET"]),
    Route("/projects/{project_id}/comparison.json", comparison_json, methods=["GET"]),
    Route("/tasks/{task_id}", task, methods=["GET"]),
]
