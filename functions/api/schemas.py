"""What each /v1 operation answers, for `response_model` (and so the OpenAPI document).

The bodies the SDK reads are its own views (sdk.views, sdk.governance): the server declares
those very models, so the client and the document cannot drift apart. Only the answers no SDK
view describes (lists, the events ingress, the trainer's artifact URL, public keys) are here.
The views keep unknown fields (`extra="allow"`): an answer may carry more than its schema names.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from sdk.views import ModelView

T = TypeVar("T")


class Items(BaseModel, Generic[T]):
    """A list answer: `{"items": [...]}`."""

    items: list[T]


class PublishedModelView(ModelView):
    """A published model as the API sends it: the view plus `modelId`, the same id in the
    camelCase the predictor's routes use."""

    modelId: str


class ArtifactGrant(BaseModel):
    """A pre-signed PUT under the job's own artifact prefix."""

    model_config = ConfigDict(frozen=True)

    key: str
    method: Literal["PUT"]
    url: str
    expires_in: int


class EventAccepted(BaseModel):
    """The broker took the event (202)."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    accepted: bool


class Jwks(BaseModel):
    """An RFC 7517 key set: the public keys that verify job tokens."""

    keys: list[dict[str, Any]] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok"]
