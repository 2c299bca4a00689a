"""How a cluster deployment builds the runtime from settings (bootstrap.runtime_for): typed
TRAINYARD_KUBERNETES_* fields, no reflection, in-cluster credentials, and no runtime for the
functions whose ServiceAccounts mount no token."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from functions import bootstrap
from functions.runtimes.absent import AbsentRuntime
from functions.runtimes.kubernetes import KubernetesConfig, KubernetesRuntime
from functions.settings import Settings
from sdk.contracts.errors import PermanentError
from tests.integration.kubernetes.emulator import NAMESPACE, Cluster, in_cluster
from tests.integration.kubernetes.test_kubernetes_runtime import spec

pytestmark = pytest.mark.integration


def settings(**values: object) -> Settings:
    return Settings(
        token_secret="0123456789abcdef" * 2,
        runtime="kubernetes",  # type: ignore[arg-type]
        event_key="fedcba9876543210" * 2,
        **values,
    )


def test_kubernetes_fields_of_the_settings_shape_the_config() -> None:
    config = bootstrap.kubernetes_config(
        settings(
            kubernetes_namespace="ml-jobs",
            kubernetes_image_pull_policy="IfNotPresent",
            kubernetes_image_pull_secrets=["regcred"],
        )
    )
    assert config == KubernetesConfig(
        namespace="ml-jobs", image_pull_policy="IfNotPresent", image_pull_secrets=("regcred",)
    )


def test_every_config_field_has_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each KubernetesConfig field is a real, typed TRAINYARD_KUBERNETES_* setting (read from the environment)."""
    monkeypatch.setenv("TRAINYARD_KUBERNETES_SCRATCH_MB", "2048")
    monkeypatch.setenv("TRAINYARD_KUBERNETES_IMAGE_PULL_SECRETS", '["a", "b"]')
    monkeypatch.setenv("TRAINYARD_KUBERNETES_SERVICE_ACCOUNT", "trainer")
    config = bootstrap.kubernetes_config(settings())
    assert (config.scratch_mb, config.image_pull_secrets, config.service_account) == (2048, ("a", "b"), "trainer")
    assert set(KubernetesConfig.__dataclass_fields__) - {"secret_env"} <= {
        name.removeprefix("kubernetes_") for name in Settings.model_fields
    }


def test_a_mistyped_kubernetes_setting_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="kubernetes_image_pull_policy"):
        settings(kubernetes_image_pull_policy="Sometimes")


def test_plain_settings_keep_the_defaults_but_the_namespace() -> None:
    plain = Settings(token_secret="0123456789abcdef" * 2, kubernetes_namespace="ns")
    assert bootstrap.kubernetes_config(plain) == KubernetesConfig(namespace="ns")


def test_a_runtime_from_settings_talks_to_the_cluster_of_its_kubeconfig(cluster: Cluster, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "emulator",
                "clusters": [{"name": "emulator", "cluster": {"server": cluster.url}}],
                "users": [{"name": "launcher", "user": {"token": "not-checked"}}],
                "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "launcher"}}],
            }
        )
    )
    runtime = bootstrap.runtime_for(
        settings(kubeconfig=str(kubeconfig), kubernetes_namespace=NAMESPACE, kubernetes_image_pull_secrets=["regcred"])
    )
    assert isinstance(runtime, KubernetesRuntime)

    runtime.launch(spec("j-1"))

    job = cluster.objects("batch/v1/jobs")["ty-j-1"]
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert [job_.job_id for job_ in runtime.list()] == ["j-1"]
    request = cluster.requests("post", "v1/secrets")[0]
    assert request.headers["Authorization"] == "Bearer not-checked"


def test_a_runtime_from_settings_uses_the_mounted_service_account_token(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with in_cluster(cluster, tmp_path / "sa", token="sa-token") as env:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        runtime = bootstrap.runtime_for(
            settings(kubernetes_namespace=NAMESPACE, kubernetes_token_dir=tmp_path / "sa"), "sweep"
        )
        runtime.launch(spec("j-1"))
        assert [job_.job_id for job_ in runtime.list()] == ["j-1"]
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
