"""Dataset versions and validation over HTTP, on DynamoDB and S3 (moto): uploads through the
pre-signed URLs make versions, a validation needs the validate grant, the job reads exactly
its version, its report lands on that version only, and the trainer's URL follows the pin."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from functions.core import launching, reporting
from sdk.auth import tokens
from sdk.contracts import events as ev
from sdk.contracts.errors import ValidationError
from sdk.contracts.events import EventType
from sdk.validation import intent_csv
from tests.integration.functions.test_governance_http import ANA, BOSS, EVE, SECRET, Platform, platform, project

pytestmark = pytest.mark.integration
__all__ = ["platform"]  # the fixture, shared

GOOD = b"text,label\n" + b"".join(f"hi {i},greet\nbye {i},leave\n".encode() for i in range(6))
BAD = b"text,label\nhi,greet\n,leave\n"


def upload(p: Platform, pid: str, data: bytes) -> int:
    grant = p.call("POST", f"/v1/projects/{pid}/datasets", ANA, json={"name": "d", "op": "upload"}).json()
    assert httpx.put(grant["url"], content=data, timeout=10).status_code == 200
    return int(grant["version"])


def approve(p: Platform, pid: str, action: str) -> None:
    body = {"datasets": ["d"], "action": action, "project": pid, "purpose": "checks", "days": 1}
    aid = p.call("POST", "/v1/approvals", ANA, json=body).json()["approval_id"]
    assert p.call("POST", f"/v1/approvals/{aid}/approve", BOSS).status_code == 200


def job_headers(job_id: str) -> dict[str, str]:
    token = tokens.job_token(tenant="acme", job_id=job_id, secret=SECRET, expires_at=int(time.time()) + 60)
    return {"Authorization": f"Bearer {token}"}


def test_validation_over_http(platform: Platform) -> None:
    p = platform
    pid = project(p)
    assert [upload(p, pid, BAD), upload(p, pid, GOOD)] == [1, 2]
    refused = p.call("POST", f"/v1/projects/{pid}/datasets/d/validate", ANA, json={"version": 1})
    assert refused.status_code == 403 and "no active validate grant" in refused.text
    approve(p, pid, "validate")
    created = p.call("POST", f"/v1/projects/{pid}/datasets/d/validate", ANA, json={"version": 1})
    assert created.status_code == 201, created.text
    job_id = created.json()["job"]["job_id"]
    assert created.json()["task"]["spec"]["retry"]["max_retries"] == 0
    [launched] = launching.admit_pool(p.deps, "default")
    assert p.runtime.launched[job_id].command == list(p.deps.config.validator_command)
    url = p.call("GET", f"/v1/jobs/{job_id}/datasets/d", job_headers(job_id)).json()
    assert url["version"] == 1 and httpx.get(url["url"], timeout=10).content == BAD

    def report(event_id: str, payload: ev._Payload, kind: EventType) -> None:
        reporting.report(p.deps, tenant="acme", job_id=job_id, event_type=kind, event_id=event_id, payload=payload)

    report("r", ev.JobRunning(), EventType.JOB_RUNNING)
    forged = intent_csv.validate(GOOD, dataset="d", version=2)
    with pytest.raises(ValidationError, match="cannot report on d v2"):
        report("s1", ev.JobSucceeded(report=forged), EventType.JOB_SUCCEEDED)
    report("s2", ev.JobSucceeded(report=intent_csv.validate(BAD, dataset="d", version=1)), EventType.JOB_SUCCEEDED)

    shown = p.call("GET", f"/v1/projects/{pid}/datasets/d", ANA).json()
    assert [(v["version"], v["status"]) for v in shown["versions"]] == [(1, "failed"), (2, "unvalidated")]
    digests = [(v["size_bytes"], v["sha256"]) for v in shown["versions"]]
    assert digests == [(len(BAD), hashlib.sha256(BAD).hexdigest()), (len(GOOD), hashlib.sha256(GOOD).hexdigest())]
    assert shown["last_validation"]["validation"]["job_id"] == launched.job_id
    assert {f["code"] for f in shown["versions"][0]["validation"]["findings"]} >= {"empty_text"}
    assert p.call("GET", f"/v1/projects/{pid}/datasets/d", EVE).status_code == 404

    approve(p, pid, "train")
    strict = {"name": "s", "command": ["x"], "datasets": ["d"], "require_validated": True}
    answer = p.call("POST", f"/v1/projects/{pid}/tasks", ANA, json=strict)
    assert answer.status_code == 400 and answer.json()["error"]["problems"][0]["field"] == "dataset_versions.d"
    pinned = p.call("POST", f"/v1/projects/{pid}/tasks", ANA, json={**strict, "require_validated": False})
    assert pinned.json()["task"]["spec"]["dataset_versions"] == {"d": 2}  # the latest, fixed at creation
