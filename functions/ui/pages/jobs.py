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
MAX_SEARCH_BYTES = 16 << 20  # a search reads at most this much of a paged log
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


async def log_text(ctx: Ctx, jid: str, *, offset: int | None, whole: bool) -> tuple[str, dict[str, int]]:
    """The log as the API pages it. An API that pages by bytes (X-Log-* headers) is followed
    from `offset` to the end when searching (up to MAX_SEARCH_BYTES); one that answers the
    whole log at once names no pages."""
    text, headers = await ctx.api.text(f"/v1/jobs/{jid}/logs", offset=0 if whole else offset)
    parts, span = [text], _span(headers)
    while whole and "next" in span and sum(len(p) for p in parts) < MAX_SEARCH_BYTES:
        more, headers = await ctx.api.text(f"/v1/jobs/{jid}/logs", offset=span["next"])
        parts.append(more)
        span = {**_span(headers), "offset": 0}
    return "".join(parts), span


def _span(headers: Any) -> dict[str, int]:
    names = {"offset": "x-log-offset", "size": "x-log-size", "next": "x-log-next-offset"}
    return {k: int(headers[h]) for k, h in names.items() if str(headers.get(h, "")).isdigit()}


@page
async def logs(request: Request, ctx: Ctx) -> Response:
    jid = ident(request, "job_id")
    q = request.query_params
    query = q.get("q", "")[:MAX_QUERY_CHARS]
    number = int(q["page"]) if q.get("page", "").isdigit() else 1
    offset = int(q["offset"]) if q.get("offset", "").isdigit() else None
    found = await ctx.api.get(f"/v1/jobs/{jid}")
    text, span = await log_text(ctx, jid, offset=offset, whole=bool(query))
    shown = page_of_lines(text, query=query, number=number)
    return ui_of(request).render(request, "logs.html", ctx, job=found, q=query, span=span, **shown)


routes = [
    Route("/jobs/{job_id}", job, methods=["GET"]),
    Route("/jobs/{job_id}/live.json", live, methods=["GET"]),
    Route("/jobs/{job_id}/cancel", cancel, methods=["POST"]),
    Route("/jobs/{job_id}/logs", logs, methods=["GET"]),
]
