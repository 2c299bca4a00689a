from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from predictor.sidecar.resolver import CachedResolver, PlatformResolver
from sdk.contracts.errors import NotFound, PermanentError, TemporaryError, Unauthenticated

SHA = "f" * 64


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakePlatform:
    """An httpx transport answering resolve calls like the platform; records them."""

    def __init__(self) -> None:
        self.models = {"m1": "acme", "m2": "globex"}
        self.calls: list[tuple[str, str]] = []
        self.status: int | None = None
        self.gate: asyncio.Event | None = None

    async def handle(self, request: httpx.Request) -> httpx.Response:
        model_id = request.url.path.split("/")[3]
        self.calls.append((model_id, request.headers["authorization"]))
        if self.gate is not None:
            await self.gate.wait()
        if self.status is not None:
            return httpx.Response(self.status, text="nope")
        tenant = self.models.get(model_id)
        if tenant is None:
            return httpx.Response(404, json={"message": "not found"})
        return httpx.Response(
            200,
            json={
                "modelId": model_id,
                "tenant": tenant,
                "sha256": SHA,
                "sizeBytes": 10,
                "kind": "intent",
                "labels": ["a", "b"],
                "url": "http://s3/x",
                "expiresIn": 300,
            },
        )


def resolver(platform: FakePlatform, clock: Clock) -> CachedResolver:
    client = httpx.AsyncClient(base_url="http://platform", transport=httpx.MockTransport(platform.handle))
    return CachedResolver(PlatformResolver(client, clock=clock), ttl_s=30, negative_ttl_s=2, max_entries=2, clock=clock)


def test_resolution_is_cached_for_its_ttl() -> None:
    async def scenario() -> None:
        platform, clock = FakePlatform(), Clock()
        r = resolver(platform, clock)
        assert r.cached(tenant="acme", model_id="m1") is None
        res = await r.resolve(tenant="acme", model_id="m1", authorization="Bearer t")
        assert (res.sha256, res.kind, res.labels) == (SHA, "intent", ("a", "b"))
        assert platform.calls == [("m1", "Bearer t")]  # the caller's credentials are forwarded
        clock.now += 29
        assert r.cached(tenant="acme", model_id="m1") == res
        clock.now += 2
        assert r.cached(tenant="acme", model_id="m1") is None

    asyncio.run(scenario())


def test_not_found_is_remembered_briefly() -> None:
    async def scenario() -> None:
        platform, clock = FakePlatform(), Clock()
        r = resolver(platform, clock)
        with pytest.raises(NotFound):
            await r.resolve(tenant="acme", model_id="nope", authorization="Bearer t")
        with pytest.raises(NotFound):
            r.cached(tenant="acme", model_id="nope")
        clock.now += 3
        assert r.cached(tenant="acme", model_id="nope") is None

    asyncio.run(scenario())


def test_another_tenants_model_is_not_found_even_if_the_platform_answers() -> None:
    async def scenario() -> None:
        r = resolver(FakePlatform(), Clock())
        with pytest.raises(NotFound):
            await r.resolve(tenant="acme", model_id="m2", authorization="Bearer t")
        assert r.cached(tenant="acme", model_id="m2") is None

    asyncio.run(scenario())


def test_concurrent_misses_share_one_platform_call() -> None:
    async def scenario() -> None:
        platform, clock = FakePlatform(), Clock()
        platform.gate = asyncio.Event()
        r = resolver(platform, clock)
        waiters = [
            asyncio.create_task(r.resolve(tenant="acme", model_id="m1", authorization="Bearer t")) for _ in range(8)
        ]
        await asyncio.sleep(0.01)
        platform.gate.set()
        assert len({w.sha256 for w in await asyncio.gather(*waiters)}) == 1
        assert len(platform.calls) == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("status", "error"), [(401, Unauthenticated), (503, TemporaryError), (429, TemporaryError), (400, PermanentError)]
)
def test_platform_statuses_are_translated(status: int, error: type[Exception]) -> None:
    async def scenario() -> None:
        platform = FakePlatform()
        platform.status = status
        with pytest.raises(error):
            await resolver(platform, Clock()).resolve(tenant="acme", model_id="m1", authorization="Bearer t")

    asyncio.run(scenario())


def test_unreachable_platform_and_bad_bodies() -> None:
    async def scenario() -> None:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        down = PlatformResolver(httpx.AsyncClient(base_url="http://p", transport=httpx.MockTransport(refuse)))
        with pytest.raises(TemporaryError, match="unreachable"):
            await down.resolve("m1", authorization="Bearer t")

        def garbage(request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=json.dumps({"modelId": "m1"}).encode())

        broken = PlatformResolver(httpx.AsyncClient(base_url="http://p", transport=httpx.MockTransport(garbage)))
        with pytest.raises(PermanentError, match="invalid resolution"):
            await broken.resolve("m1", authorization="Bearer t")

    asyncio.run(scenario())
