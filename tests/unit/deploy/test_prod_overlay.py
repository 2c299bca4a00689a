"""The rendered prod overlay holds what a first real deployment needs (issue 12, points 2-6):
regional S3 URLs, a durable broker, a predictor that can become Ready, Kubernetes-classified
failures, configuration that reaches the code, and no HS256 secret anywhere."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from functions.blobs.s3 import S3BlobStore
from functions.bootstrap import kubernetes_config as config_from
from functions.bootstrap import s3_client
from functions.ports import LaunchSpec
from functions.runtimes import manifests as mf
from functions.settings import Settings
from sdk.auth import signing
from tests.unit.deploy.knative_objects import (
    OVERLAYS,
    Obj,
    by_kind,
    enabled_features,
    knative_services,
    rendered,
    required_features,
    template_annotations,
)

PROD = "overlays/prod"


def objects() -> tuple[Obj, ...]:
    return rendered(PROD)


def config() -> dict[str, str]:
    return dict(by_kind(objects(), "ConfigMap")["trainyard-config"]["data"])


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings exactly as a prod function reads them from the ConfigMap (the mounted key file
    rewritten to a temporary copy)."""
    key = tmp_path / "job-key.pem"
    key.write_bytes(signing.new_key_pem())
    for name, value in config().items():
        monkeypatch.setenv(name, str(key) if name == "TRAINYARD_JOB_TOKEN_KEY_FILE" else value)
    monkeypatch.setenv("TRAINYARD_EVENT_KEY", "e" * 32)  # prod's trainyard-secrets holds only this
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return Settings()


def launch_spec(gpu: int = 0) -> LaunchSpec:
    return LaunchSpec(
        job_id="j-1",
        tenant="acme",
        project_id="p",
        task_id="t",
        attempt=1,
        image="r/i:1",
        command=["python"],
        args=[],
        env={},
        cpu=1,
        memory_mb=1024,
        gpu=gpu,
        ttl_s=60,
    )


# -- 2. trainers reach S3 through the endpoint the NetworkPolicy pins -------------------------


def test_issued_urls_name_the_regional_virtual_hosted_bucket(settings: Settings) -> None:
    blobs = S3BlobStore(s3_client(settings), bucket=settings.datasets_bucket)
    host = urlsplit(blobs.presign_get("acme/d.csv", expires_s=60)).hostname
    assert host == f"{settings.datasets_bucket}.s3.{settings.region}.amazonaws.com"


# -- 3. events are durable ------------------------------------------------------------------


