"""EgressPolicy's rules, pure: what a job may reach through its egress channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from functions.local.egress_policy import EgressPolicy, Upstream
from tests.unit.local.conftest import KEY, PLATFORM, S3, SECRET, presign


def decide(policy: EgressPolicy, method: str, url: str, *, host: str | None = None, job_id: str = "j-1") -> str:
    """'' if allowed, else the reason; the request as the SDK's httpx would send it."""
    request = httpx.Request(method, url)
    headers = [(k.decode(), v.decode()) for k, v in request.headers.raw if k.lower() != b"host"]
    headers.append(("Host", host if host is not None else request.headers["host"]))
    decision = policy.decide(job_id=job_id, method=method, target=request.url.raw_path.decode(), headers=headers)
    return "" if decision.allowed else decision.reason


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/events"), ("GET", "/v1/jobs/j-1/datasets/reviews"), ("GET", "/v1/jobs/j-1/datasets/a.b_c-2"),
    ("POST", "/v1/jobs/j-1/artifacts"),
])  # fmt: skip
def test_the_trainer_endpoints_of_its_own_job_are_allowed(policy: EgressPolicy, method: str, path: str) -> None:
    assert decide(policy, method, PLATFORM + path) == ""


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/jobs/j-2/datasets/reviews"), ("POST", "/v1/jobs/j-2/artifacts"), ("GET", "/v1/jobs/j-1"),
    ("GET", "/v1/events"), ("POST", "/v1/events?x=1"), ("GET", "/v1/jobs/j-1/datasets/..%2fsecret"),
    ("GET", "/v1/jobs/j-1/datasets/../../projects"), ("GET", "/v1/jobs/j-1/datasets/.hidden"),
    ("POST", "/v1/projects"), ("GET", "/docs"), ("POST", "/broker/"), ("POST", "/fn/report"),
    ("GET", "/v1/jobs/j-1/datasets/reviews/extra"),
])  # fmt: skip
def test_every_other_platform_request_is_denied(policy: EgressPolicy, method: str, path: str) -> None:
    assert decide(policy, method, PLATFORM + path) != ""


@pytest.mark.parametrize(
    "host",
    ["evil.example", "127.0.0.1", "127.0.0.1:8081", "user@127.0.0.1:8080", "127.0.0.1:9000@evil", "localhost:8080", ""],
)
def test_a_host_that_is_neither_upstream_is_denied(policy: EgressPolicy, host: str) -> None:
    assert decide(policy, "POST", PLATFORM + "/v1/events", host=host) != ""


def test_only_origin_form_requests_with_one_host_are_judged(policy: EgressPolicy) -> None:
    absolute = policy.decide(
        job_id="j-1", method="POST", target="http://evil.example/v1/events", headers=[("Host", "127.0.0.1:8080")]
    )
    twice = policy.decide(
        job_id="j-1", method="POST", target="/v1/events", headers=[("Host", "127.0.0.1:8080"), ("Host", "evil.example")]
    )
    assert not absolute.allowed and not twice.allowed


def test_an_issued_url_is_allowed_for_its_own_method_only(policy: EgressPolicy, s3: Any) -> None:
    get = presign(s3, issue_to=policy)
    put = presign(s3, "put_object", key="jobs/j-1/checkpoints/w b+c(1).pt", issue_to=policy)
    assert decide(policy, "GET", get) == "" and decide(policy, "PUT", put) == ""
    assert "not a pre-signed transfer" in decide(policy, "HEAD", get)
    assert "bad signature" in decide(policy, "PUT", get)


