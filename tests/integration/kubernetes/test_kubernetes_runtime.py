"""KubernetesRuntime with the real `kubernetes` client against the kmock emulator on 127.0.0.1."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from functions.ports import LaunchSpec, RuntimeJob, RuntimeStatus
from functions.runtimes import manifests as mf
from functions.runtimes.kubernetes import KubernetesConfig, KubernetesRuntime
from sdk.contracts.errors import PermanentError, TemporaryError, ValidationError
from tests.integration.kubernetes.emulator import NAMESPACE, NOW, Cluster

pytestmark = pytest.mark.integration

JOBS, PODS, SECRETS = "batch/v1/jobs", "v1/pods", "v1/secrets"


class FixedClock:
    def __init__(self) -> None:
        self.now_ = NOW

    def now(self) -> Any:
        return self.now_


def spec(job_id: str = "j-1", **changes: Any) -> LaunchSpec:
    fields: dict[str, Any] = dict(
        job_id=job_id,
        tenant="acme",
        project_id="p-1",
        task_id="t-1",
        attempt=1,
        image="registry.example/trainer:1",
        command=["python", "-m", "train"],
        args=["--epochs", "3"],
        env={"TRAINYARD_JOB_ID": job_id, "TRAINYARD_TOKEN": "secret-token"},
        cpu=0.5,
        memory_mb=512,
        gpu=0,
        ttl_s=600,
    )
    return LaunchSpec(**{**fields, **changes})


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def runtime(cluster: Cluster, clock: FixedClock) -> KubernetesRuntime:
    return KubernetesRuntime(cluster.client, KubernetesConfig(namespace=NAMESPACE), clock=clock)


def add_pod(
    cluster: Cluster, job_id: str, name: str, *, status: dict[str, Any], created: str = "2026-01-01T11:59:00Z"
) -> None:
    """Play the Job controller and kubelet: a pod with the Job's labels and a status."""
    labels = {**mf.labels(spec(job_id)), mf.JOB_NAME_LABEL: mf.job_name(job_id)}
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels, "creationTimestamp": created},
        "spec": {"containers": [{"name": "trainer", "image": "x"}]},
        "status": status,
    }
    cluster.core.create_namespaced_pod(NAMESPACE, pod, _preload_content=False)


