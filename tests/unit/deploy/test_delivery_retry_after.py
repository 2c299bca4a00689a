"""A function's 503 + Retry-After reaches the broker's redelivery: every Trigger and the Broker
set delivery.retryAfterMax (a bounded ISO-8601 duration, above the platform's own delays), and
knative-eventing's `delivery-retryafter` flag, without which the webhook refuses the field, is
enabled in knative/config-features-eventing.yaml."""

from __future__ import annotations

import re

import pytest
import yaml
from cloudevents.http import CloudEvent
from starlette.exceptions import HTTPException

from functions.deploy import manifests as gen
from functions.handlers import REDELIVER, settle
from sdk.contracts.errors import TemporaryError
from tests.unit.deploy.knative_objects import KNATIVE, ROOT, load_docs

EVENTING_FEATURES = KNATIVE / "config-features-eventing.yaml"
_DURATION = re.compile(r"PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?")


def seconds(iso: str) -> float:
    found = _DURATION.fullmatch(iso)
    assert found and iso != "PT", f"not an ISO-8601 duration of minutes and seconds: {iso!r}"
    return int(found.group(1) or 0) * 60 + float(found.group(2) or 0)


def deliveries() -> dict[str, dict[str, object]]:
    objects = [*load_docs(ROOT / gen.OUTPUT), *load_docs(KNATIVE / "base" / "eventing" / "broker.yaml")]
    return {f"{o['kind']}/{o['metadata']['name']}": o["spec"]["delivery"] for o in objects}


def test_every_trigger_and_the_broker_honour_retry_after_within_a_bound() -> None:
    found = deliveries()
    assert len(found) == len(gen.triggers()) + 1
    for name, delivery in found.items():
        cap = seconds(str(delivery["retryAfterMax"]))
        assert 5 <= cap <= 120, name  # above the platform's delays (seconds), short of parking events
        assert int(str(delivery["retry"])) >= 1, name  # retryAfterMax only acts when retries are on


def test_the_eventing_feature_the_field_needs_is_enabled() -> None:
    flags = yaml.safe_load(EVENTING_FEATURES.read_text())["data"]
    uses_retry_after = any("retryAfterMax" in d for d in deliveries().values())
    assert uses_retry_after and flags.get("delivery-retryafter") == "enabled"


@pytest.mark.parametrize("bad", ["30s", "PT", "P1D", "PT-1S"])
def test_the_duration_check_refuses_what_knative_would(bad: str) -> None:
    with pytest.raises(AssertionError):
        seconds(bad)


def test_the_platform_answers_503_with_retry_after_for_a_temporary_error() -> None:
    """The other half: what the broker honours is what settle() sends (functions.handlers)."""
    event = CloudEvent({"type": "io.trainyard.job.created", "source": "t", "id": "1"}, {})

    def busy() -> None:
        raise TemporaryError("throttled", delay_s=7.2)

    with pytest.raises(HTTPException) as caught:
        settle(event, busy)
    assert caught.value.status_code == REDELIVER == 503
    headers = caught.value.headers or {}
    assert set(headers) == {"Retry-After"} and abs(int(headers["Retry-After"]) - 7.2) < 1
    assert seconds(gen.Delivery().retry_after_max) >= int(headers["Retry-After"])
