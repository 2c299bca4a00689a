"""`trainyard approvals ...` and `trainyard audit` through typer's CliRunner, against the fake platform."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from sdk.cli import make_app
from sdk.cli.session import CliDeps
from sdk.client import Client
from tests.unit.sdk.sdk_fake_platform import T0, FakePlatform

CHANGE = {"at": T0, "actor": "ana", "from_state": None, "to_state": "requested", "reason": "intent model"}
GRANT = {"approval_id": "a-1", "tenant": "acme", "grantee": "project:p-1", "action": "train", "datasets": ["reviews"],
         "purpose": "intent model", "requested_by": "ana", "requested_at": T0, "expires_at": "2025-01-31T00:00:00Z",
         "state": "requested", "recorded_state": "requested", "history": [CHANGE]}  # fmt: skip
APPROVED = {**GRANT, "state": "approved", "recorded_state": "approved",
            "history": [CHANGE, {**CHANGE, "actor": "boss", "from_state": "requested", "to_state": "approved",
                                 "reason": "fits"}]}  # fmt: skip
RECORD = {"audit_id": "x1", "tenant": "acme", "actor": "eve", "action": "GET /v1/jobs/{job_id}",
          "resource": "job/t-1.1", "decision": "denied", "reason": "job 't-1.1' not found", "request_id": "r-9",
          "at": T0}  # fmt: skip


class Cli:
    def __init__(self, platform: FakePlatform, tmp_path: Path) -> None:
        self.platform = platform
        self.deps = CliDeps(client_factory=self._client, sleep=lambda _: None, config_path=tmp_path / "local.json")
        self.runner = CliRunner(env={"TRAINYARD_URL": None, "TRAINYARD_TOKEN": None, "COLUMNS": "200"})

    def _client(self, url: str, token: str) -> Client:
        return Client(url, token, transport=self.platform.transport, sleep=lambda _: None)

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(make_app(self.deps), ["--url", "http://platform.test", "--token", "tok", *args])

    def body(self, method: str, path: str) -> dict[str, object]:
        return dict(json.loads(self.platform.sent(method, path)[-1].content))

    def params(self, path: str) -> dict[str, str]:
        return dict(self.platform.sent("GET", path)[-1].url.params)


@pytest.fixture
def cli(platform: FakePlatform, tmp_path: Path) -> Cli:
    return Cli(platform, tmp_path)


def test_request_to_a_project_sends_the_grant_and_shows_it(cli: Cli) -> None:
    cli.platform.json("POST", "/v1/approvals", GRANT, status=201)
    result = cli(
        "approvals",
        "request",
        "--dataset",
        "reviews",
        "--dataset",
        "faq",
        "--action",
        "train",
        "--project",
        "p-1",
        "--purpose",
        "intent model",
        "--days",
        "30",
    )
    assert result.exit_code == 0, result.output
    assert cli.body("POST", "/v1/approvals") == {
        "datasets": ["reviews", "faq"],
        "action": "train",
        "project": "p-1",
        "purpose": "intent model",
        "days": 30,
    }
    assert "a-1" in result.stdout and "project:p-1" in result.stdout


def test_request_needs_the_project_before_any_call(cli: Cli) -> None:
    person = cli(
        "approvals",
        "request",
        "--dataset",
        "d",
        "--action",
        "read",
        "--principal",
        "ana",
        "--purpose",
        "x",
        "--days",
        "1",
    )
    assert person.exit_code == 1 and "name the project" in person.output
    assert (
        cli(
            "approvals",
            "request",
            "--dataset",
            "d",
            "--action",
            "steal",
            "--project",
            "p",
            "--purpose",
            "x",
            "--days",
            "1",
        ).exit_code
        == 2
    )
    assert cli.platform.requests == []


@pytest.mark.parametrize("verb", ["approve", "deny", "revoke"])
def test_decisions_send_the_reason(cli: Cli, verb: str) -> None:
    cli.platform.json("POST", f"/v1/approvals/a-1/{verb}", APPROVED)
    result = cli("approvals", verb, "a-1", "--reason", "fits")
    assert result.exit_code == 0, result.output
    assert cli.body("POST", f"/v1/approvals/a-1/{verb}") == {"reason": "fits"}
    assert "approval a-1 is approved" in result.stdout


def test_a_platform_admin_revokes_in_another_tenant(cli: Cli) -> None:
    cli.platform.json("POST", "/v1/approvals/a-1/revoke", {**APPROVED, "state": "revoked"})
    assert cli("approvals", "revoke", "a-1", "--tenant", "globex").exit_code == 0
    assert cli.body("POST", "/v1/approvals/a-1/revoke") == {"reason": "", "tenant": "globex"}


def test_a_refused_decision_is_one_red_line(cli: Cli) -> None:
    error = {"error": {"code": "forbidden", "message": "a requester may not approve their own request"}}
    cli.platform.on("POST", "/v1/approvals/a-1/approve", httpx.Response(403, json=error))
    result = cli("approvals", "approve", "a-1")
    assert result.exit_code == 1 and "may not approve their own request" in result.output


def test_list_passes_the_filters_and_renders_a_table(cli: Cli) -> None:
    cli.platform.json("GET", "/v1/approvals", {"items": [APPROVED]})
    result = cli("approvals", "list", "--state", "active", "--dataset", "reviews", "--principal", "project:p-1")
    assert result.exit_code == 0, result.output
    assert cli.params("/v1/approvals") == {"state": "active", "dataset": "reviews", "principal": "project:p-1"}
    [row] = [line for line in result.stdout.splitlines() if "a-1" in line]
    assert "approved" in row and "reviews" in row and "project:p-1" in row
    assert cli("approvals", "list", "--state", "bogus").exit_code == 2


def test_show_prints_the_history_table(cli: Cli) -> None:
    cli.platform.json("GET", "/v1/approvals/a-1", APPROVED)
    result = cli("approvals", "show", "a-1")
    assert result.exit_code == 0, result.output
    history = result.stdout.split("history", 1)[1]
    assert [line for line in history.splitlines() if "boss" in line and "approved" in line and "fits" in line]
    assert [line for line in history.splitlines() if "ana" in line and "requested" in line]


def test_audit_filters_and_renders_records(cli: Cli) -> None:
    cli.platform.json("GET", "/v1/audit", {"items": [RECORD]})
    result = cli("audit", "--resource", "job/t-1.1", "--actor", "eve", "--since", "2025-01-01T00:00:00")
    assert result.exit_code == 0, result.output
    assert cli.params("/v1/audit") == {
        "resource": "job/t-1.1",
        "actor": "eve",
        "since": "2025-01-01T00:00:00",
        "limit": "100",
    }
    [row] = [line for line in result.stdout.splitlines() if "job/t-1.1" in line]
    assert "eve" in row and "denied" in row and "r-9" in row
    as_json = cli("audit", "--json")
    assert json.loads(as_json.stdout)[0]["decision"] == "denied"
