"""Kubernetes objects for one attempt, built by pure functions (no client, no I/O).

A Task attempt runs as a `batch/v1` Job whose pod is locked down (non-root, read-only
root, no capabilities, no service-account token) and whose job-scoped token comes from a
per-job Secret. The runtime creates the Secret, then the Job, then makes the Job the
Secret's owner so that deleting the Job deletes the Secret too.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from functions.ports import LaunchSpec
from sdk.contracts.errors import Problem, ValidationError
from sdk.contracts.trainer_env import SECRET_VARS

Obj = dict[str, Any]

MANAGED_BY = "app.kubernetes.io/managed-by"
COMPONENT = "app.kubernetes.io/component"
PLATFORM = "trainyard"
TRAINER = "trainer"  # the component label the trainer NetworkPolicy selects on
JOB_ID_ANNOTATION = "trainyard.io/job-id"  # the exact id; labels may be sanitized
IMAGE_ID_ANNOTATION = "trainyard.io/recorded-image-id"  # the pod imageID the platform has recorded
LABEL_PREFIX = "trainyard.io/"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"  # set on pods by the Job controller
CONTAINER = "trainer"
SCRATCH = "/scratch"
DISRUPTION = "DisruptionTarget"  # the pod condition Kubernetes sets on pods killed from outside
EPHEMERAL_SLACK_MB = 512  # container logs and writable layer next to the two emptyDirs

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_MAX_LABEL = 63


@dataclass(frozen=True)
class KubernetesConfig:
    """How trainer Jobs are shaped in a cluster. Every size/time is in the unit its name says."""

    namespace: str = "trainyard-jobs"  # a namespace of its own: RBAC and NetworkPolicy are scoped to it
    # Always: a multitenant node must not run an image cached for another tenant without checking
    # that this pod may pull it (a manifest check; cached layers are not pulled again).
    image_pull_policy: str = "Always"
    image_pull_secrets: tuple[str, ...] = ()  # Secret names in `namespace`, for private registries
    service_account: str | None = None  # None: the namespace default; its token is never mounted anyway
    scratch_mb: int = 10 * 1024  # emptyDir at /scratch: the root filesystem is read-only
    tmp_mb: int = 1024  # emptyDir at /tmp, for libraries that insist on it
    ttl_after_finished_s: int = 24 * 3600  # backstop GC if cleanup never runs; cleanup deletes sooner
    deadline_grace_s: int = 300  # activeDeadlineSeconds = task TTL + this: the platform's TTL fires first
    run_as_user: int = 65532  # a numeric uid, so runAsNonRoot holds even for images that run as root
    gpu_resource: str = "nvidia.com/gpu"  # extended-resource name of the cluster's GPU device plugin
    secret_env: frozenset[str] = SECRET_VARS  # env vars that travel in the Secret
    pending_grace_s: float = 120.0  # a pod may wait this long on an image pull before we call it failed
    unschedulable_grace_s: float = 600.0  # cluster-autoscaler scale-up takes minutes
    log_tail_lines: int = 20_000  # server-side bound on what logs() fetches per container


def label_value(raw: str) -> str:
    """`raw` as a valid label value; anything changed gets a hash suffix so it stays unique."""
    if len(raw) <= _MAX_LABEL and _LABEL_VALUE.match(raw):
        return raw
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", raw)[:52].strip("-_.")
    digest = _digest(raw)
    return f"{stem}-{digest}" if stem else digest


def job_name(job_id: str) -> str:
    """The Job's name: a DNS-1123 label of at most 63 characters (its pods' job-name label)."""
    candidate = f"ty-{job_id}"
    if len(candidate) <= _MAX_LABEL and _DNS_LABEL.match(candidate):
        return candidate
    stem = ("ty-" + re.sub(r"[^a-z0-9-]", "-", job_id.lower()))[:52].rstrip("-")
    return f"{stem}-{_digest(job_id)}"


def secret_name(job_id: str) -> str:
    return f"{job_name(job_id)}-env"


def selector(**labels: str) -> str:
    """An equality label selector, e.g. for list calls."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def managed_selector() -> str:
    return selector(**{MANAGED_BY: PLATFORM, COMPONENT: TRAINER})


def labels(spec: LaunchSpec) -> dict[str, str]:
    """Labels on the Job, its pods and its Secret: for selection and NetworkPolicy."""
    return {
        MANAGED_BY: PLATFORM,
        COMPONENT: TRAINER,
        LABEL_PREFIX + "tenant": label_value(spec.tenant),
        LABEL_PREFIX + "project": label_value(spec.project_id),
        LABEL_PREFIX + "task": label_value(spec.task_id),
        LABEL_PREFIX + "job": label_value(spec.job_id),
        LABEL_PREFIX + "attempt": str(spec.attempt),
    }


