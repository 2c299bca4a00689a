"""A kmock Kubernetes emulator on 127.0.0.1 (its own event loop, in a thread) and a real client.

kmock stores objects and serves CRUD, but it is not an API server: it assigns no uid, runs
no controllers and ignores label selectors. `ApiServer` adds uids and equality label
selectors; tests play the controllers themselves by creating pods and patching statuses
through the same HTTP API the adapter uses.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kmock
from kubernetes import client as k8s

from sdk.auth import certs

NAMESPACE = "trainyard-jobs"
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class ApiServer(kmock.KubernetesEmulator):
    """The emulator plus uid/creationTimestamp on create and label selectors on list."""

    async def _handle(self, request: kmock.Request) -> Any:
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            meta = request.data.setdefault("metadata", {})
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return await super()._handle(request)

    async def _serve_list(self, request: kmock.Request) -> Any:
        listing: Any = await super()._serve_list(request)
        wanted = _parse_selector(request.params.get("labelSelector", ""))
        listing["items"] = [item for item in listing["items"] if _matches(item, wanted)]
        return listing


def _parse_selector(text: str) -> dict[str, str]:
    pairs = [part.split("=", 1) for part in text.split(",") if part]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"only equality selectors are emulated: {text!r}")
    return dict(pairs)


def _matches(item: dict[str, Any], wanted: dict[str, str]) -> bool:
    have = item.get("metadata", {}).get("labels") or {}
    return all(have.get(key) == value for key, value in wanted.items())


class Cluster:
    """The running emulator, its URL, and the pod logs it serves ((pod, container) -> bytes)."""

    def __init__(self, api: ApiServer, url: str) -> None:
        self.api = api
        self.url = url
        self.logs: dict[tuple[str, str], bytes] = {}
        self.client = k8s.ApiClient(k8s.Configuration(host=url))
        # Typed Any: tests post raw dicts, which the client validates but its stubs do not allow.
        self.core: Any = k8s.CoreV1Api(self.client)
        self.batch: Any = k8s.BatchV1Api(self.client)

    def objects(self, resource: str) -> dict[str, dict[str, Any]]:
        """Live objects of a resource in the jobs namespace, by name (what the server stores)."""
        return {
            key[2]: obj.raw
            for key, obj in list(self.api.objects.items())
            if key[0] == kmock.resource(resource) and key[1] == NAMESPACE and not obj.deleted
        }

    def requests(self, method: str, resource: str) -> list[kmock.Request]:
        return list(self.api[method, kmock.resource(resource)])


@contextmanager
def running() -> Iterator[Cluster]:
    """Serve an ApiServer on 127.0.0.1 from a thread until the block ends."""
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def serve() -> None:
        async with ApiServer() as api, kmock.Server(api) as server:
            for resource in ("batch/v1/jobs", "v1/pods", "v1/secrets"):
                api.resources[resource] = kmock.ResourceInfo(namespaced=True)
            box.update(cluster=Cluster(api, str(server.url).rstrip("/")), stop=asyncio.Event())
            logs = box["cluster"].logs
            api["get", kmock.resource("v1/pods"), kmock.subresource("log")] << (
                lambda req: logs[(req.name, req.params.get("container", ""))]
            )
            ready.set()
            await box["stop"].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(timeout=60):  # generous: a loaded 2-core CI machine imports aiohttp slowly
        raise RuntimeError("the kmock emulator did not start")
    try:
        yield box["cluster"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)
        box["cluster"].client.close()
        loop.close()


@contextmanager
def in_cluster(cluster: Cluster, token_dir: Path, *, token: str = "in-cluster-token") -> Iterator[dict[str, str]]:
    """What the kubelet gives a pod whose ServiceAccount token is mounted: `token` and `ca.crt` in
    `token_dir`, and the API server's address in KUBERNETES_SERVICE_HOST/PORT (the returned env).

    In-cluster clients speak only https, so a TLS front (a certificate for 127.0.0.1 from a CA
    made here, the one in ca.crt) forwards each connection to the emulator's plain HTTP port."""
    ca = certs.new_ca("emulated cluster CA")
    server = certs.issue(ca, "kubernetes", sans=["127.0.0.1"], usages=("server",))
    token_dir.mkdir(parents=True, exist_ok=True)
    (token_dir / "token").write_text(token)
    (token_dir / "ca.crt").write_bytes(ca.cert_pem())
    (token_dir / "tls.crt").write_bytes(server.cert_pem())
    (token_dir / "tls.key").write_bytes(server.key_pem())
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(token_dir / "tls.crt", token_dir / "tls.key")
    (token_dir / "tls.key").unlink()
    upstream = urlsplit(cluster.url)
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    writers: set[asyncio.StreamWriter] = set()

    async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(upstream.hostname, upstream.port)
        writers.update((writer, up_writer))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def serve() -> None:
        front = await asyncio.start_server(forward, "127.0.0.1", 0, ssl=context)
        box.update(port=front.sockets[0].getsockname()[1], stop=asyncio.Event())
        ready.set()
        async with front:
            await box["stop"].wait()
            for writer in writers:  # kept-alive client connections: no TLS goodbye, the client has gone
                writer.transport.abort()
            await asyncio.sleep(0.05)  # let the aborted transports run their connection_lost

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(timeout=10):
        raise RuntimeError("the TLS front of the emulator did not start")
    try:
        yield {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(box["port"])}
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(timeout=10)
        loop.close()
