"""The sidecar's REST contract against real servers: the seed's example, every error code,
tenancy, warm-path behaviour and metrics."""

from __future__ import annotations

import base64
import math
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sdk.auth import tokens
from sdk.models.png import encode_gray
from sdk.models.vision import SHAPES, shapes
from tests.integration.predictor.stack import SECRET, Published, Stack

pytestmark = pytest.mark.integration

INTENT = "/v2/language/intent"
VISION = "/v2/vision/predict"


@pytest.fixture(scope="module")
def model(stack: Stack, intent_checkpoint: bytes) -> Published:
    return stack.platform.publish("acme", intent_checkpoint)


def predict(
    stack: Stack, body: object, *, tenant: str = "acme", route: str = INTENT, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        stack.url + route, json=body, headers=headers if headers is not None else stack.headers(tenant), timeout=10
    )


def test_the_seed_example(stack: Stack, model: Published) -> None:
    response = predict(stack, {"modelId": model.model_id, "document": "my password stopped working"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"probabilities", "object"}
    assert body["object"] == "predictresponse"
    probabilities = body["probabilities"]
    assert probabilities[0]["label"] == "Password Help"
    assert probabilities[0]["probability"] > 0.5
    assert all(set(p) == {"label", "probability"} for p in probabilities)
    assert sorted(p["label"] for p in probabilities) == sorted(model.labels)
    values = [p["probability"] for p in probabilities]
    assert values == sorted(values, reverse=True)
    assert math.isclose(sum(values), 1.0, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("document", "label"),
    [
        ("where is my package", "Shipping Info"),
        ("I was charged twice on my card", "Billing"),
        ("we would like a quote for 300 licenses", "Sales Opportunity"),
        ("please change the size on my order", "Order Change"),
    ],
)
def test_the_trained_model_tells_intents_apart(stack: Stack, model: Published, document: str, label: str) -> None:
    response = predict(stack, {"modelId": model.model_id, "document": document})
    assert response.json()["probabilities"][0]["label"] == label


def test_a_warm_request_makes_no_platform_call_and_no_download(stack: Stack, model: Published) -> None:
    body = {"modelId": model.model_id, "document": "reset my password"}
    assert predict(stack, body).status_code == 200
    resolves, downloads, loads = (
        stack.platform.resolves[model.model_id],
        stack.sidecar.disk.downloads,
        stack.inference.core.store.loads,
    )
    for _ in range(5):
        assert predict(stack, body).status_code == 200
    assert stack.platform.resolves[model.model_id] == resolves
    assert stack.sidecar.disk.downloads == downloads
    assert stack.inference.core.store.loads == loads


def test_another_tenants_model_is_not_found(stack: Stack, model: Published) -> None:
    theirs = predict(stack, {"modelId": model.model_id, "document": "hello"}, tenant="globex")
    unknown = predict(stack, {"modelId": "m-does-not-exist", "document": "hello"}, tenant="globex")
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["message"] == f"model {model.model_id!r} not found"


@pytest.mark.parametrize("case", ["missing", "not bearer", "garbage", "other secret", "expired"])
def test_unauthenticated_requests_never_reach_the_platform(stack: Stack, model: Published, case: str) -> None:
    token = {
        "garbage": "not.a.jwt",
        "other secret": tokens.user_token(tenant="acme", sub="x", secret="another-secret-of-enough-length-000"),
        "expired": tokens.issue(tokens.Claims(sub="x", tenant="acme", exp=int(time.time()) - 5), secret=SECRET),
    }.get(case, "")
    headers = {} if case == "missing" else {"Authorization": f"Bearer {token}"}
    if case == "not bearer":
        headers = {"Authorization": "Basic dXNlcjpwYXNz"}
    before = stack.platform.resolves[model.model_id]
    response = predict(stack, {"modelId": model.model_id, "document": "hello"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert stack.platform.resolves[model.model_id] == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"modelId": "m-1"}, "document"),
        ({"modelId": "m-1", "document": 42}, "document"),
        ({"modelId": 7, "document": "x"}, "modelId"),
        ({"modelId": "m-1", "document": "x", "topK": 3}, "topK"),
        ([], "body"),
    ],
)
def test_malformed_bodies_are_400(stack: Stack, body: object, field: str) -> None:
    response = predict(stack, body)
    assert response.status_code == 400
    assert field in {p["field"] for p in response.json()["problems"]}


def test_invalid_json_is_400(stack: Stack) -> None:
    response = httpx.post(stack.url + INTENT, content=b"{not json", headers=stack.headers("acme"))
    assert response.status_code == 400


def test_too_long_document_says_the_limit(stack: Stack, model: Published) -> None:
    response = predict(stack, {"modelId": model.model_id, "document": "a" * 5001})
    assert response.status_code == 400
    assert response.json()["problems"] == [{"field": "document", "message": "is 5001 characters; the limit is 5000"}]


def test_intent_model_on_the_vision_route_is_400(stack: Stack, model: Published) -> None:
    sample = base64.b64encode(encode_gray(shapes(1)[0][0])).decode()
    response = predict(stack, {"modelId": model.model_id, "sampleBase64Content": sample}, route=VISION)
    assert response.status_code == 400
    assert "intent model" in response.json()["message"]


def test_vision_prediction(stack: Stack, vision_model_checkpoint: bytes) -> None:
    published = stack.platform.publish("acme", vision_model_checkpoint)
    images, targets = shapes(8, seed=99)
    correct = 0
    for image, target in zip(images, targets, strict=True):
        sample = base64.b64encode(encode_gray(image)).decode()
        response = predict(stack, {"modelId": published.model_id, "sampleBase64Content": sample}, route=VISION)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "predictresponse" and len(body["probabilities"]) == len(SHAPES)
        correct += body["probabilities"][0]["label"] == SHAPES[target]
    assert correct >= 7
    bad = predict(stack, {"modelId": published.model_id, "sampleBase64Content": "%%%"}, route=VISION)
    assert bad.status_code == 400
    not_png = base64.b64encode(b"GIF89a....").decode()
    assert (
        predict(stack, {"modelId": published.model_id, "sampleBase64Content": not_png}, route=VISION).status_code == 400
    )


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def test_health_readiness_and_metrics(stack: Stack, model: Published) -> None:
    assert httpx.get(stack.url + "/healthz").status_code == 200
    assert httpx.get(stack.url + "/readyz").json() == {"status": "ready"}
    for _ in range(2):
        predict(stack, {"modelId": model.model_id, "document": "refund"})
    found = samples(httpx.get(stack.url + "/metrics", headers={"Authorization": f"Bearer {stack.metrics_token}"}).text)
    of_model = {("tenant", "acme"), ("model", model.model_id)}
    for name in ("trainyard_memory_cache_total", "trainyard_disk_cache_total", "trainyard_resolve_cache_total"):
        assert found[(name, frozenset(of_model | {("result", "hit")}))] >= 1, name
    assert found[("trainyard_model_download_seconds_count", frozenset(of_model))] == 1
    assert found[("trainyard_model_load_seconds_count", frozenset(of_model))] == 1
    assert found[("trainyard_inference_seconds_count", frozenset(of_model))] >= 2
    requests = frozenset(of_model | {("route", "intent"), ("status", "200")})
    assert found[("trainyard_predict_requests_total", requests)] >= 2
    assert (
        0
        < found[("trainyard_disk_cache_bytes", frozenset())]
        <= found[("trainyard_disk_cache_budget_bytes", frozenset())]
    )
