"""InMemoryBlobStore's pre-signed URLs refuse what S3 would refuse (no server needed).

Beside test_s3_blobs.py because it checks the fake against the adapter's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from functions.blobs.memory import InMemoryBlobStore
from sdk.contracts.errors import Forbidden
from tests.support.builders import FakeClock

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> InMemoryBlobStore:
    return InMemoryBlobStore(clock=clock)


def test_a_presigned_put_then_get_round_trip(store: InMemoryBlobStore, clock: FakeClock) -> None:
    upload = store.presign_put("tenant-a/data set.csv", expires_s=60)

    store.put_presigned(upload, b"a,b\n", content_type="text/csv")

    assert store.get("tenant-a/data set.csv") == b"a,b\n"
    assert store.content_type("tenant-a/data set.csv") == "text/csv"
    download = store.presign_get("tenant-a/data set.csv", expires_s=30)
    assert store.resolve_presigned(download) == ("get", "tenant-a/data set.csv")
    assert (
        download == f"memory://tenant-a/data%20set.csv?op=get&expires={int(clock.now().timestamp()) + 30}"
        f"&sig={download.rsplit('=', 1)[1]}"
    )
    assert store.get_presigned(download) == b"a,b\n"


def test_an_expired_url_is_refused(store: InMemoryBlobStore, clock: FakeClock) -> None:
    store.put("k", b"v")
    url = store.presign_get("k", expires_s=60)
    clock.advance(60)
    assert store.get_presigned(url) == b"v"  # valid through its last second

    clock.advance(1)

    with pytest.raises(Forbidden, match="expired"):
        store.get_presigned(url)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("memory://k?", "memory://other?"),  # another key
        lambda url: url.replace("op=get", "op=put"),  # another operation
        lambda url: url.replace("expires=", "expires=9"),  # a later expiry
        lambda url: url.split("&sig=")[0],  # unsigned
        lambda url: "https://example.com/k",  # not ours at all
    ],
    ids=["key", "op", "expiry", "unsigned", "foreign"],
)
def test_a_tampered_url_is_refused(store: InMemoryBlobStore, tamper: Callable[[str], str]) -> None:
    store.put("k", b"v")
    store.put("other", b"secret")
    url = store.presign_get("k", expires_s=60)

    with pytest.raises(Forbidden):
        store.get_presigned(tamper(url))


def test_urls_are_bound_to_their_operation_and_their_store(store: InMemoryBlobStore, clock: FakeClock) -> None:
    upload = store.presign_put("k", expires_s=60)

    with pytest.raises(Forbidden, match="not get"):
        store.get_presigned(upload)
    with pytest.raises(Forbidden):
        InMemoryBlobStore(clock=clock).put_presigned(upload, b"v")
    assert store.keys() == []
