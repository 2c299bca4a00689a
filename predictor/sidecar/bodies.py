"""The request bodies of the sidecar's REST API (parsed strictly: unknown fields are refused)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class IntentBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    modelId: str = Field(min_length=1, max_length=256)
    document: str


class VisionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    modelId: str = Field(min_length=1, max_length=256)
    sampleBase64Content: str = Field(min_length=1)
