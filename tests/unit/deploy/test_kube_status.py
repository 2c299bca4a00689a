"""Folding a Job and its pods into a RuntimeJob: what the trainer cannot report itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.ports import RuntimeJob, RuntimeStatus
from functions.runtimes.kube_status import runtime_job, started_containers
from functions.runtimes.manifests import IMAGE_ID_ANNOTATION, JOB_ID_ANNOTATION, KubernetesConfig

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CONFIG = KubernetesConfig(pending_grace_s=120, unschedulable_grace_s=600)


def stamp(ago_s: float) -> str:
    return (NOW - timedelta(seconds=ago_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job(status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "ty-j-1", "annotations": {JOB_ID_ANNOTATION: "j-1"}}, "status": status or {}}


def pod(status: dict[str, Any], *, age_s: float = 30, name: str = "ty-j-1-a") -> dict[str, Any]:
    return {"metadata": {"name": name, "creationTimestamp": stamp(age_s)}, "status": status}


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {
        "phase": "Pending",
        "containerStatuses": [{"name": "trainer", "state": {"waiting": {"reason": reason, "message": message}}}],
    }


def terminated(code: int, reason: str, *, phase: str = "Failed") -> dict[str, Any]:
    return {
        "phase": phase,
        "containerStatuses": [{"name": "trainer", "state": {"terminated": {"exitCode": code, "reason": reason}}}],
    }


def fold(job_obj: dict[str, Any], *pods: dict[str, Any]) -> RuntimeJob:
    return runtime_job(job_obj, list(pods), now=NOW, config=CONFIG)


def test_a_job_without_pods_is_pending() -> None:
    assert fold(job()) == RuntimeJob("j-1", RuntimeStatus.PENDING)


def test_a_running_pod_is_running() -> None:
    running = {"phase": "Running", "containerStatuses": [{"name": "trainer", "state": {"running": {}}}]}
    assert fold(job({"active": 1}), pod(running)) == RuntimeJob("j-1", RuntimeStatus.RUNNING)


def test_a_complete_job_exited_zero() -> None:
    done = job({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
    assert fold(done) == RuntimeJob("j-1", RuntimeStatus.EXITED, exit_code=0)


def test_a_failed_trainer_reports_its_exit_code_without_the_implied_backoff_reason() -> None:
    failed = job(
        {
            "failed": 1,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ],
        }
    )
    assert fold(failed, pod(terminated(3, "Error"))) == RuntimeJob("j-1", RuntimeStatus.EXITED, exit_code=3)


def test_an_oom_kill_is_named() -> None:
    assert fold(job({"failed": 1}), pod(terminated(137, "OOMKilled"))) == RuntimeJob(
        "j-1", RuntimeStatus.EXITED, exit_code=137, reason="OOMKilled"
    )


def test_a_failed_pod_counts_before_the_job_controller_catches_up() -> None:
    assert fold(job({"active": 1}), pod(terminated(137, "OOMKilled"))).status is RuntimeStatus.EXITED
    ok = terminated(0, "Completed", phase="Succeeded")
    assert fold(job({"active": 1}), pod(ok)) == RuntimeJob("j-1", RuntimeStatus.EXITED, exit_code=0)


def test_an_eviction_has_no_exit_code_and_says_why() -> None:
    evicted = {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}
    assert fold(job({"failed": 1}), pod(evicted)) == RuntimeJob(
        "j-1", RuntimeStatus.EXITED, reason="Evicted: The node was low on resource: memory."
    )


DRAINED = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "EvictionByEvictionAPI",
    "message": "Eviction API: evicting",
}


def test_a_drained_pod_is_a_disruption_not_the_trainers_exit_143() -> None:
    killed = {**terminated(143, "Error"), "conditions": [DRAINED]}
    failed = job(
        {
            "failed": 1,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "PodFailurePolicy",
                    "message": "Container trainer for pod ns/ty-j-1-a failed with exit "
                    "code 143 matching FailJob rule at index 0",
                }
            ],
        }
    )
    expected = RuntimeJob(
        "j-1", RuntimeStatus.EXITED, exit_code=None, reason="disrupted: EvictionByEvictionAPI: Eviction API: evicting"
    )
    assert fold(failed, pod(killed)) == expected
    assert fold(job({"active": 1}), pod(killed)) == expected  # before the Job controller catches up


def test_the_pod_failure_policy_names_the_disruption_when_the_pod_is_gone() -> None:
    failed = job(
        {
            "failed": 1,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "PodFailurePolicy",
                    "message": "Pod ns/ty-j-1-a has condition DisruptionTarget matching FailJob rule at index 0",
                }
            ],
        }
    )
    folded = fold(failed)
    assert folded.exit_code is None and folded.reason.startswith("disrupted: PodFailurePolicy")


def test_a_plain_exit_143_without_the_condition_stays_the_trainers() -> None:
    assert fold(job({"failed": 1}), pod(terminated(143, "Error"))) == RuntimeJob(
        "j-1", RuntimeStatus.EXITED, exit_code=143
    )


def test_the_jobs_deadline_is_the_reason_when_no_pod_says_more() -> None:
    late = job(
        {
            "failed": 1,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "Job was active longer than specified deadline",
                }
            ],
        }
    )
    assert fold(late) == RuntimeJob(
        "j-1", RuntimeStatus.EXITED, reason="DeadlineExceeded: Job was active longer than specified deadline"
    )


@pytest.mark.parametrize(
    ("reason", "age_s", "reported"),
    [
        ("ErrImagePull", 60, False),  # registries hiccup: within the grace it is not a failure yet
        ("ErrImagePull", 121, True),
        ("ImagePullBackOff", 300, True),
        ("InvalidImageName", 1, True),  # hopeless at once
        ("ContainerCreating", 3600, False),  # just slow
    ],
)
def test_pending_problems_are_reasons_only_after_their_grace(reason: str, age_s: float, reported: bool) -> None:
    result = fold(job({"active": 1}), pod(waiting(reason, "details"), age_s=age_s))
    assert result.status is RuntimeStatus.PENDING
    assert result.reason == (f"{reason}: details" if reported else "")


@pytest.mark.parametrize(("since_s", "reported"), [(599, False), (600, True)])
def test_unschedulable_is_a_reason_after_the_autoscaler_had_its_chance(since_s: float, reported: bool) -> None:
    status = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                "lastTransitionTime": stamp(since_s),
            }
        ],
    }
    result = fold(job({"active": 1}), pod(status, age_s=since_s))
    expected = "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    assert result == RuntimeJob("j-1", RuntimeStatus.PENDING, reason=expected if reported else "")


def test_the_newest_pod_speaks_for_the_job() -> None:
    old = pod(terminated(1, "Error"), age_s=600, name="ty-j-1-old")
    new = pod({"phase": "Running"}, age_s=10, name="ty-j-1-new")
    assert fold(job({"active": 1}), old, new).status is RuntimeStatus.RUNNING


def test_only_started_containers_have_logs() -> None:
    status = {
        "initContainerStatuses": [{"name": "init", "state": {"terminated": {"exitCode": 0}}}],
        "containerStatuses": [
            {"name": "trainer", "state": {"running": {}}},
            {"name": "restarted", "state": {"waiting": {}}, "lastState": {"terminated": {"exitCode": 1}}},
            {"name": "never", "state": {"waiting": {"reason": "PodInitializing"}}},
        ],
    }
    assert started_containers(pod(status)) == ["init", "trainer", "restarted"]


IMAGE_ID = "docker.io/acme/trainer@sha256:" + "c0" * 32


def with_image(status: dict[str, Any], image_id: str, *, sidecar: bool = False) -> dict[str, Any]:
    entries = [{**entry, "imageID": image_id} for entry in status["containerStatuses"]]
    if sidecar:  # another container's image is not the trainer's
        entries.insert(0, {"name": "istio-proxy", "state": {"running": {}}, "imageID": "proxy@sha256:" + "0" * 64})
    return {**status, "containerStatuses": entries}


def test_the_trainer_containers_image_id_is_folded_in_running_or_exited() -> None:
    running = {"phase": "Running", "containerStatuses": [{"name": "trainer", "state": {"running": {}}}]}
    found = fold(job({"active": 1}), pod(with_image(running, IMAGE_ID, sidecar=True)))
    assert (found.status, found.image_id, found.image_recorded) == (RuntimeStatus.RUNNING, IMAGE_ID, False)
    exited = fold(job({"failed": 1}), pod(with_image(terminated(1, "Error"), IMAGE_ID)))
    assert (exited.exit_code, exited.image_id) == (1, IMAGE_ID)
    assert fold(job(), pod(waiting("ContainerCreating"))).image_id == ""  # not pulled yet


def test_an_image_id_the_platform_noted_is_marked_recorded_and_only_that_one() -> None:
    running = with_image({"phase": "Running", "containerStatuses": [{"name": "trainer", "state": {"running": {}}}]},
                         IMAGE_ID)  # fmt: skip
    noted = job({"active": 1})
    noted["metadata"]["annotations"][IMAGE_ID_ANNOTATION] = IMAGE_ID
    assert fold(noted, pod(running)).image_recorded
    stale = job({"active": 1})
    stale["metadata"]["annotations"][IMAGE_ID_ANNOTATION] = "older@sha256:" + "1" * 64
    assert not fold(stale, pod(running)).image_recorded  # a new image: recorded again
