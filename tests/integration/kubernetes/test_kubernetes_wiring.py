"""How a cluster deployment builds the runtime from settings (bootstrap.runtime_for): the
TRAINYARD_KUBERNETES_* fields, in-cluster credentials, and no runtime where none is given."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions import bootstrap
from functions.runtimes.absent import AbsentRuntime
from functions.runtimes.kubernetes import KubernetesConfig, config_from, from_settings
from functions.settings import Settings
from sdk.errors import PermanentError
from tests.integration.kubernetes.emulator import NAMESPACE, Cluster, in_cluster
from tests.integration.kubernetes.test_kubernetes_runtime import spec

pytestmark = pytest.mark.integration
SECRET = "0123456789abcdef" * 2


def settings(**values: object) -> Settings:
    return Settings(token_secret=SECRET, runtime="kubernetes", **values)  # type: ignore[arg-type]


def test_kubernetes_fields_of_the_settings_shape_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINYARD_KUBERNETES_IMAGE_PULL_SECRETS", '["regcred"]')
    monkeypatch.setenv("TRAINYARD_KUBERNETES_SERVICE_ACCOUNT", "trainer")
    monkeypatch.setenv("TRAINYARD_KUBERNETES_GPU_RESOURCE", "amd.com/gpu")
    config = config_from(settings(kubernetes_namespace="ml-jobs"))
    assert config == KubernetesConfig(namespace="ml-jobs", image_pull_secrets=("regcred",),
                                      service_account="trainer", gpu_resource="amd.com/gpu")


def test_plain_settings_keep_the_defaults_but_the_namespace() -> None:
    plain = Settings(token_secret=SECRET, kubernetes_namespace="ns")
    assert config_from(plain) == KubernetesConfig(namespace="ns")


def test_a_runtime_from_settings_uses_the_mounted_service_account_token(
        cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with in_cluster(cluster, tmp_path / "sa", token="sa-token") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        runtime = from_settings(settings(kubernetes_namespace=NAMESPACE, kubernetes_token_dir=tmp_path / "sa",
                                         kubernetes_image_pull_secrets=["regcred"]))
        runtime.launch(spec("j-1"))
        assert [job_.job_id for job_ in runtime.list()] == ["j-1"]

    job = cluster.objects("batch/v1/jobs")["ty-j-1"]
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    request = cluster.requests("post", "v1/secrets")[0]
    assert request.headers["Authorization"].lower() == "bearer sa-token"


@pytest.mark.parametrize("function", ["api", "create", "report"])
def test_functions_without_a_service_account_token_get_no_runtime(function: str, tmp_path: Path) -> None:
    runtime = bootstrap.runtime_for(settings(kubernetes_token_dir=tmp_path / "not-mounted"), function)
    assert isinstance(runtime, AbsentRuntime)
    with pytest.raises(PermanentError, match=f"the {function} function has no job runtime"):
        runtime.logs("j-1")


@pytest.mark.parametrize("function", sorted(bootstrap.RUNTIME_FUNCTIONS))
def test_runtime_functions_need_the_mounted_token(function: str, tmp_path: Path) -> None:
    from kubernetes.config import ConfigException

    with pytest.raises(ConfigException):
        bootstrap.runtime_for(settings(kubernetes_token_dir=tmp_path / "not-mounted"), function)
