"""A job (one attempt of a task): live progress, epochs and curves, checkpoints, logs, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from functions.ui.pages.projects import ui_of
from functions.ui.web import Ctx, ident, page, redirect

LOG_PAGE_LINES = 200
MAX_QUERY_CHARS = 200


@page
async def job(request: Request, ctx: Ctx) -> Response:
    jid = ident(request, "job_id")
    found = await ctx.api.get(f"/v1/jobs/{jid}")
    task, epochs, checkpoints = await asyncio.gather(
        ctx.api.get(f"/v1/tasks/{found['task_id']}"),
        ctx.api.items(f"/v1/jobs/{jid}/epochs"),
        ctx.api.items(f"/v1/jobs/{jid}/checkpoints"),
    )
    attempts = await ctx.api.items(f"/v1/tasks/{found['task_id']}/jobs")
    return ui_of(request).render(
        request,
        "job.html",
        ctx,
        job=found,
        task=task,
        epochs=epochs,
        checkpoints=checkpoints,
        attempts=attempts,
        metrics=_metric_names(epochs),
        best=_best_epoch(checkpoints),
    )


def _metric_names(epochs: list[dict[str, Any]]) -> list[str]:
    return sorted({name for e in epochs for name in e.get("metrics", {})})


def _best_epoch(checkpoints: list[dict[str, Any]]) -> int | None:
    """The checkpoint to offer first: the best validation accuracy, else the lowest loss."""
    for metric, pick in (("val_accuracy", max), ("accuracy", max), ("val_loss", min), ("loss", min)):
        scored = [c for c in checkpoints if isinstance(c.get("metrics", {}).get(metric), int | float)]
        if scored:
            return int(pick(scored, key=lambda c: c["metrics"][metric])["epoch"])
    return None


@page
async def live(request: Request, ctx: Ctx) -> Response:
    """What the job page polls while the job is active: its state and epochs so far."""
    jid = ident(request, "job_id")
    found, epochs = await asyncio.gather(ctx.api.get(f"/v1/jobs/{jid}"), ctx.api.items(f"/v1/jobs/{jid}/epochs"))
    return JSONResponse({"job": found, "epochs": epochs}, headers={"cache-control": "no-store"})


@page
async def cancel(request: Request, ctx: Ctx) -> Response:
    jid = ident(request, "job_id")
    await ctx.api.post(f"/v1/jobs/{jid}/cancel")
    return redirect(request, f"/jobs/{jid}")


def page_of_lines(text: str, *, query: str, number: int, size: int = LOG_PAGE_LINES) -> dict[str, Any]:
    """One page of the log's lines (1-based), only those containing `query` (any case)."""
    numbered = list(enumerate(text.splitlines(), start=1))
    if query:
        wanted = query.lower()
        numbered = [(n, line) for n, line in numbered if wanted in line.lower()]
    pages = max(1, -(-len(numbered) // size))
    number = min(max(1, number), pages)
    return {
        "lines": numbered[(number - 1) * size : number * size],
        "page": number,
        "pages": pages,
        "matches": len(numbered),
    }


@page
async def logs(request: Request, ctx: Ctx) -> Response:
    jid = ident(request, "job_id")
    query = request.query_params.get("q", "")[:MAX_QUERY_CHARS]
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        number = 1
    found, text = await asyncio.gather(ctx.api.get(f"/v1/jobs/{jid}"), ctx.api.get(f"/v1/jobs/{jid}/logs"))
    shown = page_of_lines(str(text), query=query, number=number)
    return ui_of(request).render(request, "logs.html", ctx, job=found, q=query, **shown)


routes = [
    Route("/jobs/{job_id}", job, methods=["GET"]),
    Route("/jobs/{job_id}/live.json", live, methods=["GET"]),
    Route("/jobs/{job_id}/cancel", cancel, methods=["POST"]),
    Route("/jobs/{job_id}/logs", logs, methods=["GET"]),
]
