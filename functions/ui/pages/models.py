"""Models: publish a checkpoint, list, deactivate, and "try it" against the predictor."""

from __future__ import annotations

from typing import Any

import httpx
import tenacity
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from functions.ui.api import ApiError
from functions.ui.pages.projects import ui_of
from functions.ui.web import Ctx, field_of, ident, page, redirect

COLD_RETRIES = 8  # a cold model answers 503 + Retry-After while it loads (2 s deadline per try)


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(5.0, max(0.2, float(response.headers.get("retry-after", "1"))))
    except ValueError:
        return 1.0


def _last_answer(state: tenacity.RetryCallState) -> httpx.Response:
    assert state.outcome is not None
    answer: httpx.Response = state.outcome.result()
    return answer


def _waiting_for_a_cold_model() -> tenacity.AsyncRetrying:
    """A cold model answers 503 + Retry-After while it loads; its load goes on, the retry is
    served. After the last try its 503 is the answer (shown as the error)."""
    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(COLD_RETRIES + 1),
        wait=lambda state: _retry_after(_last_answer(state)),
        retry=tenacity.retry_if_result(lambda answer: answer.status_code == 503),
        retry_error_callback=_last_answer,
    )


@page
async def models(request: Request, ctx: Ctx) -> Response:
    items = await ctx.api.items("/v1/models")
    return ui_of(request).render(
        request,
        "models.html",
        ctx,
        models=items,
        published=request.query_params.get("published"),
        predictor=ui_of(request).options.predictor_url,
    )


@page
async def publish(request: Request, ctx: Ctx) -> Response:
    form = await request.form()
    body: dict[str, Any] = {"jobId": field_of(form, "job_id")}
    if field_of(form, "epoch"):
        try:
            body["epoch"] = int(field_of(form, "epoch"))
        except ValueError as exc:
            raise ApiError(
                400, "invalid", "epoch: not a whole number", [{"field": "epoch", "message": "not a whole number"}]
            ) from exc
    if field_of(form, "name"):
        body["name"] = field_of(form, "name")
    model = await ctx.api.post("/v1/models", body)
    return redirect(request, f"/models?published={model['modelId']}")


@page
async def deactivate(request: Request, ctx: Ctx) -> Response:
    await ctx.api.delete(f"/v1/models/{ident(request, 'model_id')}")
    return redirect(request, "/models")


@page
async def predict(request: Request, ctx: Ctx) -> Response:
    """Exactly the seed's curl: POST $PREDICTOR/v2/language/intent with the caller's token."""
    ui = ui_of(request)
    model_id = ident(request, "model_id")
    form = await request.form()
    if not ui.options.predictor_url:
        raise ApiError(503, "unavailable", "no predictor is configured for this platform (TRAINYARD_PREDICTOR_URL)")
    document = field_of(form, "document")
    async with httpx.AsyncClient(timeout=30, verify=ui.options.predictor_verify) as client:
        answer: httpx.Response = await _waiting_for_a_cold_model()(
            client.post,
            f"{ui.options.predictor_url}/v2/language/intent",
            json={"modelId": model_id, "document": document},
            headers={"authorization": f"Bearer {ctx.token}"},
        )
    if answer.status_code >= 400:
        raise ApiError.of(answer)
    ranked = sorted(answer.json().get("probabilities", []), key=lambda p: -float(p.get("probability", 0)))
    return ui.render(request, "_prediction.html", ctx, document=document, probabilities=ranked)


routes = [
    Route("/models", models, methods=["GET"]),
    Route("/models", publish, methods=["POST"]),
    Route("/models/{model_id}/deactivate", deactivate, methods=["POST"]),
    Route("/models/{model_id}/predict", predict, methods=["POST"]),
]
