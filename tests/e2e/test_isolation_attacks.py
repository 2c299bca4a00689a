"""Issue 9's attacks on the whole local platform, as an anonymous local process, a hostile
tenant and a curious local user would make them: each passes only while the defence holds."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import httpx
import pytest

from sdk.contracts.specs import ProjectSpec, TaskSpec
from tests.e2e.conftest import LocalPlatform
from tests.e2e.test_training_lifecycle import scripted, wait_for

pytestmark = pytest.mark.e2e


def forged_report(job_id: str, tenant: str, kind: str = "succeeded") -> dict[str, str]:
    """What an attacker sends to mark another tenant's job: a binary CloudEvent naming the victim."""
    return {
        "ce-specversion": "1.0",
        "ce-id": uuid.uuid4().hex,
        "ce-type": f"io.trainyard.job.{kind}",
        "ce-source": "attacker",
        "ce-subject": job_id,
        "ce-trainyardtenant": tenant,
        "content-type": "application/json",
    }


def test_internal_delivery_is_not_reachable_on_the_public_port(local_platform: LocalPlatform) -> None:
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="victim", purpose="issue 9", datasets=[])).project_id
        created = c.create_task(project, TaskSpec(name="victim", command=scripted("--forever", "--sleep", "0.2")))
        job = created.job.job_id
        try:
            for path in ("/fn/report/", "/broker/", "/fn/create/", "/broker/dead-letters"):
                answer = httpx.post(
                    local_platform.url + path,
                    headers=forged_report(job, "demo"),
                    content=json.dumps({"metrics": {"accuracy": 1.0}}),
                )
                assert answer.status_code in (404, 405), (path, answer.status_code, answer.text)
            # the ingress takes no trainer event without the job's own token
            ingress = httpx.post(
                local_platform.url + "/v1/events", headers=forged_report(job, "demo"), content=b'{"metrics": {}}'
            )
            assert ingress.status_code == 401
            assert c.get_job(job).state in ("QUEUED", "LAUNCHING", "RUNNING")
        finally:
            c.cancel_job(job)
            wait_for(c, created.task.task_id)


def test_an_invalid_task_request_is_the_callers_400_not_a_dead_letter(local_platform: LocalPlatform) -> None:
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="events", purpose="issue 9", datasets=[])).project_id

    def request(task: dict[str, object], project_id: str = project) -> httpx.Response:
        event = {
            "specversion": "1.0",
            "id": uuid.uuid4().hex,
            "type": "io.trainyard.task.requested",
            "source": "other-system",
            "data": {"project_id": project_id, "task": task},
        }
        return httpx.post(
            local_platform.url + "/v1/events",
            content=json.dumps(event),
            headers={"Authorization": f"Bearer {local_platform.token}", "content-type": "application/cloudevents+json"},
        )

    bad = request({"name": "no command", "resources": {"cpu": -1}})
    assert bad.status_code == 400, bad.text
    fields = {p["field"] for p in bad.json()["error"]["problems"]}
    assert "data.task.resources.cpu" in fields
    assert request({"name": "t", "command": ["true"]}, project_id="p-000000000000").status_code == 404
    assert request({"name": "t", "command": ["true"]}).status_code == 202


def test_a_callers_request_id_cannot_smuggle_text_into_the_audit_trail(local_platform: LocalPlatform) -> None:
    forged = '", "actor": "admin@demo", "x": "' + "A" * 300
    answer = httpx.get(
        local_platform.url + "/v1/projects",
        headers={"Authorization": f"Bearer {local_platform.token}", "x-request-id": forged},
    )
    assert answer.status_code == 200
    rid = answer.headers["x-request-id"]
    assert rid != forged and len(rid) == 32 and rid.isalnum()
    kept = httpx.get(
        local_platform.url + "/v1/projects",
        headers={"Authorization": f"Bearer {local_platform.token}", "x-request-id": "ci-run:42"},
    )
    assert kept.headers["x-request-id"] == "ci-run:42"


def test_other_local_users_can_read_nothing_the_platform_writes(local_platform: LocalPlatform) -> None:
    state = local_platform.state
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("secret", "event.key", "s3-credentials.json", "local.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    keys = json.loads((state / "s3-credentials.json").read_text())
    assert keys["access_key_id"] not in ("local", "testing") and len(keys["secret_access_key"]) >= 32
    # Not the platform's: the harness's own log and test data, the public pretrained embedding
    # table (0644 on purpose), and SeaweedFS's volume-info files (`*.vif`: format version and
    # sizes, no object data; SeaweedFS writes them 0644 itself). All behind 0700 directories.
    theirs = {state / "platform.log"}
    written = [
        p
        for p in Path(state).rglob("*")
        if p.is_file()
        and p not in theirs
        and p.suffix not in (".csv", ".vif")
        and "embeddings" not in p.relative_to(state).parts
    ]
    vif = list(Path(state).rglob("*.vif"))
    assert all(b'"files"' in p.read_bytes() and len(p.read_bytes()) < 4096 for p in vif)  # metadata only
    dirs = [p for p in Path(state).rglob("*") if p.is_dir() and "embeddings" not in p.relative_to(state).parts]
    assert [str(d) for d in dirs if stat.S_IMODE(d.stat().st_mode) & 0o077] == []  # nobody else can traverse
    loose = [str(p) for p in written if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert loose == []  # umask 077: job logs (customer data), the predictor's log and cache included


def test_no_pre_signed_url_reaches_the_platforms_log(local_platform: LocalPlatform) -> None:
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="logs", purpose="issue 9", datasets=["d"])).project_id
        data = local_platform.state / "redaction.csv"
        data.write_text("text,label\nsecret row,x\n")
        c.upload_dataset(project, "d", data)  # the platform signs a URL; moto logs the PUT it receives
    log = local_platform.log()
    assert "X-Amz-Signature" not in log and "X-Amz-Credential" not in log
