"""JobRuntime on a Kubernetes cluster: one batch/v1 Job (and its token Secret) per attempt.

Uses the official client with raw JSON responses (`_preload_content=False`): we only read
a few fields, and the raw dicts are what `kube_status` folds into RuntimeJob values.
Every API call goes through `_call`, the one place where client errors become ours.
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config import incluster_config

from functions.domain.runs import RunRecord
from functions.ports import CannotStart, Clock, LaunchSpec, RuntimeJob
from functions.runtimes import LOG_CAP_BYTES, tail
from functions.runtimes import manifests as mf
from functions.runtimes.kube_status import runtime_job, started_containers
from sdk.contracts.errors import Conflict, NotFound, PermanentError, TemporaryError, TrainyardError

__all__ = ["KubernetesConfig", "KubernetesRuntime", "api_client", "connect"]

KubernetesConfig = mf.KubernetesConfig
Obj = dict[str, Any]
Objs = list[Obj]  # an alias: inside the class, `list` is the JobRuntime method

_MERGE_PATCH = "application/merge-patch+json"  # the client's default for dicts is json-patch
_PAGE = 500
_TOKEN_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def api_client(kubeconfig: str | None = None, *, token_dir: Path = _TOKEN_DIR) -> Any:
    """A client for the cluster this runs in (the service-account token and CA the kubelet mounts
    in `token_dir`), or for a kubeconfig file."""
    configuration = k8s.Configuration()
    if kubeconfig is None:
        loader = incluster_config.InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=str(token_dir / "token"), cert_filename=str(token_dir / "ca.crt")
        )
        loader.load_and_set(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, client_configuration=configuration
        )
    return k8s.ApiClient(configuration)


def connect(
    config: KubernetesConfig, *, kubeconfig: str | None = None, token_dir: Path = _TOKEN_DIR
) -> KubernetesRuntime:
    """The runtime of a cluster deployment: in-cluster credentials (the function's ServiceAccount
    token mounted in `token_dir`), or those of a kubeconfig file."""
    return KubernetesRuntime(api_client(kubeconfig, token_dir=token_dir), config, clock=_SystemClock())


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class KubernetesRuntime:
    """Runs attempts as Jobs in `config.namespace`; see `functions.ports.JobRuntime`."""

    def __init__(self, api_client: Any, config: KubernetesConfig, *, clock: Clock) -> None:
        self._batch = k8s.BatchV1Api(api_client)
        self._core = k8s.CoreV1Api(api_client)
        self._config = config
        self._clock = clock

    def launch(self, spec: LaunchSpec) -> RunRecord:
        """Secret, then Job, then the Job owns the Secret. A redelivery finds both (409) and only
        re-applies the owner reference, which a crash may have left unset."""
        if spec.code_dir is not None:
            raise CannotStart("code_dir names a folder on a local machine: on Kubernetes, ship the code in an image")
        job, secret = mf.job(spec, self._config), mf.secret(spec, self._config)
        ns = self._config.namespace
        with contextlib.suppress(Conflict):
            self._call("create secret", self._core.create_namespaced_secret, ns, secret)
        name = job["metadata"]["name"]
        try:
            created = _json(self._call("create job", self._batch.create_namespaced_job, ns, job))
        except Conflict:  # already launched
            created = _json(self._call("read job", self._batch.read_namespaced_job, name, ns))
        except TrainyardError:
            self._delete_secret(spec.job_id)  # nothing will own it
            raise
        uid = (created.get("metadata") or {}).get("uid")
        if not uid:
            raise PermanentError(f"kubernetes: job {name} came back without a uid")
        patch = mf.owner_patch(job=name, uid=str(uid))
        self._call(
            "own secret",
            self._core.patch_namespaced_secret,
            secret["metadata"]["name"],
            ns,
            patch,
            _content_type=_MERGE_PATCH,
        )
        return RunRecord(image=spec.image)  # its digest comes from the pod's imageID (list, note_image)

    def stop(self, job_id: str) -> None:
        """Deliberately nothing: Kubernetes cannot kill a pod's containers without deleting the
        pod, and its logs with it. Cleanup reads the logs and then calls delete(), which kills
        it; until then `activeDeadlineSeconds` bounds a stuck pod."""

    def logs(self, job_id: str, *, full: bool = False) -> bytes:
        """Logs of every started container of the Job's pods (the last LOG_CAP_BYTES unless
        `full`; the kubelet keeps at most `log_tail_lines` lines of each)."""
        pods = self._list_all(
            "list pods", self._core.list_namespaced_pod, mf.selector(**{mf.JOB_NAME_LABEL: mf.job_name(job_id)})
        )
        targets = [
            (pod["metadata"]["name"], container)
            for pod in sorted(pods, key=_created)
            for container in started_containers(pod)
        ]
        chunks = []
        for pod, container in targets:
            try:
                data = self._call(
                    f"logs of {pod}/{container}",
                    self._core.read_namespaced_pod_log,
                    pod,
                    self._config.namespace,
                    container=container,
                    tail_lines=self._config.log_tail_lines,
                )
            except NotFound:
                continue  # the pod went away between the list and the read
            header = f"--- {pod}/{container} ---\n".encode() if len(targets) > 1 else b""
            chunks.append(header + data)
        joined = b"".join(chunks)
        return joined if full else tail(joined, LOG_CAP_BYTES)

    def delete(self, job_id: str) -> None:
        """Delete the Job (its pods follow in the background) and the Secret, in case the
        owner reference never got set. Missing is fine."""
        with contextlib.suppress(NotFound):
            self._call(
                "delete job",
                self._batch.delete_namespaced_job,
                mf.job_name(job_id),
                self._config.namespace,
                propagation_policy="Background",
            )
        self._delete_secret(job_id)

    def list(self) -> list[RuntimeJob]:
        """Every Job of ours in the namespace, with what its pods say (two list calls in all)."""
        jobs = self._list_all("list jobs", self._batch.list_namespaced_job, mf.managed_selector())
        pods = self._list_all("list pods", self._core.list_namespaced_pod, mf.managed_selector())
        by_job: dict[str, Objs] = defaultdict(lambda: [])
        for pod in pods:
            by_job[(pod["metadata"].get("labels") or {}).get(mf.JOB_NAME_LABEL, "")].append(pod)
        now = self._clock.now()
        return [runtime_job(job, by_job[job["metadata"]["name"]], now=now, config=self._config) for job in jobs]

    def note_image(self, job_id: str, image_id: str) -> None:
        """Annotate the Job with the imageID the platform recorded (list() then says so)."""
        with contextlib.suppress(NotFound):
            self._call(
                "annotate job",
                self._batch.patch_namespaced_job,
                mf.job_name(job_id),
                self._config.namespace,
                mf.image_noted_patch(image_id),
                _content_type=_MERGE_PATCH,
            )

    def _delete_secret(self, job_id: str) -> None:
        with contextlib.suppress(NotFound):
            self._call(
                "delete secret", self._core.delete_namespaced_secret, mf.secret_name(job_id), self._config.namespace
            )

    def _list_all(self, what: str, fn: Callable[..., Any], selector: str) -> Objs:
        items: Objs = []
        token: str | None = None
        while True:
            page = _json(
                self._call(what, fn, self._config.namespace, label_selector=selector, limit=_PAGE, _continue=token)
            )
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return items

    @staticmethod
    def _call(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        """Call the API; the ONE place where client errors are translated."""
        try:
            response = fn(*args, _preload_content=False, **kwargs)
            return bytes(response.data)
        except k8s.ApiException as exc:
            raise _translate(what, exc) from exc
        except urllib3.exceptions.HTTPError as exc:  # connection refused, reset, timed out
            raise TemporaryError(f"kubernetes: {what}: {exc}") from exc


def _translate(what: str, exc: Any) -> TrainyardError:
    status = int(exc.status or 0)
    detail = f"kubernetes: {what}: {status} {exc.reason}"
    if status == 404:
        return NotFound("kubernetes object", what)
    if status == 409:
        return Conflict(detail)
    if status in (401, 429) or status >= 500:  # token rotation, throttling, a busy API server
        return TemporaryError(detail, delay_s=_retry_after(exc))
    return PermanentError(detail)  # 400/403/422: a bad object or missing RBAC; retrying cannot help


def _retry_after(exc: Any) -> float:
    headers = exc.headers or {}
    try:
        return max(1.0, float(headers.get("Retry-After", 1)))
    except ValueError:
        return 1.0


def _json(data: bytes) -> Obj:
    decoded = json.loads(data or b"{}")
    if not isinstance(decoded, dict):
        raise PermanentError("kubernetes: expected a JSON object")
    return decoded


def _created(pod: Obj) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return str(meta.get("creationTimestamp") or ""), str(meta.get("name") or "")