def job(spec: LaunchSpec, config: KubernetesConfig) -> Obj:
    """The batch/v1 Job running one attempt. ValidationError if the spec cannot run here."""
    _validate(spec)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(spec, config, name=job_name(spec.job_id)),
        "spec": {
            "backoffLimit": 0,  # the platform owns retries: a failed pod is a failed attempt
            # A pod killed from outside (drain, preemption, eviction by taint, node shutdown) comes back
            # as exit 143 with no reason; the kubelet marks it DisruptionTarget. Failing the Job on that
            # condition keeps its reason (PodFailurePolicy) so the sweep blames infrastructure, not the
            # trainer, and the platform retries it like any infrastructure failure.
            "podFailurePolicy": {
                "rules": [
                    {"action": "FailJob", "onPodConditions": [{"type": DISRUPTION, "status": "True"}]},
                ]
            },
            "activeDeadlineSeconds": math.ceil(spec.ttl_s) + config.deadline_grace_s,
            "ttlSecondsAfterFinished": config.ttl_after_finished_s,
            "template": {"metadata": {"labels": labels(spec)}, "spec": _pod_spec(spec, config)},
        },
    }


def secret(spec: LaunchSpec, config: KubernetesConfig) -> Obj:
    """The per-job Secret holding the env vars named in `config.secret_env` (the job token)."""
    data = {key: value for key, value in sorted(spec.env.items()) if key in config.secret_env}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(spec, config, name=secret_name(spec.job_id)),
        "type": "Opaque",
        "immutable": True,  # a token never changes; immutable Secrets are cheaper for the kubelet too
        "stringData": data,
    }


def owner_patch(*, job: str, uid: str) -> Obj:
    """A merge patch making the Job the Secret's owner (the garbage collector then deletes it)."""
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": uid}
    return {"metadata": {"ownerReferences": [owner]}}


def _metadata(spec: LaunchSpec, config: KubernetesConfig, *, name: str) -> Obj:
    return {
        "name": name,
        "namespace": config.namespace,
        "labels": labels(spec),
        "annotations": {JOB_ID_ANNOTATION: spec.job_id},
    }


def _pod_spec(spec: LaunchSpec, config: KubernetesConfig) -> Obj:
    pod: Obj = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,  # trainers talk to the platform, never to the API server
        "enableServiceLinks": False,  # no env vars describing the namespace's Services
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": config.run_as_user,
            "runAsGroup": config.run_as_user,
            "fsGroup": config.run_as_user,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(spec, config)],
        "volumes": [
            {"name": "scratch", "emptyDir": {"sizeLimit": f"{config.scratch_mb}Mi"}},
            {"name": "tmp", "emptyDir": {"sizeLimit": f"{config.tmp_mb}Mi"}},
        ],
    }
    if config.service_account is not None:
        pod["serviceAccountName"] = config.service_account
    if config.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in config.image_pull_secrets]
    return pod


def _container(spec: LaunchSpec, config: KubernetesConfig) -> Obj:
    container: Obj = {
        "name": CONTAINER,
        "image": spec.image,
        "imagePullPolicy": config.image_pull_policy,
        "env": _env(spec, config),
        "resources": {"requests": _resources(spec, config), "limits": _resources(spec, config)},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # Two volumes, not one with subPaths: kubelet creates subPath dirs root-owned (0750),
        # which a non-root trainer could not write.
        "volumeMounts": [
            {"name": "scratch", "mountPath": SCRATCH},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.args:
        container["args"] = list(spec.args)
    return container


def _env(spec: LaunchSpec, config: KubernetesConfig) -> list[Obj]:
    # With a read-only root, libraries that cache under $HOME (pip, torch, HF) need a writable one.
    values = {"HOME": SCRATCH, **spec.env}
    env: list[Obj] = []
    for key, value in sorted(values.items()):
        if key in config.secret_env:
            ref = {"name": secret_name(spec.job_id), "key": key}
            env.append({"name": key, "valueFrom": {"secretKeyRef": ref}})
        else:
            env.append({"name": key, "value": value})
    return env


def _resources(spec: LaunchSpec, config: KubernetesConfig) -> dict[str, str]:
    # requests == limits: Guaranteed QoS, so the scheduler's view matches the pool budget.
    # ephemeral-storage covers the scratch and tmp emptyDirs: the scheduler places the pod on a
    # node with that much disk, and the kubelet evicts it (not its neighbours) past the limit.
    disk = config.scratch_mb + config.tmp_mb + EPHEMERAL_SLACK_MB
    out = {
        "cpu": f"{max(1, round(spec.cpu * 1000))}m",
        "memory": f"{spec.memory_mb}Mi",
        "ephemeral-storage": f"{disk}Mi",
    }
    if spec.gpu:
        out[config.gpu_resource] = str(spec.gpu)
    return out


def _validate(spec: LaunchSpec) -> None:
    problems: list[Problem] = []
    if not spec.image:
        problems.append(Problem("image", "a Kubernetes job needs a container image"))
    if spec.ttl_s <= 0 or spec.cpu <= 0 or spec.memory_mb <= 0 or spec.gpu < 0:
        problems.append(Problem("resources", "ttl_s, cpu and memory_mb must be positive, gpu >= 0"))
    if spec.attempt < 1:
        problems.append(Problem("attempt", "must be >= 1"))
    if problems:
        raise ValidationError(problems)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()[:10]


def image_noted_patch(image_id: str) -> dict[str, object]:
    """A merge patch of a Job: the platform has recorded the image its pod ran."""
    return {"metadata": {"annotations": {IMAGE_ID_ANNOTATION: image_id}}}
