"""A user's view of task edits: retention deletes checkpoints as a run goes, archiving hides a
task from the comparison, and the CLI drives both against the local platform."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.contracts.errors import Conflict, NotFound
from sdk.contracts.specs import ProjectSpec, RetentionPolicy, TaskPatch
from tests.e2e.conftest import ROOT, LocalPlatform
from tests.e2e.test_training_lifecycle import scripted, task, wait_for

pytestmark = pytest.mark.e2e


def cli(platform: LocalPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "TRAINYARD_URL": platform.url,
        "TRAINYARD_TOKEN": platform.token,
        "COLUMNS": "200",
        "PATH": "/usr/bin",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-c", "from sdk.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_retention_archive_and_cli(local_platform: LocalPlatform) -> None:
    with local_platform.client() as c:
        project = c.create_project(ProjectSpec(name="edits", purpose="retention and archive")).project_id
        retention = RetentionPolicy(keep_latest=2).model_dump()
        tid = task(c, project, "long", scripted("--epochs", "6", "--sleep", "0.05"), retention=retention)
        other = task(c, project, "kept", scripted("--epochs", "1", "--sleep", "0.05"))
        job = wait_for(c, tid, timeout=180)[-1]
        assert job.state == "SUCCEEDED", job.reason
        ckpts = {ck.epoch: ck.pruned for ck in c.checkpoints(job.job_id)}
        assert ckpts == {1: True, 2: True, 3: True, 4: True, 5: False, 6: False}
        with pytest.raises(Conflict, match="retention policy"):
            c.publish_model(job.job_id, epoch=2)

        wait_for(c, other, timeout=180)
        updated = c.update_task(tid, TaskPatch(description="six epochs", tags=["long"]))
        assert (updated.description, updated.tags, updated.spec.name) == ("six epochs", ["long"], "long")
        archived = cli(local_platform, "tasks", "archive", tid)
        assert archived.returncode == 0, archived.stderr
        assert [t.task_id for t in c.comparison(project).tasks] == [other]
        assert {t.task_id for t in c.comparison(project, archived=True).tasks} == {tid, other}
        assert c.get_task(tid).archived  # still readable

        shown = cli(local_platform, "tasks", "update", tid, "--keep-all", "--tag", "final")
        assert shown.returncode == 0 and "retention" in shown.stdout and "all" in shown.stdout, shown.stderr
        refused = cli(local_platform, "tasks", "update", tid, "--keep-best", "2")
        assert refused.returncode != 0 and "metric" in (refused.stdout + refused.stderr)

        rerun = cli(local_platform, "tasks", "rerun", other, "--param", "seed=7", "--json")
        assert rerun.returncode == 0, rerun.stderr
        again = json.loads(rerun.stdout)["task"]
        assert again["rerun_of"] == other and again["provenance"]["spec_sha256"]
        diff = c.diff_tasks(other, again["task_id"])
        assert [(d.field, d.value, d.other) for d in diff.differences] == [("hyperparameters.seed", None, 7)]
        shown = cli(local_platform, "tasks", "diff", other, again["task_id"])
        assert shown.returncode == 0 and "hyperparameters.seed" in shown.stdout, shown.stderr

    stranger = local_platform.client(_other_tenant(local_platform))
    with stranger, pytest.raises(NotFound):
        stranger.update_task(tid, TaskPatch(name="pwned"))


def _other_tenant(platform: LocalPlatform) -> str:
    return tokens.user_token(tenant="evil", sub="x@evil", secret=platform.secret, roles=(Role.DATA_SCIENTIST,))