def test_a_validly_signed_url_the_platform_did_not_issue_to_the_job_is_denied(policy: EgressPolicy, s3: Any) -> None:
    """The attack of issue 9: a trainer holding the S3 keys signs its own URLs. Signed with
    the right key, each of these would pass S3 (and moto); none was issued to j-1."""
    issued = presign(s3, issue_to=policy)
    other_tenant = presign(s3, key="other/p-2/reviews.csv")
    assert "not a URL the platform issued" in decide(policy, "GET", other_tenant)
    overwrite = presign(s3, "put_object", key="other/p-2/reviews.csv")
    assert "not a URL the platform issued" in decide(policy, "PUT", overwrite)
    listing = str(s3.generate_presigned_url("list_objects_v2", Params={"Bucket": "data"}, ExpiresIn=300))
    assert "not a URL the platform issued" in decide(policy, "GET", listing)
    assert "not a URL the platform issued" in decide(policy, "GET", issued, job_id="j-2")  # another job's
    assert decide(policy, "GET", issued + "&uploads=") != ""
    copy = httpx.Request(
        "PUT",
        presign(s3, "put_object", key="jobs/j-1/x", issue_to=policy),
        headers={"x-amz-copy-source": "data/other/p-2/reviews.csv"},
    )
    headers = [(k.decode(), v.decode()) for k, v in copy.headers.raw]
    assert (
        "x-amz-copy-source"
        in policy.decide(job_id="j-1", method="PUT", target=copy.url.raw_path.decode(), headers=headers).reason
    )
    admin = str(s3.generate_presigned_url("get_object", Params={"Bucket": "moto-api", "Key": "reset"}))
    assert "not a URL the platform issued" in decide(policy, "GET", admin)
    policy.forget("j-1")
    assert "not a URL the platform issued" in decide(policy, "GET", issued)


def test_only_pre_signed_urls_of_the_s3_endpoint_can_be_issued(policy: EgressPolicy, s3: Any) -> None:
    url = presign(s3)
    assert not policy.issue("j-1", method="GET", url=url.replace(S3, "http://127.0.0.1:9001"))
    assert not policy.issue("j-1", method="DELETE", url=url)
    assert not policy.issue("j-1", method="GET", url=S3 + "/data/datasets/reviews.csv")


def test_unsigned_forged_and_misused_s3_requests_are_denied(policy: EgressPolicy, s3: Any) -> None:
    url = presign(s3, issue_to=policy)
    signature = httpx.URL(url).params["X-Amz-Signature"]
    assert "not a pre-signed" in decide(policy, "GET", S3 + "/data/datasets/reviews.csv")
    assert "bad signature" in decide(policy, "GET", url.replace(signature, "0" * len(signature)))
    assert "bad signature" in decide(policy, "GET", url.replace("reviews.csv", "other-tenant.csv"))
    assert "bad signature" in decide(policy, "PUT", url)  # a GET signature does not sign a PUT
    assert "pre-signed transfer" in decide(policy, "POST", url)
    assert decide(policy, "GET", url + "&X-Amz-Signature=" + signature) != ""  # twice: ambiguous
    stranger = boto3.client(
        "s3",
        endpoint_url=S3,
        region_name="us-east-1",
        aws_access_key_id="OTHER",
        aws_secret_access_key="x",
        config=Config(signature_version="s3v4"),
    )
    assert "unknown access key" in decide(policy, "GET", presign(stranger))
    v2 = boto3.client(
        "s3",
        endpoint_url=S3,
        region_name="us-east-1",
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3"),
    )
    assert "not a pre-signed" in decide(policy, "GET", presign(v2))


def test_an_expired_url_is_denied(s3: Any) -> None:
    later = EgressPolicy(
        platform_url=PLATFORM,
        s3_endpoint=S3,
        credentials={KEY: SECRET},
        clock=lambda: datetime.now(UTC) + timedelta(seconds=301),
    )
    assert "expired" in decide(later, "GET", presign(s3, expires=300, issue_to=later))
    unchecked = EgressPolicy(
        platform_url=PLATFORM, s3_endpoint=S3, clock=lambda: datetime.now(UTC) + timedelta(seconds=301)
    )
    assert "expired" in decide(unchecked, "GET", presign(s3, expires=300, issue_to=unchecked))


def test_without_credentials_s3_checks_the_signature_and_the_proxy_what_was_issued(s3: Any) -> None:
    trusting = EgressPolicy(platform_url=PLATFORM, s3_endpoint=S3)
    url = presign(s3, issue_to=trusting)
    assert decide(trusting, "GET", url) == ""
    assert "not a URL the platform issued" in decide(trusting, "GET", url.replace("Signature=", "Signature=0"))
    assert decide(trusting, "GET", S3 + "/data/datasets/reviews.csv") != ""


def test_upstreams_compare_by_origin_with_default_ports() -> None:
    s3 = Upstream.parse("https://S3.Example.com")
    assert s3 == Upstream("https", "s3.example.com", 443)
    assert s3.serves("s3.example.com") and s3.serves("s3.example.com:443") and not s3.serves("s3.example.com:80")
    with pytest.raises(ValueError):
        EgressPolicy(platform_url="http://h:80", s3_endpoint="http://h")
