"""Model methods of the user client and the predictor client, against fakes behind a MockTransport."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from sdk import http
from sdk.client import Client, ModelView
from sdk.contracts.errors import (
    Forbidden,
    NotFound,
    PermanentError,
    TemporaryError,
    TrainyardError,
    Unauthenticated,
    ValidationError,
)
from sdk.predict import Predictor
from tests.unit.sdk.sdk_fake_platform import MODEL, PREDICTION, PREDICTOR_URL, FakePlatform, sidecar_error

INTENT = "/v2/language/intent"
VISION = "/v2/vision/predict"


@pytest.fixture
def client(platform: FakePlatform, sleeps: list[float]) -> Client:
    return Client("http://platform.test", "user-token", transport=platform.transport, sleep=sleeps.append)


@pytest.fixture
def predictor(platform: FakePlatform, sleeps: list[float]) -> Predictor:
    return Predictor(f"{PREDICTOR_URL}/", "user-token", transport=platform.transport, sleep=sleeps.append,
                     backoff=http.Backoff(attempts=3))  # fmt: skip


def _body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# -- the platform's /v1/models ---------------------------------------------------------------


def test_publish_posts_the_choice_and_returns_the_model(client: Client, platform: FakePlatform) -> None:
    platform.json("POST", "/v1/models", MODEL, status=201)
    model = client.publish_model("j-1", metric="accuracy", mode="max", name="intents-v1")
    (request,) = platform.sent("POST", "/v1/models")
    assert request.headers["authorization"] == "Bearer user-token"
    assert _body(request) == {"jobId": "j-1", "metric": "accuracy", "mode": "max", "name": "intents-v1"}
    assert isinstance(model, ModelView)
    assert (model.model_id, model.epoch, model.labels, model.metrics) == ("m-1", 3, ["cancel", "track"],
                                                                         {"accuracy": 0.9})  # fmt: skip
    assert model.model_dump(mode="json")["modelId"] == "m-1"  # --json prints what the server said


def test_publish_sends_epoch_zero_and_nothing_unset(client: Client, platform: FakePlatform) -> None:
    platform.json("POST", "/v1/models", {**MODEL, "epoch": 0})
    assert client.publish_model("j-1", epoch=0).epoch == 0  # 200: published before, same model back
    assert _body(platform.sent("POST", "/v1/models")[0]) == {"jobId": "j-1", "epoch": 0}


@pytest.mark.parametrize(
    ("kwargs", "fields"),
    [({"epoch": 2, "metric": "loss"}, ["epoch"]), ({"mode": "min"}, ["mode"]),
     ({"epoch": 1, "mode": "max"}, ["mode"])],
)  # fmt: skip
def test_a_contradictory_publish_is_refused_before_any_request(
    client: Client, platform: FakePlatform, kwargs: Any, fields: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        client.publish_model("j-1", **kwargs)
    assert [p.field for p in caught.value.problems] == fields
    assert platform.requests == []


def test_list_get_and_delete_models(client: Client, platform: FakePlatform) -> None:
    platform.json("GET", "/v1/models", {"items": [MODEL, {**MODEL, "modelId": "m-2", "model_id": "m-2"}]})
    platform.json("GET", "/v1/models/m-1", MODEL)
    platform.json("DELETE", "/v1/models/m-1", {**MODEL, "active": False})
    assert [m.model_id for m in client.list_models()] == ["m-1", "m-2"]
    assert client.get_model("m-1").kind == "intent"
    assert client.delete_model("m-1").active is False
    assert len(platform.sent("DELETE", "/v1/models/m-1")) == 1


def test_another_tenants_model_is_not_found(client: Client, platform: FakePlatform) -> None:
    body = {"error": {"code": "not_found", "message": "model 'm-9' not found", "problems": []}}
    platform.json("GET", "/v1/models/m-9", body, status=404)
    with pytest.raises(NotFound, match=r"^model 'm-9' not found$"):
        client.get_model("m-9")


def test_an_invalid_publish_names_the_field(client: Client, platform: FakePlatform) -> None:
    problems = [{"field": "jobId", "message": "checkpoint of epoch 3 is not a model: no manifest"}]
    platform.json("POST", "/v1/models", {"error": {"code": "invalid", "message": "x", "problems": problems}}, 400)
    with pytest.raises(ValidationError) as caught:
        client.publish_model("j-1")
    assert [(p.field, p.message) for p in caught.value.problems] == [(problems[0]["field"], problems[0]["message"])]


def test_publish_is_not_retried(client: Client, platform: FakePlatform, sleeps: list[float]) -> None:
    platform.on("POST", "/v1/models", httpx.Response(503), httpx.Response(201, json=MODEL))
    with pytest.raises(TemporaryError):
        client.publish_model("j-1")
    assert len(platform.sent("POST", "/v1/models")) == 1 and sleeps == []


# -- the predictor -----------------------------------------------------------------------------


def test_intent_posts_the_document_with_the_users_token(predictor: Predictor, platform: FakePlatform) -> None:
    platform.json("POST", INTENT, PREDICTION)
    prediction = predictor.intent("m-1", "where is my parcel?")
    (request,) = platform.sent("POST", INTENT)
    assert str(request.url) == f"{PREDICTOR_URL}{INTENT}"
    assert request.headers["authorization"] == "Bearer user-token"
    assert _body(request) == {"modelId": "m-1", "document": "where is my parcel?"}
    assert prediction.ranked == [("cancel", 0.75), ("track", 0.25)]
    assert prediction.model_dump(mode="json") == PREDICTION


def test_vision_sends_the_image_as_base64(predictor: Predictor, platform: FakePlatform) -> None:
    platform.json("POST", VISION, PREDICTION)
    image = bytes(range(256))
    assert predictor.vision("m-2", image).ranked[0] == ("cancel", 0.75)
    body = _body(platform.sent("POST", VISION)[0])
    assert body["modelId"] == "m-2" and base64.b64decode(body["sampleBase64Content"]) == image


def test_a_cold_model_is_retried_after_its_retry_after(
    predictor: Predictor, platform: FakePlatform, sleeps: list[float]
) -> None:
    loading = "model m-1 is loading"
    platform.on("POST", INTENT, sidecar_error(503, loading, retry_after=2), sidecar_error(503, loading, retry_after=1),
                httpx.Response(200, json=PREDICTION))  # fmt: skip
    assert predictor.intent("m-1", "hi").ranked[0][0] == "cancel"
    assert sleeps == [2.0, 1.0]
    requests = platform.sent("POST", INTENT)
    assert len(requests) == 3 and {r.content for r in requests} == {requests[0].content}


def test_a_model_that_never_loads_is_a_temporary_error_with_the_hint(
    predictor: Predictor, platform: FakePlatform, sleeps: list[float]
) -> None:
    platform.on("POST", INTENT, sidecar_error(503, "model m-1 is loading", retry_after=4))
    with pytest.raises(TemporaryError, match=r"^model m-1 is loading$") as caught:
        predictor.intent("m-1", "hi")
    assert caught.value.delay_s == 4.0
    assert sleeps == [4.0, 4.0] and len(platform.sent("POST", INTENT)) == 3


def test_an_unreachable_predictor_is_retried(predictor: Predictor, platform: FakePlatform,
                                             sleeps: list[float]) -> None:  # fmt: skip
    platform.on("POST", INTENT, httpx.ConnectError("refused"), httpx.Response(200, json=PREDICTION))
    assert predictor.intent("m-1", "hi").ranked
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 0.75  # exponential, plus up to Backoff.jitter_s (0.25 s) at random
    platform.on("POST", INTENT, httpx.ConnectError("refused"))
    with pytest.raises(TemporaryError, match=r"predictor\.test"):
        predictor.intent("m-1", "hi")


@pytest.mark.parametrize(
    ("reply", "kind", "message"),
    [
        (sidecar_error(404, "model 'm-9' not found"), NotFound, "model 'm-9' not found"),
        (sidecar_error(401, "bad token"), Unauthenticated, "bad token"),
        (sidecar_error(403, "no"), Forbidden, "no"),
        (sidecar_error(502, "archive of m-1 is corrupt"), PermanentError, "predictor: archive of m-1 is corrupt"),
    ],
)  # fmt: skip
def test_sidecar_errors_map_once_and_are_not_retried(
    predictor: Predictor, platform: FakePlatform, sleeps: list[float], reply: httpx.Response,
    kind: type[TrainyardError], message: str,
) -> None:  # fmt: skip
    platform.on("POST", INTENT, reply, httpx.Response(200, json=PREDICTION))
    with pytest.raises(kind) as caught:
        predictor.intent("m-9", "hi")
    assert str(caught.value) == message
    assert sleeps == [] and len(platform.sent("POST", INTENT)) == 1


def test_a_sidecar_400_names_the_field(predictor: Predictor, platform: FakePlatform) -> None:
    problems = [{"field": "document", "message": "is 6000 characters; the limit is 5000"}]
    platform.on("POST", INTENT, sidecar_error(400, "document: too long", problems=problems))
    with pytest.raises(ValidationError) as caught:
        predictor.intent("m-1", "x" * 6000)
    assert [(p.field, p.message) for p in caught.value.problems] == [("document", problems[0]["message"])]


def test_a_proxy_5xx_without_the_sidecar_body_is_retried(
    predictor: Predictor, platform: FakePlatform, sleeps: list[float]
) -> None:
    platform.on("POST", INTENT, httpx.Response(502, text="bad gateway"), httpx.Response(200, json=PREDICTION))
    assert predictor.intent("m-1", "hi").ranked
    assert len(sleeps) == 1 and 0.5 <= sleeps[0] <= 0.75  # exponential, plus up to Backoff.jitter_s (0.25 s) at random
