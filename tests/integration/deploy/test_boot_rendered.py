"""Every function Service of every overlay boots under exactly the environment its rendered
manifest gives it, and answers one real request.

For each Knative Service built from the functions image, the test renders the overlay
(`kubectl kustomize`), then serves its FUNCTION_TARGET in this process (`functions.serve.app_for`,
uvicorn on 127.0.0.1) with an environment made only of what the pod would get:

* the ConfigMap and Secret its `envFrom` names (a Secret only where the manifest mounts it;
  this test plays the operator who created it out of band) and its literal `env`;
* its Secret volumes, written to a temporary directory standing in for the mount path (env
  values naming the mount path are rewritten to it, nothing else);
* a ServiceAccount token and CA only where the ServiceAccount automounts one, served by a kmock
  API server behind TLS (KUBERNETES_SERVICE_HOST/PORT, as the kubelet injects them); where it
  does not, the token directory does not exist;
* what the cloud gives a pod: IRSA credentials and the AWS endpoints, here a moto server
  (AWS_* variables only), with the tables terraform would create under the overlay's prefix.

Nothing else: no TRAINYARD_* variable is added or changed by the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from functions import eventauth, serve
from functions.store.tables import create_all, make_tables
from sdk.auth import signing, tokens
from sdk.contracts.events import EventType
from tests.integration.kubernetes.emulator import in_cluster, running
from tests.support.servers import serve as serving
from tests.unit.deploy.knative_objects import OVERLAYS, Obj, by_kind, knative_services, rendered

pytestmark = pytest.mark.integration

SECRET = "boot-test-" + "0123456789abcdef" * 2
EVENT_KEY = "boot-event-key-" + "fedcba9876543210" * 2
JOB_KEY = signing.new_key_pem()
# What an operator creates out of band (README, Deploy to a cluster): overlay -> name -> key -> value.
# prod's trainyard-secrets has no HS256 token secret: a function that needed one would not boot.
SECRETS: dict[str, dict[str, dict[str, bytes]]] = {
    "dev": {
        "trainyard-secrets": {"TRAINYARD_TOKEN_SECRET": SECRET.encode(), "TRAINYARD_EVENT_KEY": EVENT_KEY.encode()}
    },
    "prod": {
        "trainyard-secrets": {"TRAINYARD_EVENT_KEY": EVENT_KEY.encode()},
        "trainyard-job-key": {"job-key.pem": JOB_KEY},
    },
}
TOKEN_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def function_services() -> list[tuple[str, str]]:
    return [
        (overlay, name)
        for overlay in OVERLAYS
        for name, service in sorted(knative_services(rendered(f"overlays/{overlay}")).items())
        if _target(service) is not None
    ]


def _container(service: Obj) -> Obj:
    (container,) = service["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _target(service: Obj) -> str | None:
    containers = service["spec"]["template"]["spec"]["containers"]
    envs = [e for c in containers for e in c.get("env", []) if e["name"] == "FUNCTION_TARGET"]
    return str(envs[0]["value"]) if envs else None


def pod_env(
    objects: tuple[Obj, ...], service: Obj, mounts: Path, secrets: dict[str, dict[str, bytes]]
) -> dict[str, str]:
    """The container's environment as the kubelet would build it, with Secret volumes written
    under `mounts` (and env values naming their mount paths rewritten to match)."""
    container, spec = _container(service), service["spec"]["template"]["spec"]
    config_maps, env = by_kind(objects, "ConfigMap"), {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        else:
            env.update({k: v.decode() for k, v in secrets[source["secretRef"]["name"]].items()})
    for entry in container.get("env", []):
        assert "value" in entry, f"{entry['name']}: only literal values are emulated"
        env[entry["name"]] = entry["value"]
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        local = mounts / mount["name"]
        local.mkdir(parents=True)
        if "secret" in volume:
            for key, value in secrets[volume["secret"]["secretName"]].items():
                (local / key).write_bytes(value)
        env = {k: v.replace(mount["mountPath"], str(local)) for k, v in env.items()}
    return env


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with running() as emulated:
        yield emulated


_created: set[tuple[str, str, str]] = set()


def tables_for(moto: str, *, prefix: str, region: str) -> None:
    """The overlay's tables, once per moto server (no test here writes to them)."""
    if (moto, prefix, region) not in _created:
        create_all(make_tables(prefix=prefix, host=moto, region=region))
        _created.add((moto, prefix, region))


@contextlib.contextmanager
def pod(
    overlay: str, name: str, *, moto: str, cluster: Any, root: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, dict[str, str]]]:
    """The Service's function served with its pod's environment; yields (url, env)."""
    objects = rendered(f"overlays/{overlay}")
    service = knative_services(objects)[name]
    env = pod_env(objects, service, root / "mounts", SECRETS[overlay])
    account = by_kind(objects, "ServiceAccount")[service["spec"]["template"]["spec"]["serviceAccountName"]]
    for key in list(os.environ):
        if key.startswith(("TRAINYARD_", "FUNCTION_", "KUBERNETES_", "AWS_ENDPOINT_URL")):
            monkeypatch.delenv(key)
    # The kubelet mounts the token at TOKEN_MOUNT only where the ServiceAccount automounts it; the
    # setting is pointed at this test's stand-in for that path, which exists only then.
    token_dir = root / "serviceaccount"
    env["TRAINYARD_KUBERNETES_TOKEN_DIR"] = str(token_dir)
    cloud = {"AWS_ENDPOINT_URL_DYNAMODB": moto, "AWS_ENDPOINT_URL_S3": moto}
    tables_for(moto, prefix=env["TRAINYARD_TABLE_PREFIX"], region=env["TRAINYARD_REGION"])
    with contextlib.ExitStack() as stack:
        if account.get("automountServiceAccountToken"):
            env.update(stack.enter_context(in_cluster(cluster, token_dir)))
        for key, value in {**env, **cloud}.items():
            monkeypatch.setenv(key, value)
        url = stack.enter_context(serving(serve.app_for(env["FUNCTION_TARGET"])))
        yield url, env


