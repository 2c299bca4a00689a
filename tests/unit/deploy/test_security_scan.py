"""Static security scan (checkov) of terraform/, the rendered knative/ overlays and the trainer
Job the runtime builds. Every finding is either fixed or suppressed with a reason: in the
terraform source (`#checkov:skip=ID:reason`) or, for the generated Job, in ACCEPTED below.

checkov pins dependencies that clash with the project's (boto3, packaging), so it lives in its
own venv: `python -m venv .venv/checkov && .venv/checkov/bin/pip install checkov==3.3.30`
(or point TRAINYARD_CHECKOV at a checkov binary).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.ports import LaunchSpec
from functions.runtimes import manifests as mf
from tests.unit.deploy.knative_objects import OVERLAYS, ROOT, rendered

# Findings on the trainer Job that are deliberate, and why.
ACCEPTED = {
    # The image is the user's task image, named as they choose (a tag or a digest); pull
    # policy Always still re-checks every tag against the registry at each launch.
    "CKV_K8S_43": "Job",
    # TRAINYARD_TOKEN in the env is the SDK's contract; it is job-scoped, expires with the
    # job's TTL, lives in a per-job Secret that dies with the Job, and the pod runs nothing else.
    "CKV_K8S_35": "Job",
}


def checkov() -> str | None:
    for candidate in (
        os.environ.get("TRAINYARD_CHECKOV"),
        str(ROOT / ".venv" / "checkov" / "bin" / "checkov"),
        shutil.which("checkov"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


pytestmark = pytest.mark.skipif(checkov() is None, reason="checkov is not installed (see this module's docstring)")


def scan(directory: Path, framework: str) -> dict[str, Any]:
    binary = checkov()
    assert binary is not None
    done = subprocess.run(
        [binary, "-d", str(directory), "--framework", framework, "--compact", "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1 = findings, judged below
    report = json.loads(done.stdout)
    assert report["summary"]["parsing_errors"] == 0
    return dict(report)


def failures(report: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]


def test_terraform_has_no_finding_and_every_suppression_says_why() -> None:
    report = scan(ROOT / "terraform", "terraform")
    assert failures(report) == []
    assert report["summary"]["passed"] > 100  # it did look at something
    for check in report["results"]["skipped_checks"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


def test_rendered_manifests_and_the_trainer_job_have_no_unexplained_finding(tmp_path: Path) -> None:
    for overlay in OVERLAYS:
        (tmp_path / f"{overlay}.yaml").write_text(yaml.safe_dump_all(rendered(f"overlays/{overlay}")))
    spec = LaunchSpec(
        job_id="j-1",
        tenant="acme",
        project_id="p",
        task_id="t",
        attempt=1,
        image="registry.example/trainer:1",
        command=["python"],
        args=[],
        env={"TRAINYARD_TOKEN": "x"},
        cpu=1,
        memory_mb=512,
        gpu=0,
        ttl_s=60,
    )
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(mf.job(spec, mf.KubernetesConfig())))

    report = scan(tmp_path, "kubernetes")

    unexplained = [
        (check, resource) for check, resource in failures(report) if not resource.startswith(f"{ACCEPTED.get(check)}.")
    ]
    assert unexplained == []
    checked = {c["resource"].split(".")[0] for c in report["results"]["passed_checks"]}
    assert {"Job", "Role", "RoleBinding", "ServiceAccount"} <= checked
