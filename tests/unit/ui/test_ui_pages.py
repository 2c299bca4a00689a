"""The web UI over the real API app on fakes: sessions and CSRF, what each role sees, the
API's own words on refusals, and the same 404 for another tenant's ids as for made-up ones."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from functions.api.app import create_app
from functions.core import launching, reporting
from functions.ui.api import Api, dumps
from functions.ui.app import UiOptions
from functions.ui.pages.jobs import log_text, page_of_lines
from functions.ui.pages.projects import hyperparameters
from functions.ui.session import COOKIE, Me
from functions.ui.web import Ctx
from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts import events as ev
from tests.support.harness import SECRET, Harness, harness

CODE = "local-code-123"


def token(*roles: Role, tenant: str = "acme", sub: str = "ds@acme") -> str:
    return tokens.user_token(tenant=tenant, sub=sub, secret=SECRET, roles=roles or (Role.DATA_SCIENTIST,))


PEOPLE = {
    "dev": token(),
    "approver": token(Role.APPROVER, sub="boss@acme"),
    "admin": token(Role.ADMIN, sub="root@acme"),
    "rival": token(tenant="rival", sub="eve@rival"),
}


@pytest.fixture
def h() -> Harness:
    return harness()


@pytest.fixture
def app(h: Harness) -> object:
    return create_app(h.deps, ui=UiOptions(dev_code=CODE, dev_tokens=PEOPLE))


def signed_in(app: object, who: str = "dev") -> TestClient:
    c = TestClient(app)  # type: ignore[arg-type]
    r = c.get(f"/ui/login/dev?code={CODE}&as={who}", follow_redirects=False)
    assert r.status_code == 303
    return c


@pytest.fixture
def dev(app: object) -> Iterator[TestClient]:
    with signed_in(app) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def create_project(c: TestClient, name: str = "p1") -> str:
    csrf = csrf_of(c.get("/ui/projects").text)
    r = c.post(
        "/ui/projects",
        data={"csrf": csrf, "name": name, "purpose": "intent router", "datasets": "intents"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return str(r.headers["location"]).rsplit("/", 1)[-1]


def test_pages_need_a_session_and_the_session_cookie_is_httponly_strict(app: object) -> None:
    with TestClient(app) as c:  # type: ignore[arg-type]
        r = c.get("/ui/projects", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/login?next=/ui/projects"
        assert c.get("/ui/projects/p-1/comparison.json").status_code == 401
        r = c.get(f"/ui/login/dev?code={CODE}", follow_redirects=False)
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "Path=/ui" in cookie


def test_the_dev_login_needs_its_secret_code_and_exists_only_in_local_mode(h: Harness) -> None:
    with TestClient(create_app(h.deps, ui=UiOptions(dev_code=CODE, dev_tokens=PEOPLE))) as c:
        for bad in ("", "wrong", CODE + "x"):
            r = c.get(f"/ui/login/dev?code={bad}", follow_redirects=False)
            assert r.status_code == 404 and COOKIE not in r.headers.get("set-cookie", "")
        assert c.get(f"/ui/login/dev?code={CODE}&as=nobody", follow_redirects=False).status_code == 404
    with TestClient(create_app(h.deps)) as c:  # a cluster: no dev login at all
        assert c.get("/ui/login/dev?code=", follow_redirects=False).status_code == 404


def test_pasting_a_token_signs_in_only_when_the_api_accepts_it(app: object) -> None:
    with TestClient(app) as c:  # type: ignore[arg-type]
        r = c.post("/ui/login", data={"token": "not-a-jwt"}, follow_redirects=False)
        assert r.status_code == 401 and COOKIE not in r.headers.get("set-cookie", "")
        assert "401 unauthenticated" in r.text
        r = c.post("/ui/login", data={"token": PEOPLE["dev"], "next": "//evil.example/x"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/projects"  # never off-site
        r = c.post("/ui/login", data={"token": PEOPLE["dev"], "next": "/ui/models"}, follow_redirects=False)
        assert r.headers["location"] == "/ui/models"
        r = c.post("/ui/login", data={"token": PEOPLE["dev"]}, headers={"origin": "https://evil.example"})
        assert r.status_code == 403


def test_every_post_needs_the_csrf_token_of_the_session_and_the_same_origin(dev: TestClient, h: Harness) -> None:
    csrf = csrf_of(dev.get("/ui/projects").text)
    body = {"name": "p1", "purpose": "x", "datasets": "intents"}
    assert dev.post("/ui/projects", data=body).status_code == 403
    assert dev.post("/ui/projects", data={**body, "csrf": "0" * 40}).status_code == 403
    other = csrf_of(signed_in(dev.app, "admin").get("/ui/audit").text)  # another session's token
    assert dev.post("/ui/projects", data={**body, "csrf": other}).status_code == 403
    r = dev.post("/ui/projects", data={**body, "csrf": csrf}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403
    assert h.store.list_projects("acme") == []  # none of those did anything
    r = dev.post("/ui/projects", data=body, headers={"x-csrf-token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and len(h.store.list_projects("acme")) == 1
    assert dev.post("/ui/logout", data={}).status_code == 403


def test_pages_carry_a_strict_content_security_policy(dev: TestClient) -> None:
    r = dev.get("/ui/projects")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"


def test_api_refusals_are_shown_in_the_apis_own_words(dev: TestClient) -> None:
    csrf = csrf_of(dev.get("/ui/projects").text)
    r = dev.post("/ui/projects", data={"csrf": csrf, "name": "", "purpose": "x"})
    assert r.status_code == 400
    assert "<code>name</code>: String should have at least 1 character" in r.text
    pid = create_project(dev)
    r = dev.post(
        f"/ui/projects/{pid}/tasks", data={"csrf": csrf, "name": "t", "command": "python x.py", "hyperparameters": "lr"}
    )
    assert r.status_code == 400 and "<code>hyperparameters</code>" in r.text
    r = dev.post(
        f"/ui/projects/{pid}/tasks", data={"csrf": csrf, "name": "t", "command": "python x.py", "datasets": "intents"}
    )
    assert r.status_code == 403 and "grant" in r.text  # the API's refusal: no train grant yet


def test_another_tenants_ids_answer_the_same_404_as_made_up_ones(app: object, dev: TestClient, h: Harness) -> None:
    pid = create_project(dev)
    project = h.store.get_project("acme", pid)
    _, job = h.task(project)
    rival = signed_in(app, "rival")
    for path in (
        f"/ui/projects/{pid}",
        f"/ui/projects/{pid}/compare",
        f"/ui/jobs/{job.job_id}",
        f"/ui/jobs/{job.job_id}/logs",
        f"/ui/tasks/{job.task_id}",
    ):
        theirs, missing = rival.get(path), rival.get(re.sub(r"[pjt]-[0-9a-f]+", "p-000000000000", path))
        assert theirs.status_code == missing.status_code == 404, path
        assert "Not found" in theirs.text and pid not in rival.get("/ui/projects").text
    assert rival.get(f"/ui/projects/{pid}/comparison.json").status_code == 404
    assert rival.get(f"/ui/jobs/{job.job_id}/live.json").status_code == 404
    csrf = csrf_of(rival.get("/ui/projects").text)
    assert rival.post(f"/ui/jobs/{job.job_id}/cancel", data={"csrf": csrf}).status_code == 404
    assert rival.post(f"/ui/projects/{pid}/deactivate", data={"csrf": csrf}).status_code == 404
    assert h.store.get_project("acme", pid).active
    assert dev.get(f"/ui/jobs/{job.job_id}").status_code == 200


def test_odd_ids_never_reach_other_api_paths(dev: TestClient) -> None:
    for path in ("/ui/jobs/..%2F..%2Fmodels", "/ui/jobs/%2e%2e", "/ui/tasks/a%20b"):
        assert dev.get(path).status_code == 404, path


def test_roles_see_their_own_actions(app: object, dev: TestClient, h: Harness) -> None:
    pid = create_project(dev)
    project = h.store.get_project("acme", pid)
    h.request(project)  # asked by ds@acme
    approver = signed_in(app, "approver")
    page = approver.get("/ui/approvals").text
    assert "Approve</button>" in page and "/ui/models" not in page  # no model actions for an approver
    assert "Approve</button>" not in dev.get("/ui/approvals").text  # a data scientist cannot decide
    assert "New project" not in approver.get("/ui/projects").text
    aid = h.store.approvals_requested_by("acme", "ds@acme")[0].approval_id
    assert f"<code>{aid}</code>" in page
    r = approver.post(
        f"/ui/approvals/{aid}/approve", data={"csrf": csrf_of(page), "reason": "ok"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert "approved" in approver.get("/ui/approvals?state=active").text
    r = approver.post(f"/ui/approvals/{aid}/delete", data={"csrf": csrf_of(page)})
    assert r.status_code == 404
    admin = signed_in(app, "admin")
    assert "Audit trail of acme" in admin.get("/ui/audit").text
    assert "Your audit trail" in dev.get("/ui/audit").text


def test_the_compare_data_and_the_live_job_are_the_apis_json(dev: TestClient, h: Harness) -> None:
    pid = create_project(dev)
    _, job = h.task(h.store.get_project("acme", pid), hyperparameters={"lr": 0.1})
    launching.admit_pool(h.deps, "default")
    reporting.report(h.deps, tenant="acme", job_id=job.job_id, event_type="r", event_id="r", payload=ev.JobRunning())
    reporting.report(
        h.deps,
        tenant="acme",
        job_id=job.job_id,
        event_type="e",
        event_id="e1",
        payload=ev.EpochReport(epoch=1, metrics={"loss": 0.5, "val_accuracy": 0.75}),
    )
    data = dev.get(f"/ui/projects/{pid}/comparison.json").json()
    assert data["tasks"][0]["hyperparameters"] == {"lr": 0.1}
    assert data["tasks"][0]["best"] == {"loss": 0.5, "val_accuracy": 0.75}
    live = dev.get(f"/ui/jobs/{job.job_id}/live.json").json()
    assert live["job"]["state"] == "RUNNING" and [e["epoch"] for e in live["epochs"]] == [1]
    page = dev.get(f"/ui/jobs/{job.job_id}").text
    assert 'id="initial"' in page and "</script>" in page


def test_hyperparameters_are_typed_from_the_form() -> None:
    assert hyperparameters("lr=0.05 epochs=8, name=big\nwarm=true") == {
        "lr": 0.05,
        "epochs": 8,
        "name": "big",
        "warm": True,
    }


def test_logs_are_paged_and_searched() -> None:
    text = "\n".join(f"line {n} {'ERROR' if n % 10 == 0 else 'ok'}" for n in range(1, 451))
    first = page_of_lines(text, query="", number=1)
    assert first["pages"] == 3 and first["lines"][0] == (1, "line 1 ok") and len(first["lines"]) == 200
    assert page_of_lines(text, query="", number=99)["page"] == 3  # past the end: the last page
    found = page_of_lines(text, query="error", number=1)
    assert found["matches"] == 45 and found["lines"][0] == (10, "line 10 ERROR")


def test_vendored_assets_are_the_documented_files(dev: TestClient) -> None:
    vendor = Path(__file__).resolve().parents[3] / "functions" / "ui" / "static" / "vendor"
    readme = (vendor / "README.md").read_text()
    for name in ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css"):
        digest = hashlib.sha256((vendor / name).read_bytes()).hexdigest()
        assert digest in readme, name
        assert dev.get(f"/ui/static/vendor/{name}").status_code == 200


def test_data_embedded_in_a_page_cannot_end_its_script_element() -> None:
    hostile = {"name": "</script><script>alert(1)</script><!--", "amp": "a&b"}
    text = dumps(hostile)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == hostile


def test_a_log_the_api_pages_by_bytes_is_followed_to_its_end_when_searching() -> None:
    log = "".join(f"line {n}{' ERROR' if n == 77 else ''}\n" for n in range(1, 101)).encode()

    def api(request: httpx.Request) -> httpx.Response:  # the byte-paged logs route, as the API pages it
        limit = 300
        offset = int(request.url.params.get("offset", len(log) - limit))
        end = min(len(log), offset + limit)
        headers = {"X-Log-Offset": str(offset), "X-Log-Size": str(len(log))}
        if end < len(log):
            headers["X-Log-Next-Offset"] = str(end)
        return httpx.Response(200, content=log[offset:end], headers=headers)

    async def run() -> tuple[tuple[str, dict[str, int]], tuple[str, dict[str, int]]]:
        ctx = Ctx(
            api=Api(httpx.AsyncClient(transport=httpx.MockTransport(api), base_url="http://api")),
            me=Me.of(PEOPLE["dev"]),
            token=PEOPLE["dev"],
            csrf="",
        )
        try:
            return (
                await log_text(ctx, "j-1", offset=None, whole=True),
                await log_text(ctx, "j-1", offset=None, whole=False),
            )
        finally:
            await ctx.api.close()

    (whole, span), (tail, tail_span) = asyncio.run(run())
    assert whole.encode() == log and span == {"offset": 0, "size": len(log)}
    assert page_of_lines(whole, query="error", number=1)["lines"] == [(77, "line 77 ERROR")]
    assert tail.encode() == log[-300:] and tail_span == {"offset": len(log) - 300, "size": len(log)}
