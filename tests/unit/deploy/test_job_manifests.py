"""The pure Job/Secret builders: golden files, strict Kubernetes schemas, and the rules we rely on.

Regenerate the golden files after an intended change with TRAINYARD_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.ports import LaunchSpec
from functions.runtimes import manifests as mf
from sdk.contracts.errors import ValidationError
from tests.unit.deploy.validation import validate

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("TRAINYARD_UPDATE_GOLDEN") == "1"


def spec(**changes: Any) -> LaunchSpec:
    fields: dict[str, Any] = dict(
        job_id="j-0123456789ab",
        tenant="acme",
        project_id="p-42",
        task_id="t-7",
        attempt=2,
        image="registry.example/trainer:1.0",
        command=["python", "-m", "train"],
        args=["--epochs", "3"],
        env={
            "TRAINYARD_JOB_ID": "j-0123456789ab",
            "TRAINYARD_TOKEN": "header.payload.sig",
            "TRAINYARD_PLATFORM_URL": "http://broker-ingress.knative-eventing.svc/trainyard/default",
        },
        cpu=1.5,
        memory_mb=2048,
        gpu=0,
        ttl_s=3600,
    )
    return LaunchSpec(**{**fields, **changes})


CASES = {
    "job": lambda: mf.job(spec(), mf.KubernetesConfig()),
    "secret": lambda: mf.secret(spec(), mf.KubernetesConfig()),
    "job-gpu-private": lambda: mf.job(
        spec(
            job_id="Job_With.UPPER-case" + "x" * 60, tenant="Tenant With Spaces", gpu=2, command=[], args=[], ttl_s=10.5
        ),
        mf.KubernetesConfig(
            namespace="ml-jobs",
            image_pull_policy="IfNotPresent",
            image_pull_secrets=("regcred",),
            service_account="trainer",
            scratch_mb=50_000,
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_its_golden_file(case: str) -> None:
    built = CASES[case]()
    path = GOLDEN / f"{case}.yaml"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(built, sort_keys=True))
    assert built == yaml.safe_load(path.read_text())


def test_a_pod_killed_from_outside_fails_the_job_with_the_disruption_as_its_reason() -> None:
    built = mf.job(spec(), mf.KubernetesConfig())["spec"]
    assert built["backoffLimit"] == 0 and built["template"]["spec"]["restartPolicy"] == "Never"  # the API requires both
    assert built["podFailurePolicy"] == {
        "rules": [{"action": "FailJob", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_is_valid_in_strict_mode(case: str) -> None:
    validate(CASES[case]())


def test_strict_validation_catches_an_unknown_field() -> None:
    job = mf.job(spec(), mf.KubernetesConfig())
    job["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}
    with pytest.raises(Exception, match="securityContex"):
        validate(job)


def test_the_pod_is_locked_down() -> None:
    job = mf.job(spec(), mf.KubernetesConfig())
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["activeDeadlineSeconds"] == 3600 + mf.KubernetesConfig().deadline_grace_s
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    # ephemeral-storage: scratch (10 GiB) + tmp (1 GiB) + 512 MiB for logs and the writable layer
    assert (
        container["resources"]["requests"]
        == container["resources"]["limits"]
        == {"cpu": "1500m", "memory": "2048Mi", "ephemeral-storage": "11776Mi"}
    )
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/scratch", "/tmp"}
    assert all("emptyDir" in volume for volume in pod["volumes"])


def test_the_token_comes_from_the_secret_and_nowhere_else() -> None:
    job, secret = mf.job(spec(), mf.KubernetesConfig()), mf.secret(spec(), mf.KubernetesConfig())
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["TRAINYARD_TOKEN"] == {
        "name": "TRAINYARD_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": secret["metadata"]["name"], "key": "TRAINYARD_TOKEN"}},
    }
    assert "header.payload.sig" not in yaml.safe_dump(job)
    assert secret["stringData"] == {"TRAINYARD_TOKEN": "header.payload.sig"}
    assert env["TRAINYARD_JOB_ID"]["value"] == "j-0123456789ab"


def test_labels_select_the_job_and_its_pods() -> None:
    job = mf.job(spec(), mf.KubernetesConfig())
    assert (
        job["metadata"]["labels"]
        == job["spec"]["template"]["metadata"]["labels"]
        == {
            "app.kubernetes.io/managed-by": "trainyard",
            "app.kubernetes.io/component": "trainer",
            "trainyard.io/tenant": "acme",
            "trainyard.io/project": "p-42",
            "trainyard.io/task": "t-7",
            "trainyard.io/job": "j-0123456789ab",
            "trainyard.io/attempt": "2",
        }
    )
    assert job["metadata"]["annotations"] == {mf.JOB_ID_ANNOTATION: "j-0123456789ab"}


@pytest.mark.parametrize("raw", ["acme", "a" * 64, "Tenant With Spaces", "-x-", "ü", "", "a.b_c-D"])
def test_label_values_are_valid_and_distinct(raw: str) -> None:
    value = mf.label_value(raw)
    assert len(value) <= 63 and mf._LABEL_VALUE.match(value)
    assert value == raw or re.fullmatch(r".*\b[0-9a-f]{10}", value)  # changed values carry a hash
    assert mf.label_value(raw + "!") != value


@pytest.mark.parametrize("job_id", ["j-1", "J-UPPER", "x" * 80, "a_b.c", "j-1" + "-" * 70])
def test_job_names_are_dns_labels_and_distinct(job_id: str) -> None:
    name = mf.job_name(job_id)
    assert len(name) <= 63 and mf._DNS_LABEL.match(name)
    assert mf.job_name(job_id + "x") != name


def test_a_spec_that_cannot_run_is_refused_with_every_problem() -> None:
    with pytest.raises(ValidationError) as info:
        mf.job(spec(image="", cpu=0), mf.KubernetesConfig())
    assert {p.field for p in info.value.problems} == {"image", "resources"}
