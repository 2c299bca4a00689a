"""Production token mode over real HTTP: the platform (uvicorn on 127.0.0.1, real DynamoDB/S3
in moto) verifies users' tokens against an identity provider's JWKS served by a local HTTP
server, and mints ES256 job tokens it publishes at /v1/.well-known/jwks.json. Every bad
token is a 401 that says why; a job token acts for its own live job only; refusals are audited."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from functions import bootstrap
from functions.api.app import create_app
from functions.core import launching
from functions.core.deps import Deps
from functions.local.platform import ensure_storage
from functions.publishing import RecordingPublisher
from functions.runtimes.recording import RecordingRuntime
from sdk.auth import tokens
from sdk.auth.signing import new_key_pem
from tests.support.moto_settings import moto_settings
from tests.support.servers import serve
from tests.unit.tokens.forge import IDP_ISSUER, Idp, claims, flip_signature, hmac_signed, unsigned

pytestmark = pytest.mark.integration
LOCAL_SECRET = "a-local-secret-0123456789abcdef-xyz"


class JwksEndpoint:
    """The identity provider's jwks_uri, counting the fetches it serves."""

    def __init__(self, idp: Idp) -> None:
        self.idp = idp
        self.fetches = 0

    def app(self) -> Starlette:
        async def jwks(_: Request) -> JSONResponse:
            self.fetches += 1
            return JSONResponse(self.idp.jwks())

        return Starlette(routes=[Route("/jwks.json", jwks)])


@dataclass
class Platform:
    url: str
    deps: Deps
    idp: Idp
    endpoint: JwksEndpoint
    runtime: RecordingRuntime

    def person(self, sub: str, *roles: str, tenant: str = "acme", kid: str = "ec-1", **over: Any) -> str:
        return self.idp.sign(claims(sub=sub, tenant=tenant, roles=list(roles), **over), kid=kid)

    def call(self, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=10, **kw)

    def event(self, token: str, subject: str) -> httpx.Response:
        body = {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "type": "io.trainyard.job.running",
            "source": "trainer",
            "subject": subject,
            "data": {},
        }
        return httpx.post(
            self.url + "/v1/events",
            content=json.dumps(body),
            timeout=10,
            headers={"Authorization": f"Bearer {token}", "content-type": "application/cloudevents+json"},
        )

    def denials(self, tenant: str, actor: str) -> list[dict[str, Any]]:
        admin = self.person(f"admin@{tenant}", "admin", tenant=tenant)
        r = self.call("GET", "/v1/audit", admin, params={"actor": actor, "limit": 1000})
        assert r.status_code == 200, r.text
        return sorted((x for x in r.json()["items"] if x["decision"] == "denied"), key=lambda x: x["action"])


