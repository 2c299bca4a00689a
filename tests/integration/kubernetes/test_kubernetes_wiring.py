"""How a cluster deployment builds the runtime from settings (bootstrap.runtime_for)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from functions.runtimes.kubernetes import KubernetesConfig, config_from, from_settings
from functions.settings import Settings
from tests.integration.kubernetes.emulator import NAMESPACE, Cluster
from tests.integration.kubernetes.test_kubernetes_runtime import spec

pytestmark = pytest.mark.integration


class ClusterSettings(Settings):
    """Settings as a deployment may extend them: a kubeconfig and more kubernetes_* knobs."""

    kubeconfig: str | None = None
    kubernetes_image_pull_policy: str = "IfNotPresent"
    kubernetes_image_pull_secrets: list[str] = ["regcred"]


def settings(**values: object) -> ClusterSettings:
    return ClusterSettings(token_secret="0123456789abcdef" * 2, runtime="kubernetes",  # type: ignore[arg-type]
                           event_key="fedcba9876543210" * 2, **values)


def test_kubernetes_fields_of_the_settings_shape_the_config() -> None:
    config = config_from(settings(kubernetes_namespace="ml-jobs"))
    assert config == KubernetesConfig(namespace="ml-jobs", image_pull_policy="IfNotPresent",
                                      image_pull_secrets=("regcred",))


def test_plain_settings_keep_the_defaults_but_the_namespace() -> None:
    plain = Settings(token_secret="0123456789abcdef" * 2, kubernetes_namespace="ns")
    assert config_from(plain) == KubernetesConfig(namespace="ns")


def test_a_runtime_from_settings_talks_to_the_cluster_of_its_kubeconfig(cluster: Cluster, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "emulator",
        "clusters": [{"name": "emulator", "cluster": {"server": cluster.url}}],
        "users": [{"name": "launcher", "user": {"token": "not-checked"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "launcher"}}],
    }))
    runtime = from_settings(settings(kubeconfig=str(kubeconfig), kubernetes_namespace=NAMESPACE))

    runtime.launch(spec("j-1"))

    job = cluster.objects("batch/v1/jobs")["ty-j-1"]
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "regcred"}]
    assert [job_.job_id for job_ in runtime.list()] == ["j-1"]
    request = cluster.requests("post", "v1/secrets")[0]
    assert request.headers["Authorization"] == "Bearer not-checked"
