"""Published models (user tokens) and their resolution for the predictor."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions.api.auth import Authorized, DepsDep, User
from functions.api.schemas import Items, PublishedModelView
from functions.core import models
from functions.domain.registry import PublishedModel
from sdk.contracts.errors import Problem, ValidationError
from sdk.contracts.resolve import ModelResolution
from sdk.views import CheckpointTry

router = APIRouter(prefix="/v1", tags=["models"])


class PublishRequest(BaseModel):
    """Publish the checkpoint of `epoch`, or the best by `metric`, or the latest one."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    job_id: str = Field(alias="jobId", min_length=1, max_length=128)
    epoch: int | None = Field(default=None, ge=0)
    metric: str | None = Field(default=None, min_length=1, max_length=64)
    mode: Literal["max", "min"] | None = None
    name: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_choice(self) -> PublishRequest:
        if self.epoch is not None and self.metric is not None:
            raise ValueError("give either epoch or metric, not both")
        return self


def view(m: PublishedModel) -> dict[str, Any]:
    out = m.model_dump(mode="json", exclude={"archive_key"})
    out["modelId"] = m.model_id
    return out


@router.post(
    "/models",
    status_code=201,
    response_model=PublishedModelView,
    responses={200: {"model": PublishedModelView, "description": "Published before: the same model, unchanged"}},
)
def publish(req: PublishRequest, actor: Authorized, deps: DepsDep, response: Response) -> dict[str, Any]:
    model, created = models.publish(
        deps,
        tenant=actor.tenant,
        job_id=req.job_id,
        epoch=req.epoch,
        metric=req.metric,
        mode=req.mode,
        name=req.name,
        actor=actor,
    )
    if not created:
        response.status_code = 200
    return view(model)


class TryRequest(BaseModel):
    """One input: a `document` for intent models, or an image (`sampleBase64Content`) for vision ones."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    document: str | None = Field(default=None, min_length=1, max_length=100_000)
    image: str | None = Field(default=None, alias="sampleBase64Content", min_length=1, max_length=14_000_000)

    @model_validator(mode="after")
    def _one_input(self) -> TryRequest:
        if (self.document is None) == (self.image is None):
            raise ValueError("give either document or sampleBase64Content")
        return self

    def image_bytes(self) -> bytes | None:
        if self.image is None:
            return None
        try:
            return base64.b64decode(self.image, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError([Problem("sampleBase64Content", "is not valid base64")]) from exc


@router.post("/jobs/{job_id}/checkpoints/{epoch}/predict", tags=["jobs"], response_model=CheckpointTry)
def try_checkpoint(
    job_id: str, epoch: Annotated[int, Path(ge=0)], req: TryRequest, actor: Authorized, deps: DepsDep, request: Request
) -> dict[str, Any]:
    """Predict with any checkpoint in one call: the checkpoint is published on demand (the
    same checkpoint is always the same model: a second try reuses it, cache included), then
    asked through the prediction service with the caller's own token."""
    token = request.headers.get("authorization", "").partition(" ")[2]
    model, answer = models.try_checkpoint(
        deps,
        tenant=actor.tenant,
        job_id=job_id,
        epoch=epoch,
        token=token,
        document=req.document,
        image=req.image_bytes(),
        actor=actor,
    )
    return {"model": view(model), "prediction": answer}


@router.get("/models", response_model=Items[PublishedModelView])
def list_models(caller: User, deps: DepsDep) -> dict[str, Any]:
    return {"items": [view(m) for m in deps.models.list_models(caller.tenant)]}


@router.get("/models/{model_id}", response_model=PublishedModelView)
def get_model(model_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    return view(deps.models.get_model(caller.tenant, model_id))


@router.delete("/models/{model_id}", response_model=PublishedModelView)
def deactivate(model_id: str, caller: User, deps: DepsDep) -> dict[str, Any]:
    """Deactivates: predictions stop resolving it; the archive and record stay."""
    return view(models.deactivate(deps, tenant=caller.tenant, model_id=model_id))


@router.get("/models/{model_id}/resolve")
def resolve(model_id: str, caller: User, deps: DepsDep) -> ModelResolution:
    """For the predictor sidecar (caller's token forwarded, or its service token): metadata +
    a pre-signed URL."""
    return models.resolve(deps, tenant=caller.tenant, model_id=model_id)
