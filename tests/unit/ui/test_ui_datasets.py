"""The project page's dataset versions over the real API app on fakes: size, sha256 and
validation status of each version, the last validation's findings (escaped, the first 20 and
a count of the rest), the Validate button (CSRF, the API's validate grant and role checks, its
task), and another tenant's project answering not found."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.core import access, launching, reporting
from functions.domain.approvals import GrantAction
from functions.domain.model import Project
from functions.ui.app import UiOptions
from sdk.contracts import events as ev
from sdk.contracts.validation import Finding, Severity, ValidationReport
from tests.support.harness import Harness, harness, person
from tests.unit.ui.test_ui_pages import CODE, PEOPLE, create_project, csrf_of, signed_in

ANA = person("ana@acme")
GOOD = b"text,label\nhello,greet\nbye,leave\n"
BAD = b"text,label\n,greet\n"
HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def h() -> Harness:
    return harness(slots=4, tenant_cap=4)


@pytest.fixture
def app(h: Harness) -> object:
    return create_app(h.deps, ui=UiOptions(dev_code=CODE, dev_tokens=PEOPLE))


@pytest.fixture
def dev(app: object) -> Iterator[TestClient]:
    with signed_in(app) as c:
        yield c


def upload(h: Harness, p: Project, data: bytes) -> int:
    grant = access.user_dataset_url(
        h.deps, tenant=p.tenant, project_id=p.project_id, name="intents", op="upload", actor=ANA
    )
    version = int(str(grant["version"]))
    h.deps.datasets.put(h.store.get_dataset_version(p.tenant, p.project_id, "intents", version).key, data)
    return version


def validated(h: Harness, p: Project, version: int, report: ValidationReport) -> str:
    """A validation task of `version` run to its end the way its job would; its task id."""
    task, _ = h.task(p, ANA, kind="validation", datasets=["intents"], command=[], dataset_versions={"intents": version})
    [launched] = launching.admit_pool(h.deps, "default")
    for kind, payload in (
        (ev.EventType.JOB_RUNNING, ev.JobRunning()),
        (ev.EventType.JOB_SUCCEEDED, ev.JobSucceeded(report=report)),
    ):
        h.clock.advance(1)
        reporting.report(h.deps, tenant="acme", job_id=launched.job_id, event_type=kind, event_id=kind, payload=payload)
    return task.task_id


def failing_report(version: int, errors: int) -> ValidationReport:
    findings = [
        Finding(code="empty_text", severity=Severity.ERROR, message=f"row {n}: {HOSTILE}", line=n + 1)
        for n in range(errors)
    ]
    findings.append(Finding(code="few_examples", severity=Severity.WARNING, message="label leave: 1 example"))
    return ValidationReport(
        dataset="intents",
        version=version,
        validator="intent-csv/1",
        passed=False,
        findings=findings,
        checked={"bytes": len(BAD), "errors": errors + 7, "warnings": 1},  # 7 more than the report kept
    )


def rows(page: str) -> dict[int, str]:
    """The versions table's rows by version number."""
    return {int(n): row for n, row in re.findall(r'<tr data-version="(\d+)">(.*?)</tr>', page, flags=re.S)}


def test_versions_and_findings_render_escaped_with_a_count_of_the_rest(h: Harness, dev: TestClient) -> None:
    pid = create_project(dev)
    p = h.store.get_project("acme", pid)
    h.grant(p, action=GrantAction.VALIDATE)
    assert [upload(h, p, BAD), upload(h, p, GOOD)] == [1, 2]
    access.user_dataset_url(
        h.deps, tenant="acme", project_id=pid, name="intents", op="upload", actor=ANA
    )  # v3: never sent
    task_id = validated(h, p, 1, failing_report(1, errors=24))
    page = dev.get(f"/ui/projects/{pid}")
    assert page.status_code == 200
    found = rows(page.text)
    assert sorted(found) == [1, 2, 3]
    v1, v2, v3 = found[1], found[2], found[3]
    assert "failed" in v1 and f"/ui/tasks/{task_id}" in v1 and "31 error(s), 1 warning(s)" in v1
    assert f'<code title="{hashlib.sha256(BAD).hexdigest()}">{hashlib.sha256(BAD).hexdigest()[:12]}</code>' in v1
    assert f"{len(BAD)} Bytes" in v1
    assert v1.count('<li class="finding-') == 20 and "and 12 more" in v1  # 25 kept, 32 counted: 20 shown
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in v1
    assert "not validated" in v2 and hashlib.sha256(GOOD).hexdigest()[:12] in v2 and "<details>" not in v2
    assert "not uploaded" in v3 and "disabled" in v3  # nothing to validate yet
    shown = dev.get(f"/ui/projects/{pid}").text
    assert "latest validated none" in shown


