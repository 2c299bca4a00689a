"""Where JWKS keys come from: a URL (fetched on first use, cached, refetched for a new kid
at most every min_refresh_s, and after its TTL) and a file (re-read when it changed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sdk.auth.jwks import FileKeys, JWKSVerifier, KeySource, RemoteKeys
from sdk.contracts.errors import TemporaryError, Unauthenticated
from tests.unit.tokens.forge import IDP_ISSUER, Idp, claims

URL = "https://idp.test/jwks.json"


class Provider:
    """The identity provider's JWKS endpoint, as a fetch function; `down` makes it fail."""

    def __init__(self, idp: Idp) -> None:
        self.idp = idp
        self.fetches = 0
        self.down = False

    def __call__(self, url: str) -> Any:
        assert url == URL
        self.fetches += 1
        if self.down:
            raise TemporaryError("GET https://idp.test/jwks.json failed: connection refused")
        return self.idp.jwks()


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def idp() -> Idp:
    idp = Idp()
    idp.add("k1", "ES256")
    return idp


def verifier(keys: KeySource) -> JWKSVerifier:
    return JWKSVerifier(keys, issuer=IDP_ISSUER, audience="trainyard")


def remote(provider: Provider, clock: Monotonic, **kw: float) -> RemoteKeys:
    return RemoteKeys(
        URL, fetch=provider, clock=clock, ttl_s=kw.get("ttl_s", 300.0), min_refresh_s=kw.get("min_refresh_s", 10.0)
    )


def test_nothing_is_fetched_before_the_first_token(idp: Idp) -> None:
    provider = Provider(idp)
    remote(provider, Monotonic())
    assert provider.fetches == 0


def test_a_rotated_key_is_fetched_once_then_served_from_the_cache(idp: Idp) -> None:
    provider, clock = Provider(idp), Monotonic()
    v = verifier(remote(provider, clock))
    for _ in range(3):
        v.verify(idp.sign(claims(), kid="k1"))
    assert provider.fetches == 1
    idp.add("k2", "RS256")  # the provider rotates: a new key, new tokens name it
    clock.t += 11
    for _ in range(3):
        assert v.verify(idp.sign(claims(), kid="k2")).sub == "ana"
        v.verify(idp.sign(claims(), kid="k1"))  # the old key still verifies while published
    assert provider.fetches == 2


def test_unknown_kids_refetch_at_most_once_per_interval(idp: Idp) -> None:
    provider, clock = Provider(idp), Monotonic()
    v = verifier(remote(provider, clock, min_refresh_s=10))
    v.verify(idp.sign(claims(), kid="k1"))
    idp.add("made-up", "ES256", publish=False)
    clock.t += 10
    for _ in range(5):
        with pytest.raises(Unauthenticated, match="unknown key id 'made-up'"):
            v.verify(idp.sign(claims(), kid="made-up"))
    assert provider.fetches == 2  # one refetch for the first unknown kid, none for the flood
    clock.t += 10
    with pytest.raises(Unauthenticated):
        v.verify(idp.sign(claims(), kid="made-up"))
    assert provider.fetches == 3


def test_keys_are_refetched_after_their_ttl_so_a_retired_key_stops(idp: Idp) -> None:
    provider, clock = Provider(idp), Monotonic()
    v = verifier(remote(provider, clock, ttl_s=300))
    old = idp.sign(claims(), kid="k1")
    v.verify(old)
    idp.add("k2", "ES256")
    idp.retire("k1")
    clock.t += 299
    v.verify(old)  # still within the TTL
    clock.t += 1
    with pytest.raises(Unauthenticated, match="unknown key id 'k1'"):
        v.verify(old)
    assert provider.fetches == 2


def test_a_provider_outage_keeps_the_keys_held_and_retries_later(idp: Idp) -> None:
    provider, clock = Provider(idp), Monotonic()
    v = verifier(remote(provider, clock, ttl_s=300, min_refresh_s=10))
    token = idp.sign(claims(), kid="k1")
    v.verify(token)
    provider.down = True
    clock.t += 300
    v.verify(token)  # stale keys beat no keys
    v.verify(token)
    assert provider.fetches == 2
    provider.down = False
    clock.t += 10
    v.verify(token)
    assert provider.fetches == 3


def test_without_any_keys_a_token_cannot_be_judged_503_not_401(idp: Idp) -> None:
    provider, clock = Provider(idp), Monotonic()
    provider.down = True
    v = verifier(remote(provider, clock))
    for _ in range(2):
        with pytest.raises(TemporaryError, match=r"cannot be fetched: GET .* connection refused"):
            v.verify(idp.sign(claims(), kid="k1"))
    assert provider.fetches == 1  # failed fetches are retried at most every min_refresh_s too


def test_a_document_that_is_not_a_jwks_is_a_fetch_failure(idp: Idp) -> None:
    v = verifier(RemoteKeys(URL, fetch=lambda _: {"error": "oops"}))
    with pytest.raises(TemporaryError, match="not a JWKS document"):
        v.verify(idp.sign(claims(), kid="k1"))


def write(path: Path, idp: Idp, *, mtime_ns: int) -> None:
    path.write_text(json.dumps(idp.jwks()))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_a_jwks_file_is_reread_when_a_new_kid_appears_in_it(idp: Idp, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    write(path, idp, mtime_ns=1_000_000_000)
    v = verifier(FileKeys(path))
    v.verify(idp.sign(claims(), kid="k1"))
    idp.add("k2", "ES256")
    with pytest.raises(Unauthenticated, match="unknown key id 'k2'"):
        v.verify(idp.sign(claims(), kid="k2"))  # not in the file yet
    write(path, idp, mtime_ns=2_000_000_000)
    assert v.verify(idp.sign(claims(), kid="k2")).sub == "ana"


def test_an_unreadable_jwks_file_is_a_503_until_it_can_be_read(idp: Idp, tmp_path: Path) -> None:
    v = verifier(FileKeys(tmp_path / "missing.json"))
    with pytest.raises(TemporaryError, match=r"missing\.json cannot be read"):
        v.verify(idp.sign(claims(), kid="k1"))
    write(tmp_path / "missing.json", idp, mtime_ns=1_000_000_000)
    assert v.verify(idp.sign(claims(), kid="k1")).sub == "ana"
