"""Dataset versions and one-time validation on the local platform, through the CLI and the API:
a bad version fails with findings, a good one passes, and a task that requires validated data
is refused on the bad version and accepted on the good one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sdk.auth import tokens
from sdk.contracts.errors import Forbidden, NotFound, ValidationError
from sdk.contracts.specs import ProjectSpec, TaskSpec
from tests.e2e.conftest import ROOT, LocalPlatform
from tests.e2e.test_training_lifecycle import approver, scripted

pytestmark = pytest.mark.e2e

BAD = b"text,label\nreset my password,Account\n,Billing\nreset my password,Billing\nhi,Account\n"
GOOD = b"text,label,split\n" + b"".join(
    f"reset password {i},Account,train\nrefund order {i},Billing,{'val' if i % 3 == 0 else 'train'}\n".encode()
    for i in range(8)
)


def cli(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"TRAINYARD_URL": platform.url, "TRAINYARD_TOKEN": platform.token, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-c", "from sdk.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_versions_validation_and_require_validated(local_platform: LocalPlatform) -> None:
    bad, good = local_platform.state / "bad.csv", local_platform.state / "good.csv"
    bad.write_bytes(BAD)
    good.write_bytes(GOOD)
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="checked", purpose="validation", datasets=["tickets"])).project_id
        assert c.upload_dataset_version(project, "tickets", bad)[0] == 1
        with pytest.raises(Forbidden, match="validate grant"):  # a train grant is not enough
            c.validate_dataset(project, "tickets")
        asked = [
            c.request_approval(["tickets"], action=action, project=project, purpose="e2e", days=1)
            for action in ("validate", "train")
        ]
        with approver(local_platform) as boss:
            for grant in asked:
                boss.approve(grant.approval_id, reason="synthetic data")

        failed = cli(local_platform, "datasets", "validate", project, "tickets", "--interval", "0.3")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "FAILED" in failed.stdout and "empty_text" in failed.stdout and "conflicting_labels" in failed.stdout

        assert c.upload_dataset_version(project, "tickets", good)[0] == 2
        passed = cli(local_platform, "datasets", "validate", project, "tickets", "--version", "2", "--interval", "0.3")
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "PASSED" in passed.stdout

        shown = json.loads(cli(local_platform, "datasets", "show", project, "tickets", "--json").stdout)
        assert [(v["version"], v["status"]) for v in shown["versions"]] == [(1, "failed"), (2, "passed")]
        assert shown["latest_validated"] == 2 and shown["last_validation"]["version"] == 2

        spec = {"name": "strict", "command": scripted("--epochs", "1"), "datasets": ["tickets"]}
        with pytest.raises(ValidationError, match="version 1 is failed") as refused:
            c.create_task(
                project,
                TaskSpec.model_validate({**spec, "require_validated": True, "dataset_versions": {"tickets": 1}}),
            )
        assert refused.value.problems[0].field == "dataset_versions.tickets"
        created = c.create_task(project, TaskSpec.model_validate({**spec, "require_validated": True}))
        assert created.task.spec.dataset_versions == {"tickets": 2}

        evil = tokens.user_token(tenant="evil", sub="mallory", secret=local_platform.secret)
        with local_platform.client(evil) as e:
            with pytest.raises(NotFound):
                e.dataset(project, "tickets")
            with pytest.raises(NotFound):
                e.validate_dataset(project, "tickets")