def test_validate_posts_with_the_csrf_token_and_shows_the_task_it_created(h: Harness, dev: TestClient) -> None:
    pid = create_project(dev)
    p = h.store.get_project("acme", pid)
    h.grant(p, action=GrantAction.VALIDATE)
    upload(h, p, BAD)
    upload(h, p, GOOD)
    csrf = csrf_of(dev.get(f"/ui/projects/{pid}").text)
    action = f"/ui/projects/{pid}/datasets/intents/validate"
    assert dev.post(action, data={"version": "1"}).status_code == 403  # no CSRF token
    assert dev.post(action, data={"version": "1", "csrf": "0" * 40}).status_code == 403
    other = csrf_of(signed_in(dev.app, "approver").get("/ui/approvals").text)  # another session's token
    assert dev.post(action, data={"version": "1", "csrf": other}).status_code == 403
    r = dev.post(action, data={"version": "1", "csrf": csrf}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    assert h.store.list_tasks("acme", pid) == []  # none of those started anything

    r = dev.post(action, data={"version": "1", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303, r.text
    [task] = h.store.list_tasks("acme", pid)
    assert task.spec.kind == "validation" and task.spec.dataset_versions == {"intents": 1}
    assert r.headers["location"] == f"/ui/projects/{pid}?validating={task.task_id}"
    page = dev.get(r.headers["location"]).text
    assert f'Validation started: task <a href="/ui/tasks/{task.task_id}">' in page
    found = rows(page)
    assert "running" in found[1] and f"/ui/tasks/{task.task_id}" in found[1] and "disabled" in found[1]
    assert "running" not in found[2] and "not validated" in found[2]
    assert dev.get(f"/ui/tasks/{task.task_id}").status_code == 200
    odd = dev.get(f"/ui/projects/{pid}", params={"validating": '"><script>x</script>'}).text
    assert 'id="validating"' not in odd and "<script>x" not in odd  # only a task id makes the banner

    [job] = launching.admit_pool(h.deps, "default")  # its job ends without a report: the validator broke
    for kind, payload in (
        (ev.EventType.JOB_RUNNING, ev.JobRunning()),
        (ev.EventType.JOB_FAILED, ev.JobFailed(reason="oom")),
    ):
        h.clock.advance(1)
        reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type=kind, event_id=kind, payload=payload)
    v1 = rows(dev.get(f"/ui/projects/{pid}").text)[1]
    assert "not validated" in v1 and "running" not in v1 and "last try ended FAILED" in v1 and "disabled" not in v1

    r = dev.post(action, data={"csrf": csrf}, follow_redirects=False)  # no version: the API's default, the latest
    assert r.status_code == 303
    pins = sorted(t.spec.dataset_versions["intents"] for t in h.store.list_tasks("acme", pid))
    assert pins == [1, 2]
    r = dev.post(action, data={"csrf": csrf, "version": "zero"})
    assert r.status_code == 400 and "<code>" in r.text and "version" in r.text  # the API names the field


def test_without_the_validate_grant_or_role_the_apis_refusal_is_shown(app: object, h: Harness, dev: TestClient) -> None:
    pid = create_project(dev)
    p = h.store.get_project("acme", pid)
    h.grant(p, action=GrantAction.TRAIN)  # a train grant is not a validate grant
    upload(h, p, GOOD)
    page = dev.get(f"/ui/projects/{pid}").text
    r = dev.post(f"/ui/projects/{pid}/datasets/intents/validate", data={"version": "1", "csrf": csrf_of(page)})
    assert r.status_code == 403 and "The platform said no" in r.text and "validate grant" in r.text
    assert h.store.list_tasks("acme", pid) == []

    approver = signed_in(app, "approver")  # may see the versions, may not validate
    page = approver.get(f"/ui/projects/{pid}").text
    assert 'data-version="1"' in page and "Validate</button>" not in page
    r = approver.post(f"/ui/projects/{pid}/datasets/intents/validate", data={"version": "1", "csrf": csrf_of(page)})
    assert r.status_code == 403 and 'data-status="403"' in r.text
    assert h.store.list_tasks("acme", pid) == []


def test_another_tenants_project_and_datasets_are_not_found(app: object, h: Harness, dev: TestClient) -> None:
    pid = create_project(dev)
    p = h.store.get_project("acme", pid)
    h.grant(p, action=GrantAction.VALIDATE)
    upload(h, p, GOOD)
    rival = signed_in(app, "rival")
    csrf = csrf_of(rival.get("/ui/projects").text)
    for target in (pid, "p-000000000000"):
        assert rival.get(f"/ui/projects/{target}").status_code == 404
        r = rival.post(f"/ui/projects/{target}/datasets/intents/validate", data={"version": "1", "csrf": csrf})
        assert r.status_code == 404 and "Not found" in r.text
    assert rival.post(f"/ui/projects/{pid}/datasets/..%2Fx/validate", data={"csrf": csrf}).status_code == 404
    assert h.store.list_tasks("acme", pid) == []
    assert hashlib.sha256(GOOD).hexdigest()[:12] in dev.get(f"/ui/projects/{pid}").text
