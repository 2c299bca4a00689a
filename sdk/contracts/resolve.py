"""The model-resolve body: what the platform tells the predictor about a model it may serve.

    GET {platform_url}/v1/models/{model_id}/resolve     (the caller's Authorization forwarded)
    200 {"modelId", "tenant", "sha256", "sizeBytes", "kind", "labels", "url", "expiresIn"}

The platform builds it (functions.core.models.resolve), the sidecar parses it
(predictor.sidecar.resolver): one model, so the two sides cannot drift.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelResolution(BaseModel):
    """A resolvable model: its archive's digest and size, and a pre-signed GET valid `expiresIn` s."""

    # extra="ignore": a newer platform may add fields an older sidecar does not know yet
    model_config = ConfigDict(extra="ignore", frozen=True)

    modelId: str = Field(min_length=1)
    tenant: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the model archive")
    sizeBytes: int = Field(ge=1, description="size of the model archive in bytes")
    kind: Literal["intent", "vision"]
    labels: list[str] = Field(default_factory=list)
    url: str = Field(min_length=1, description="pre-signed GET of the archive")
    expiresIn: float = Field(ge=0, description="seconds the url stays valid")