def cloudevent(kind: str, data: dict[str, object], key: str | None, **extensions: str) -> tuple[dict[str, str], bytes]:
    """A binary-mode CloudEvent, signed as the platform signs what it publishes when `key` is given."""
    attributes: dict[str, object] = {"id": uuid.uuid4().hex, "source": "boot-test", "type": kind, **extensions}
    if key is not None:
        attributes[eventauth.SIGNATURE_EXTENSION] = eventauth.signature(key.encode(), attributes, data)
    headers = {
        "ce-specversion": "1.0",
        "content-type": "application/json",
        **{f"ce-{k}": str(v) for k, v in attributes.items()},
    }
    return headers, json.dumps(data).encode()


EVENTS: dict[str, tuple[str, dict[str, object], dict[str, str]]] = {
    "create": (
        EventType.TASK_REQUESTED,
        {"tenant": "acme", "project_id": "p-missing", "task": {"name": "t", "command": ["python", "train.py"]}},
        {},
    ),
    "launch": (EventType.JOB_CREATED, {"tenant": "acme", "job_id": "j-missing"}, {}),
    "report": (EventType.JOB_RUNNING, {}, {"subject": "j-missing", "trainyardtenant": "acme"}),
    "cleanup": (EventType.JOB_FINISHED, {"tenant": "acme", "job_id": "j-missing", "state": "SUCCEEDED"}, {}),
    "sweep": (EventType.PING, {}, {}),
    "dead_letter": ("io.trainyard.job.epoch", {"epoch": 1}, {"subject": "j-1"}),
}


def api_request(url: str, env: dict[str, str]) -> httpx.Response:
    """An authenticated read: a user token in HS256 mode; in production (JWKS) a job token signed
    with the mounted platform key, as a trainer would present it."""
    if "TRAINYARD_TOKEN_SECRET" in env:
        token = tokens.user_token(tenant="acme", sub="boot@acme", secret=env["TRAINYARD_TOKEN_SECRET"])
        return httpx.get(f"{url}/v1/projects", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    signer = signing.PlatformSigner.from_pem_file(
        Path(env["TRAINYARD_JOB_TOKEN_KEY_FILE"]), issuer=signing.JOB_ISSUER, audience=tokens.AUDIENCE
    )
    token = signer.job_token(tenant="acme", job_id="j-missing", expires_at=int(time.time()) + 600)
    return httpx.get(f"{url}/v1/jobs/j-missing/datasets/d", headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.mark.parametrize(("overlay", "name"), function_services())
def test_every_function_boots_under_its_rendered_env(
    overlay: str, name: str, moto_endpoint: str, cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pod(overlay, name, moto=moto_endpoint, cluster=cluster, root=tmp_path, monkeypatch=monkeypatch) as (url, env):
        target = env["FUNCTION_TARGET"]
        if target == "api":
            assert httpx.get(f"{url}/healthz", timeout=30).status_code == 200
            assert "trainyard_events_handled_total" in httpx.get(f"{url}/metrics", timeout=30).text
            jwks = httpx.get(f"{url}/v1/.well-known/jwks.json", timeout=30)
            assert jwks.status_code == 200
            response = api_request(url, env)
            expected = 200 if "TRAINYARD_TOKEN_SECRET" in env else 404
            assert response.status_code == expected, response.text
            return
        kind, data, extensions = EVENTS[target]
        headers, body = cloudevent(kind, data, EVENT_KEY, **extensions)
        response = httpx.post(url, headers=headers, content=body, timeout=60)
        assert response.status_code in (200, 204), (target, response.status_code, response.text)
        if "tenant" in data or "trainyardtenant" in extensions:  # the deployed key is in force
            headers, body = cloudevent(kind, data, None, **extensions)
            assert httpx.post(url, headers=headers, content=body, timeout=60).status_code == 401
        scraped = httpx.get(f"{url}/metrics", timeout=30)
        assert scraped.status_code == 200
        line = next(
            line
            for line in scraped.text.splitlines()
            if line.startswith("trainyard_events_handled_total{") and f'function="{target}"' in line
        )
        assert float(line.rsplit(" ", 1)[1]) >= 1


def test_every_function_service_is_covered() -> None:
    covered = {(overlay, name) for overlay, name in function_services()}
    assert {name for _, name in covered} == {"api", "create", "launch", "report", "cleanup", "sweep", "dead-letter"}
    assert {overlay for overlay, _ in covered} == set(OVERLAYS)