def container(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """A containerStatuses entry as a kubelet writes it (the client insists on every required field)."""
    return {"name": name, "state": state, "image": "x", "imageID": "", "ready": "running" in state, "restartCount": 0}


def running(*names: str) -> dict[str, Any]:
    return {"phase": "Running", "containerStatuses": [container(n, {"running": {}}) for n in names]}


def test_launch_creates_the_secret_then_the_job_and_the_job_owns_the_secret(
    cluster: Cluster, runtime: KubernetesRuntime
) -> None:
    runtime.launch(spec("j-1"))

    job = cluster.objects(JOBS)["ty-j-1"]
    secret = cluster.objects(SECRETS)["ty-j-1-env"]
    built = mf.job(spec("j-1"), KubernetesConfig(namespace=NAMESPACE))
    assert job["spec"] == built["spec"]  # what the server got is what the pure builder made
    assert secret["stringData"] == {"TRAINYARD_TOKEN": "secret-token"}
    assert secret["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "ty-j-1", "uid": job["metadata"]["uid"]}
    ]
    posts = [r.url.path for r in cluster.api["post"]]
    assert posts == [f"/api/v1/namespaces/{NAMESPACE}/secrets", f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"]
    patch = cluster.requests("patch", SECRETS)[0]
    assert patch.headers["Content-Type"] == "application/merge-patch+json"


def test_a_redelivered_launch_is_already_launched_and_keeps_one_job(
    cluster: Cluster, runtime: KubernetesRuntime
) -> None:
    runtime.launch(spec("j-1"))
    uid = cluster.objects(JOBS)["ty-j-1"]["metadata"]["uid"]

    runtime.launch(spec("j-1"))  # 409 on both creates: no error

    assert list(cluster.objects(JOBS)) == ["ty-j-1"]
    assert cluster.objects(JOBS)["ty-j-1"]["metadata"]["uid"] == uid
    assert cluster.objects(SECRETS)["ty-j-1-env"]["metadata"]["ownerReferences"][0]["uid"] == uid


def test_a_launch_that_crashed_before_the_owner_patch_is_completed_on_redelivery(
    cluster: Cluster, runtime: KubernetesRuntime
) -> None:
    config = KubernetesConfig(namespace=NAMESPACE)
    cluster.core.create_namespaced_secret(NAMESPACE, mf.secret(spec("j-1"), config), _preload_content=False)
    cluster.batch.create_namespaced_job(NAMESPACE, mf.job(spec("j-1"), config), _preload_content=False)

    runtime.launch(spec("j-1"))

    uid = cluster.objects(JOBS)["ty-j-1"]["metadata"]["uid"]
    assert cluster.objects(SECRETS)["ty-j-1-env"]["metadata"]["ownerReferences"][0]["uid"] == uid


def test_a_rejected_job_removes_its_secret_and_is_permanent(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    cluster.api["post", cluster.api.resource(JOBS)] << 422 << {"kind": "Status", "code": 422, "reason": "Invalid"}
    with pytest.raises(PermanentError, match="422"):
        runtime.launch(spec("j-1"))
    assert "ty-j-1-env" not in cluster.objects(SECRETS)


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, TemporaryError), (429, TemporaryError), (401, TemporaryError), (403, PermanentError), (400, PermanentError)],
)
def test_api_errors_are_translated_by_meaning(
    cluster: Cluster, runtime: KubernetesRuntime, status: int, error: type[Exception]
) -> None:
    cluster.api["post", cluster.api.resource(SECRETS)] << status << {"kind": "Status", "code": status}
    with pytest.raises(error, match=str(status)) as info:
        runtime.launch(spec("j-1"))
    assert type(info.value) is error


def test_throttling_says_when_to_come_back(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    cluster.api["post", cluster.api.resource(SECRETS)] << 429 << {"Retry-After": "7"} << {"kind": "Status"}
    with pytest.raises(TemporaryError) as info:
        runtime.launch(spec("j-1"))
    assert info.value.delay_s == 7.0


def test_an_unreachable_api_server_is_a_temporary_error(clock: FixedClock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        configuration = k8s.Configuration(host=f"http://127.0.0.1:{port}")
        configuration.retries = 0
        with k8s.ApiClient(configuration) as api_client:
            runtime = KubernetesRuntime(api_client, KubernetesConfig(namespace=NAMESPACE), clock=clock)
            with pytest.raises(TemporaryError):
                runtime.list()


def test_a_spec_without_an_image_is_refused_before_anything_is_created(
    cluster: Cluster, runtime: KubernetesRuntime
) -> None:
    with pytest.raises(ValidationError, match="image"):
        runtime.launch(spec("j-1", image=""))
    assert len(cluster.api["post"]) == 0


def test_list_selects_our_jobs_by_label_and_maps_pod_states(
    cluster: Cluster, runtime: KubernetesRuntime, clock: FixedClock
) -> None:
    for job_id in ("j-run", "j-done", "j-oom", "j-pull", "j-new"):
        runtime.launch(spec(job_id))
    foreign = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "not-ours", "namespace": NAMESPACE},
        "spec": {"template": {"spec": {"containers": []}}},
    }
    cluster.batch.create_namespaced_job(NAMESPACE, foreign, _preload_content=False)
    add_pod(cluster, "j-run", "ty-j-run-abcde", status=running("trainer"))
    cluster.batch.patch_namespaced_job_status(
        "ty-j-done", NAMESPACE, {"status": {"succeeded": 1}}, _content_type="application/merge-patch+json"
    )
    oom = {
        "phase": "Failed",
        "containerStatuses": [container("trainer", {"terminated": {"exitCode": 137, "reason": "OOMKilled"}})],
    }
    add_pod(cluster, "j-oom", "ty-j-oom-abcde", status=oom)
    pull = {
        "phase": "Pending",
        "containerStatuses": [
            container("trainer", {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}})
        ],
    }
    add_pod(cluster, "j-pull", "ty-j-pull-abcde", status=pull, created="2026-01-01T11:50:00Z")

    listed = {job.job_id: job for job in runtime.list()}

    assert listed == {
        "j-run": RuntimeJob("j-run", RuntimeStatus.RUNNING),
        "j-done": RuntimeJob("j-done", RuntimeStatus.EXITED, exit_code=0),
        "j-oom": RuntimeJob("j-oom", RuntimeStatus.EXITED, exit_code=137, reason="OOMKilled"),
        "j-pull": RuntimeJob("j-pull", RuntimeStatus.PENDING, reason="ImagePullBackOff: not found"),
        "j-new": RuntimeJob("j-new", RuntimeStatus.PENDING),
    }
    selectors = {r.params.get("labelSelector") for r in cluster.api["get"] if r.url.path.endswith(("/jobs", "/pods"))}
    assert selectors == {"app.kubernetes.io/component=trainer,app.kubernetes.io/managed-by=trainyard"}