@pytest.fixture(scope="module")
def platform(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    idp = Idp()
    idp.add("rsa-1", "RS256")
    idp.add("ec-1", "ES256")
    endpoint = JwksEndpoint(idp)
    key_file = tmp_path_factory.mktemp("keys") / "job-token.pem"
    key_file.write_bytes(new_key_pem())
    with serve(endpoint.app()) as idp_url:
        settings = moto_settings(
            moto_endpoint,
            name="tk",
            token_secret="",
            jwks_url=f"{idp_url}/jwks.json",
            token_issuer=IDP_ISSUER,
            job_token_key_file=key_file,
            jwks_min_refresh_s=0,
        )
        runtime = RecordingRuntime()
        deps = replace(bootstrap.build(settings, runtime=runtime), events=RecordingPublisher())
        ensure_storage(deps, settings)
        with serve(create_app(deps), health="/healthz") as url:
            yield Platform(url, deps, idp, endpoint, runtime)


def test_provider_tokens_in_rs256_and_es256_open_the_api(platform: Platform) -> None:
    for kid in ("rsa-1", "ec-1"):
        r = platform.call("GET", "/v1/projects", platform.person("ana", "data-scientist", kid=kid))
        assert r.status_code == 200, r.text


REFUSALS: dict[str, tuple[Callable[[Idp], str | None], str]] = {
    "no token": (lambda i: None, "missing bearer token"),
    "tampered": (lambda i: flip_signature(i.sign(claims(), kid="rsa-1")), "the signature does not verify"),
    "expired": (lambda i: i.sign(claims(exp=int(time.time()) - 60), kid="ec-1"), "expired at"),
    "not yet valid": (lambda i: i.sign(claims(nbf=int(time.time()) + 600), kid="ec-1"), "not valid before"),
    "wrong audience": (
        lambda i: i.sign(claims(aud="billing"), kid="ec-1"),
        "wrong audience (this service is 'trainyard')",
    ),
    "wrong issuer": (
        lambda i: i.sign(claims(iss="https://evil.test"), kid="ec-1"),
        "issuer 'https://evil.test' is not trusted here",
    ),
    "alg none": (lambda i: unsigned(claims()), "algorithm 'none' is not accepted here"),
    "HS256 keyed with the provider's public key": (
        lambda i: hmac_signed(i.public_pem("rsa-1"), claims(), kid="rsa-1"),
        "algorithm 'HS256' is not accepted here",
    ),
    "HS256 from a local-mode secret": (
        lambda i: tokens.user_token(tenant="acme", sub="ana", secret=LOCAL_SECRET),
        "issuer 'trainyard-local' is not trusted here",
    ),
    "unknown kid": (
        lambda i: jwt.encode(claims(), i.keys["ec-1"][1], algorithm="ES256", headers={"kid": "k-404"}),
        "unknown key id 'k-404'",
    ),
    "job claim from the provider": (
        lambda i: i.sign(claims(job="t-1.1", roles=["job"]), kid="ec-1"),
        "job tokens come from the platform's job issuer",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_each_bad_token_is_a_401_that_says_why(platform: Platform, case: str) -> None:
    make, message = REFUSALS[case]
    r = platform.call("GET", "/v1/projects", make(platform.idp))
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthenticated"
    assert message in r.json()["error"]["message"], r.json()


def test_a_rotated_key_is_fetched_once_then_cached_and_an_unknown_one_refused(platform: Platform) -> None:
    p = platform
    assert p.call("GET", "/v1/projects", p.person("ana", "data-scientist")).status_code == 200
    before = p.endpoint.fetches
    p.idp.add("ec-2", "ES256")  # the provider rotates in a new key and signs with it
    for _ in range(3):
        r = p.call("GET", "/v1/projects", p.person("ana", "data-scientist", kid="ec-2"))
        assert r.status_code == 200, r.text
    assert p.endpoint.fetches == before + 1
    p.idp.add("never-published", "ES256", publish=False)
    r = p.call("GET", "/v1/projects", p.person("ana", "data-scientist", kid="never-published"))
    assert r.status_code == 401 and "unknown key id 'never-published'" in r.text
    assert p.endpoint.fetches == before + 2  # one look for it, then refused


def test_an_expired_genuine_token_is_refused_and_audited(platform: Platform) -> None:
    late = platform.person("late-ana", "data-scientist", exp=int(time.time()) - 30)
    assert platform.call("GET", "/v1/projects", late).status_code == 401
    [record] = platform.denials("acme", "late-ana")
    assert (record["action"], record["resource"]) == ("GET /v1/projects", "route/GET /v1/projects")
    assert "expired at" in record["reason"]


@dataclass
class Launched:
    a: str
    b: str

    @staticmethod
    def token(p: Platform, job_id: str) -> str:
        return p.runtime.launched[job_id].env["TRAINYARD_TOKEN"]


@pytest.fixture(scope="module")
def launched(platform: Platform) -> Launched:
    p = platform
    ana, boss = p.person("ana", "data-scientist"), p.person("boss", "approver")
    pid = p.call("POST", "/v1/projects", ana, json={"name": "p", "purpose": "tokens", "datasets": ["d"]}).json()[
        "project_id"
    ]
    aid = p.call(
        "POST",
        "/v1/approvals",
        ana,
        json={"datasets": ["d"], "action": "train", "project": pid, "purpose": "tokens", "days": 1},
    ).json()["approval_id"]
    assert p.call("POST", f"/v1/approvals/{aid}/approve", boss).status_code == 200
    p.deps.datasets.put(f"acme/{pid}/d", b"rows")
    task = {"name": "t", "command": ["python", "x.py"], "datasets": ["d"]}
    a, b = (p.call("POST", f"/v1/projects/{pid}/tasks", ana, json=task).json()["job"]["job_id"] for _ in "ab")
    assert {j.job_id for j in launching.admit_pool(p.deps, "default")} == {a, b}
    return Launched(a, b)


def test_job_tokens_are_es256_and_verify_with_the_published_keys(platform: Platform, launched: Launched) -> None:
    r = httpx.get(platform.url + "/v1/.well-known/jwks.json", timeout=10)  # public: no token
    assert r.status_code == 200 and "max-age" in r.headers["cache-control"]
    [key] = r.json()["keys"]
    assert (key["kty"], key["alg"], "d" in key) == ("EC", "ES256", False)
    token = Launched.token(platform, launched.a)
    body = jwt.decode(token, jwt.PyJWK(key), algorithms=["ES256"], audience="trainyard", issuer="trainyard-platform")
    assert (body["sub"], body["job"], body["tenant"]) == (f"job:{launched.a}", launched.a, "acme")


def test_a_job_token_reports_and_fetches_for_its_own_job(platform: Platform, launched: Launched) -> None:
    token = Launched.token(platform, launched.a)
    assert platform.event(token, launched.a).status_code == 202
    got = platform.call("GET", f"/v1/jobs/{launched.a}/datasets/d", token)
    assert got.status_code == 200 and httpx.get(got.json()["url"], timeout=10).content == b"rows"


def test_another_jobs_events_and_data_are_refused_and_audited(platform: Platform, launched: Launched) -> None:
    token = Launched.token(platform, launched.a)
    assert platform.event(token, launched.b).status_code == 403
    assert platform.call("GET", f"/v1/jobs/{launched.b}/datasets/d", token).status_code == 404
    denied = [(r["action"], r["resource"]) for r in platform.denials("acme", f"job:{launched.a}")]
    assert ("POST /v1/events", "route/POST /v1/events") in denied
    assert ("GET /v1/jobs/{job_id}/datasets/{name}", f"job/{launched.b}") in denied


def test_another_tenants_token_for_this_job_is_refused_and_audited(platform: Platform, launched: Launched) -> None:
    evil = platform.deps.config.job_tokens().job_token(
        tenant="evil", job_id=launched.a, expires_at=int(time.time()) + 600
    )
    assert platform.event(evil, launched.a).status_code == 404
    assert platform.call("GET", f"/v1/jobs/{launched.a}/datasets/d", evil).status_code == 404
    denied = platform.denials("evil", f"job:{launched.a}")
    assert [r["resource"] for r in denied] == [f"job/{launched.a}"] * 2


def test_an_expired_job_token_is_refused_and_audited(platform: Platform, launched: Launched) -> None:
    stale = platform.deps.config.job_tokens().job_token(
        tenant="acme", job_id=launched.a, expires_at=int(time.time()) - 60
    )
    r = platform.call("GET", f"/v1/jobs/{launched.a}/datasets/d", stale)
    assert r.status_code == 401 and "expired at" in r.text
    reasons = [x["reason"] for x in platform.denials("acme", f"job:{launched.a}")]
    assert any(reason.startswith("invalid token: expired at") for reason in reasons)


def test_a_finished_jobs_token_stops_working_and_is_audited(platform: Platform, launched: Launched) -> None:
    ana = platform.person("ana", "data-scientist")
    assert platform.call("POST", f"/v1/jobs/{launched.b}/cancel", ana).status_code == 200
    token = Launched.token(platform, launched.b)
    r = platform.event(token, launched.b)
    assert r.status_code == 403 and "stopped working when it ended" in r.text
    assert platform.call("GET", f"/v1/jobs/{launched.b}/datasets/d", token).status_code == 403
    denied = platform.denials("acme", f"job:{launched.b}")
    assert [r["resource"] for r in denied] == [f"job/{launched.b}"] * 2
