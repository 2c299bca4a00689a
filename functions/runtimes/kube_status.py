"""What a Job and its pods say about an attempt, as a RuntimeJob (pure: dicts in, value out).

The trainer reports its own progress; this covers what it cannot report because it never
ran or was killed from outside: image pulls that fail, pods nobody can schedule, OOM kills,
evictions, the Job's own deadline. Pending problems are only reported after a grace period
(registries hiccup, cluster autoscalers take minutes), since the sweep fails an attempt as
soon as a reason appears.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from functions.ports import RuntimeJob, RuntimeStatus
from functions.runtimes.manifests import (
    CONTAINER,
    DISRUPTION,
    IMAGE_ID_ANNOTATION,
    JOB_ID_ANNOTATION,
    LABEL_PREFIX,
    KubernetesConfig,
)

Obj = dict[str, Any]

# Waiting reasons that no amount of waiting fixes.
_HOPELESS = frozenset({"InvalidImageName", "ErrImageNeverPull"})
# Waiting reasons that may clear on their own, so they get `pending_grace_s` first.
_STUCK = frozenset({"ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError", "CreateContainerError"})
_MESSAGE_MAX = 500


def job_id_of(job: Obj) -> str:
    """The platform job id a Job was created for (the annotation is exact; labels may be sanitized)."""
    meta = job.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    return str(annotations.get(JOB_ID_ANNOTATION) or labels.get(LABEL_PREFIX + "job") or meta.get("name", ""))


def runtime_job(job: Obj, pods: Sequence[Obj], *, now: datetime, config: KubernetesConfig) -> RuntimeJob:
    """Fold a Job and its pods into one RuntimeJob, with the image its trainer container ran
    (and whether the platform has recorded it: the Job's annotation)."""
    found = _runtime_job(job, pods, now=now, config=config)
    image = image_id_of(_latest(pods))
    noted = ((job.get("metadata") or {}).get("annotations") or {}).get(IMAGE_ID_ANNOTATION)
    return dataclasses.replace(found, image_id=image, image_recorded=bool(image) and noted == image)


def image_id_of(pod: Obj | None) -> str:
    """The trainer container's `imageID` (the image the node resolved, by digest), "" until the
    kubelet reports one (it does once the image is pulled: running or terminated)."""
    for entry in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        if entry.get("name") == CONTAINER:
            return str(entry.get("imageID") or "")
    return ""


def _runtime_job(job: Obj, pods: Sequence[Obj], *, now: datetime, config: KubernetesConfig) -> RuntimeJob:
    job_id = job_id_of(job)
    status = job.get("status") or {}
    pod = _latest(pods)
    if status.get("succeeded") or _condition(status, "Complete"):
        return RuntimeJob(job_id, RuntimeStatus.EXITED, exit_code=0)
    failed = _condition(status, "Failed")
    if status.get("failed") or failed:
        disrupted = _disruption(pod, failed)
        if disrupted:  # killed from outside: no exit code to blame the trainer with
            return RuntimeJob(job_id, RuntimeStatus.EXITED, exit_code=None, reason=disrupted)
        code, reason = _exit(pod) if pod is not None else (None, "")
        if not reason and failed and failed.get("reason") != "BackoffLimitExceeded":  # implied by limit 0
            reason = _describe(failed)  # e.g. DeadlineExceeded
        return RuntimeJob(job_id, RuntimeStatus.EXITED, exit_code=code, reason=reason)
    if pod is None:
        return RuntimeJob(job_id, RuntimeStatus.PENDING)
    phase = (pod.get("status") or {}).get("phase", "Pending")
    if phase == "Succeeded":  # the Job controller has not caught up yet
        return RuntimeJob(job_id, RuntimeStatus.EXITED, exit_code=0)
    if phase == "Failed":
        if disrupted := _disruption(pod, None):
            return RuntimeJob(job_id, RuntimeStatus.EXITED, exit_code=None, reason=disrupted)
        code, reason = _exit(pod)
        return RuntimeJob(job_id, RuntimeStatus.EXITED, exit_code=code, reason=reason)
    if phase == "Running":
        return RuntimeJob(job_id, RuntimeStatus.RUNNING)
    return RuntimeJob(job_id, RuntimeStatus.PENDING, reason=_pending_reason(pod, now=now, config=config))


def _disruption(pod: Obj | None, failed: Obj | None) -> str:
    """Why the pod was killed from outside (drain, preemption, eviction), or "" if it was not:
    the pod's DisruptionTarget condition, or the Job's PodFailurePolicy failure that names it."""
    condition = _condition((pod or {}).get("status") or {}, DISRUPTION)
    if condition:
        return "disrupted: " + (_describe(condition) or DISRUPTION)
    if failed and failed.get("reason") == "PodFailurePolicy" and DISRUPTION in str(failed.get("message", "")):
        return "disrupted: " + _describe(failed)
    return ""


def started_containers(pod: Obj) -> list[str]:
    """Containers that ever started, hence have logs (asking for the others is a 400)."""
    status = pod.get("status") or {}
    names = []
    for entry in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        states = [entry.get("state") or {}, entry.get("lastState") or {}]
        if any("running" in state or "terminated" in state for state in states):
            names.append(str(entry.get("name", "")))
    return names


def _exit(pod: Obj) -> tuple[int | None, str]:
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return None, _describe(status)
    terminated = _terminated(status)
    if terminated is None:
        return None, _describe(status) if status.get("reason") else ""
    code = terminated.get("exitCode")
    reason = str(terminated.get("reason") or "")
    # "Error"/"Completed" only restate the exit code; OOMKilled and the like add to it.
    return (int(code) if code is not None else None), ("" if reason in ("Error", "Completed") else reason)


def _terminated(status: Obj) -> Obj | None:
    entries = status.get("containerStatuses") or []
    ordered = sorted(entries, key=lambda entry: entry.get("name") != CONTAINER)  # ours first
    for entry in ordered:
        for key in ("state", "lastState"):
            terminated = (entry.get(key) or {}).get("terminated")
            if terminated:
                return dict(terminated)
    return None


def _pending_reason(pod: Obj, *, now: datetime, config: KubernetesConfig) -> str:
    status = pod.get("status") or {}
    age = _seconds_since(pod.get("metadata", {}).get("creationTimestamp"), now)
    for entry in status.get("containerStatuses") or []:
        waiting = (entry.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason", "")
        if reason in _HOPELESS or (reason in _STUCK and age >= config.pending_grace_s):
            return _describe(waiting)
    scheduled = _condition(status, "PodScheduled", want="False")
    if scheduled and scheduled.get("reason") == "Unschedulable":
        waited = _seconds_since(scheduled.get("lastTransitionTime"), now, default=age)
        if waited >= config.unschedulable_grace_s:
            return _describe(scheduled)
    return ""


def _condition(status: Obj, kind: str, *, want: str = "True") -> Obj | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == want:
            return dict(condition)
    return None


def _describe(part: Obj | None) -> str:
    if not part:
        return ""
    reason, message = str(part.get("reason") or ""), str(part.get("message") or "")
    text = f"{reason}: {message}" if reason and message else reason or message
    return text[:_MESSAGE_MAX]


def _latest(pods: Sequence[Obj]) -> Obj | None:
    def key(pod: Obj) -> tuple[str, str]:
        meta = pod.get("metadata") or {}
        return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")

    return max(pods, key=key) if pods else None


def _seconds_since(stamp: object, now: datetime, *, default: float = 0.0) -> float:
    if not isinstance(stamp, str) or not stamp:
        return default
    return (now - datetime.fromisoformat(stamp)).total_seconds()