def test_a_pull_problem_is_not_a_reason_before_its_grace(
    cluster: Cluster, runtime: KubernetesRuntime, clock: FixedClock
) -> None:
    runtime.launch(spec("j-1"))
    pull = {
        "phase": "Pending",
        "containerStatuses": [container("trainer", {"waiting": {"reason": "ErrImagePull", "message": "timeout"}})],
    }
    add_pod(cluster, "j-1", "ty-j-1-abcde", status=pull, created="2026-01-01T11:59:00Z")
    assert runtime.list() == [RuntimeJob("j-1", RuntimeStatus.PENDING)]
    clock.now_ = NOW + timedelta(minutes=5)
    assert runtime.list()[0].reason == "ErrImagePull: timeout"


def test_logs_read_every_started_container_of_the_jobs_pods(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    runtime.launch(spec("j-1"))
    status = running("trainer", "helper")
    status["containerStatuses"].append(container("never", {"waiting": {"reason": "PodInitializing"}}))
    add_pod(cluster, "j-1", "ty-j-1-abcde", status=status)
    add_pod(cluster, "j-2", "ty-j-2-abcde", status=running("trainer"))  # another job's pod
    cluster.logs.update(
        {
            ("ty-j-1-abcde", "trainer"): b"epoch 1\n",
            ("ty-j-1-abcde", "helper"): b"ok\n",
            ("ty-j-2-abcde", "trainer"): b"not mine\n",
        }
    )

    out = runtime.logs("j-1")

    assert out == b"--- ty-j-1-abcde/trainer ---\nepoch 1\n--- ty-j-1-abcde/helper ---\nok\n"
    reads = [r for r in cluster.api["get"] if r.url.path.endswith("/log")]
    assert {r.params["tailLines"] for r in reads} == {"20000"}


def test_logs_of_a_single_container_are_returned_as_is(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    runtime.launch(spec("j-1"))
    add_pod(cluster, "j-1", "ty-j-1-abcde", status=running("trainer"))
    cluster.logs[("ty-j-1-abcde", "trainer")] = b"only line\n"
    assert runtime.logs("j-1") == b"only line\n"


def test_logs_of_an_unknown_job_are_empty(runtime: KubernetesRuntime) -> None:
    assert runtime.logs("j-missing") == b""


def test_stop_keeps_the_job_and_its_logs(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    runtime.launch(spec("j-1"))
    add_pod(cluster, "j-1", "ty-j-1-abcde", status=running("trainer"))
    cluster.logs[("ty-j-1-abcde", "trainer")] = b"still here\n"
    runtime.stop("j-1")
    assert "ty-j-1" in cluster.objects(JOBS)
    assert runtime.logs("j-1") == b"still here\n"


def test_delete_removes_the_job_in_the_background_and_its_secret(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    runtime.launch(spec("j-1"))

    runtime.delete("j-1")

    assert cluster.objects(JOBS) == {} and cluster.objects(SECRETS) == {}
    delete = cluster.requests("delete", JOBS)[0]
    assert (
        delete.params.get("propagationPolicy") == "Background"
        or (delete.data or {}).get("propagationPolicy") == "Background"
    )
    assert runtime.list() == []


def test_delete_of_a_missing_job_is_fine(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    runtime.delete("j-missing")  # 404 on both deletes
    runtime.stop("j-missing")
    assert len(cluster.requests("delete", JOBS)) == 1 and len(cluster.requests("delete", SECRETS)) == 1


IMAGE_ID = "registry.example/trainer@sha256:" + "5e" * 32


def test_the_pods_image_id_is_listed_until_the_platform_noted_it(cluster: Cluster, runtime: KubernetesRuntime) -> None:
    record = runtime.launch(spec("j-1"))
    assert record.image == "registry.example/trainer:1" and record.image_id is None  # the pod resolves it
    [pending] = runtime.list()
    assert (pending.image_id, pending.image_recorded) == ("", False)  # no pod yet: nothing to record
    status = running("trainer")
    status["containerStatuses"][0]["imageID"] = IMAGE_ID
    add_pod(cluster, "j-1", "ty-j-1-abcde", status=status)
    [seen] = runtime.list()
    assert (seen.image_id, seen.image_recorded) == (IMAGE_ID, False)

    runtime.note_image("j-1", IMAGE_ID)

    [noted] = runtime.list()
    assert (noted.image_id, noted.image_recorded) == (IMAGE_ID, True)
    annotations = cluster.objects(JOBS)["ty-j-1"]["metadata"]["annotations"]
    assert annotations[mf.IMAGE_ID_ANNOTATION] == IMAGE_ID
    assert cluster.requests("patch", JOBS)[0].headers["Content-Type"] == "application/merge-patch+json"
    runtime.note_image("gone", IMAGE_ID)  # a Job deleted meanwhile: fine


def test_every_call_the_runtime_makes_is_allowed_by_the_knative_role(cluster: Cluster, clock: FixedClock) -> None:
    api_client: Any = k8s.ApiClient(k8s.Configuration(host=cluster.url))
    api_client.user_agent = "trainyard-runtime-under-test"  # tells its requests from the test's own
    runtime = KubernetesRuntime(api_client, KubernetesConfig(namespace=NAMESPACE), clock=clock)
    runtime.launch(spec("j-1"))
    runtime.launch(spec("j-1"))
    add_pod(cluster, "j-1", "ty-j-1-abcde", status=running("trainer"))
    cluster.logs[("ty-j-1-abcde", "trainer")] = b"x"
    runtime.list()
    runtime.note_image("j-1", IMAGE_ID)
    runtime.logs("j-1")
    runtime.stop("j-1")
    runtime.delete("j-1")
    runtime.delete("j-1")
    api_client.close()

    verbs = {"POST": "create", "PATCH": "patch", "DELETE": "delete"}
    used = set()
    for request in cluster.api[{"User-Agent": "trainyard-runtime-under-test"}]:
        assert request.namespace == NAMESPACE  # the Role is namespaced: nothing cluster-wide
        verb = verbs.get(request.method.upper()) or ("get" if request.name else "list")
        assert request.resource is not None
        resource = f"{request.resource.plural}" + (f"/{request.subresource}" if request.subresource else "")
        used.add((request.resource.group, resource, verb))
    rbac = yaml.safe_load_all((Path(__file__).parents[3] / "knative/base/cluster/rbac.yaml").read_text())
    (role,) = [doc for doc in rbac if doc["kind"] == "Role"]
    allowed = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    assert used <= allowed
    # ...and grants nothing more, but `get` on single pods (the grant; operators reading a
    # trainer's pod under the same identity need it).
    assert allowed - used == {("", "pods", "get")}