def test_the_broker_is_a_kafka_broker_with_replicated_topics() -> None:
    (broker,) = by_kind(objects(), "Broker").values()
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    ref = broker["spec"]["config"]
    assert ref["kind"] == "ConfigMap"
    kafka = by_kind(objects(), "ConfigMap")[ref["name"]]
    assert kafka["metadata"]["namespace"] == ref["namespace"]
    assert kafka["data"]["bootstrap.servers"] and int(kafka["data"]["default.topic.replication.factor"]) >= 3
    assert broker["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] in knative_services(objects())


def test_dev_keeps_the_in_memory_broker_and_says_so() -> None:
    assert "dev" in OVERLAYS
    (broker,) = by_kind(rendered("overlays/dev"), "Broker").values()
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "MTChannelBasedBroker"


# -- 4. the predictor becomes Ready ---------------------------------------------------------


def test_the_embeddings_volume_is_efs_and_filled_by_the_populate_job() -> None:
    predictor = knative_services(objects())["predictor"]["spec"]["template"]["spec"]
    volume = next(v for v in predictor["volumes"] if v["name"] == "embeddings")
    claim_name = volume["persistentVolumeClaim"]["claimName"]
    claim = by_kind(objects(), "PersistentVolumeClaim")[claim_name]
    storage = by_kind(objects(), "StorageClass")[claim["spec"]["storageClassName"]]
    assert storage["provisioner"] == "efs.csi.aws.com"
    file_system = storage["parameters"]["fileSystemId"]
    assert file_system.startswith("fs-") and file_system != "fs-00000000"  # the base's placeholder is replaced
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    inference = next(c for c in predictor["containers"] if c["name"] == "inference")
    env = {e["name"]: e["value"] for e in inference["env"]}
    assert env["TRAINYARD_INFERENCE_MATERIALIZE_EMBEDDINGS"] == "false"
    table_dir = env["TRAINYARD_INFERENCE_EMBEDDINGS_DIR"]
    job = by_kind(objects(), "Job")["trainyard-embeddings"]["spec"]["template"]["spec"]
    (populate,) = job["containers"]
    assert populate["command"] == ["python", "-m", "sdk.models.embeddings", "--out", table_dir]
    mount = next(m for m in populate["volumeMounts"] if m["mountPath"] == table_dir)
    volume = next(v for v in job["volumes"] if v["name"] == mount["name"])
    assert volume["persistentVolumeClaim"] == {"claimName": claim_name} and not mount.get("readOnly")
    assert populate["image"] == next(c["image"] for c in predictor["containers"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_features_enables_every_flag_the_services_need(overlay: str) -> None:
    needed = set().union(*(required_features(s) for s in knative_services(rendered(f"overlays/{overlay}")).values()))
    assert "multi-container-probing" in needed and "kubernetes.podspec-persistent-volume-claim" in needed
    assert needed <= enabled_features()


def test_required_features_notice_what_needs_a_flag() -> None:
    service = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{}],
                    "initContainers": [{}],
                    "volumes": [{"persistentVolumeClaim": {"claimName": "c"}}],
                }
            }
        }
    }
    assert required_features(service) == {
        "kubernetes.podspec-persistent-volume-claim",
        "kubernetes.podspec-persistent-volume-write",
        "kubernetes.podspec-init-containers",
    }


def test_the_predictor_takes_what_one_pod_can_serve() -> None:
    predictor = knative_services(objects())["predictor"]
    concurrency = predictor["spec"]["template"]["spec"]["containerConcurrency"]
    assert 1 <= concurrency <= 32  # measured: one pod saturates around 16 concurrent requests
    assert int(template_annotations(predictor)["autoscaling.knative.dev/target-utilization-percentage"]) < 100


# -- 5. failures are classified like Kubernetes reports them ---------------------------------


def test_trainer_jobs_fail_on_disruption_and_request_their_scratch_disk(settings: Settings) -> None:
    job = mf.job(launch_spec(gpu=1), config_from(settings))
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert {"type": "DisruptionTarget", "status": "True"} in rules[0]["onPodConditions"]
    resources = job["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert "ephemeral-storage" in resources["requests"] and resources["requests"] == resources["limits"]
    assert resources["limits"][settings.kubernetes_gpu_resource] == "1"


# -- 6. configuration reaches production ----------------------------------------------------


def test_pools_include_a_gpu_pool(settings: Settings) -> None:
    assert settings.pools["default"].budget.slots > 4
    assert any(pool.budget.gpu > 0 for pool in settings.pools.values())


def test_trainer_pods_get_the_configured_service_account(settings: Settings) -> None:
    pod = mf.job(launch_spec(), config_from(settings))["spec"]["template"]["spec"]
    account = by_kind(objects(), "ServiceAccount")[pod["serviceAccountName"]]
    assert account["metadata"]["namespace"] == settings.kubernetes_namespace
    assert account["automountServiceAccountToken"] is False
    assert json.loads(config()["TRAINYARD_KUBERNETES_IMAGE_PULL_SECRETS"]) == settings.kubernetes_image_pull_secrets


def test_prod_uses_jwks_and_es256_job_keys_never_hs256(settings: Settings) -> None:
    assert settings.token_secret == "" and settings.jwks_url and settings.job_token_key_file is not None
    assert "TOKEN_SECRET" not in yaml.safe_dump_all(objects())
    # the one Secret in env is the event key's (the boot test gives prod's trainyard-secrets only
    # TRAINYARD_EVENT_KEY, so a function that needed the HS256 secret would not boot there)
    predictor = knative_services(objects())["predictor"]["spec"]["template"]["spec"]["containers"]
    assert all(not c.get("envFrom") for c in predictor)  # the sidecar verifies by JWKS only
