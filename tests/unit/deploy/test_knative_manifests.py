"""knative/: every object valid against its schema (strict), plus the rules the schemas cannot
express. The base is read from its files; the overlays are rendered by `kubectl kustomize`."""

from __future__ import annotations

import copy
import ipaddress
import zoneinfo
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from functions.ports import LaunchSpec
from functions.routing import ROUTES
from functions.runtimes import manifests as mf
from sdk.contracts.events import EventType
from tests.unit.deploy.knative_objects import (
    OVERLAYS,
    Obj,
    base_objects,
    by_kind,
    knative_services,
    rendered,
    template_annotations,
)
from tests.unit.deploy.validation import validate

ROOT = Path(__file__).resolve().parents[3]

TARGETS = ["base", *(f"overlays/{name}" for name in OVERLAYS)]
LOCKED = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
NEVER_COLD = {"api", "launch", "report", "predictor"}  # outside dev: see the comments in the YAML
K8S_API_USERS = {"launch", "cleanup", "sweep"}
MIN_SCALE = "autoscaling.knative.dev/min-scale"
DEAD_LETTER = "dead-letter"  # records what exhausted its retries; routed by no Trigger
FUNCTIONS = {*ROUTES, "api", DEAD_LETTER}  # the Services built from the one functions image


@pytest.fixture(params=TARGETS)
def objects(request: pytest.FixtureRequest) -> tuple[Obj, ...]:
    return base_objects() if request.param == "base" else rendered(request.param)


def test_every_object_is_valid_against_its_schema(objects: tuple[Obj, ...]) -> None:
    problems = []
    for obj in objects:
        try:
            validate(obj)
        except Exception as exc:  # collect them all: one run shows every broken object
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {getattr(exc, 'message', exc)}")
    assert problems == []


def test_one_service_per_function_from_one_image(objects: tuple[Obj, ...]) -> None:
    services = knative_services(objects)
    assert set(services) == FUNCTIONS | {"predictor"}
    images = set()
    for name in FUNCTIONS:
        (container,) = services[name]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["FUNCTION_TARGET"] == name.replace("-", "_")  # a Python function name
        assert env["FUNCTION_SIGNATURE_TYPE"] == ("http" if name == "api" else "cloudevent")
        assert services[name]["spec"]["template"]["spec"]["serviceAccountName"] == f"trainyard-{name}"
        images.add(container["image"])
    assert len(images) == 1


def test_autoscaling_is_on_concurrency_within_bounds(objects: tuple[Obj, ...]) -> None:
    for name, service in knative_services(objects).items():
        notes = template_annotations(service)
        low, high = int(notes[MIN_SCALE]), int(notes["autoscaling.knative.dev/max-scale"])
        assert notes["autoscaling.knative.dev/metric"] == "concurrency", name
        # a target, or a hard containerConcurrency that the target defaults to (a share of it)
        hard = service["spec"]["template"]["spec"].get("containerConcurrency", 0)
        assert int(notes.get("autoscaling.knative.dev/target", hard)) >= 1, name
        assert 0 <= low <= high, name


@pytest.mark.parametrize("target", ["base", "overlays/prod"])
def test_latency_critical_services_never_scale_to_zero(target: str) -> None:
    objects = base_objects() if target == "base" else rendered(target)
    for name in NEVER_COLD:
        assert int(template_annotations(knative_services(objects)[name])[MIN_SCALE]) >= 1, name


def test_the_predictor_is_never_cold_anywhere(objects: tuple[Obj, ...]) -> None:
    assert int(template_annotations(knative_services(objects)["predictor"])[MIN_SCALE]) >= 1


def test_only_the_api_and_the_predictor_are_reachable_from_outside(objects: tuple[Obj, ...]) -> None:
    for name, service in knative_services(objects).items():
        visibility = service["metadata"].get("labels", {}).get("networking.knative.dev/visibility")
        assert visibility == (None if name in {"api", "predictor"} else "cluster-local"), name


def test_every_container_is_locked_down(objects: tuple[Obj, ...]) -> None:
    for name, service in knative_services(objects).items():
        for container in service["spec"]["template"]["spec"]["containers"]:
            assert container["securityContext"] == LOCKED, (name, container["name"])


def test_the_predictor_is_two_containers_behind_one_port(objects: tuple[Obj, ...]) -> None:
    spec = knative_services(objects)["predictor"]["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    assert set(containers) == {"sidecar", "inference"}
    ports = [port for c in containers.values() for port in c.get("ports", [])]
    assert len(ports) == 1 and "ports" in containers["sidecar"]  # Knative routes to exactly one port
    assert all("readinessProbe" in c for c in containers.values())
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["embeddings"]["persistentVolumeClaim"]["readOnly"] is True
    assert "sizeLimit" in volumes["model-cache"]["emptyDir"]
    mounts = [m for c in containers.values() for m in c["volumeMounts"]]
    assert all(m.get("readOnly") for m in mounts if m["name"] == "embeddings")
    assert {c for c, body in containers.items() if any(m["name"] == "model-cache" for m in body["volumeMounts"])} == {
        "sidecar",
        "inference",
    }
    claim = by_kind(objects, "PersistentVolumeClaim")[volumes["embeddings"]["persistentVolumeClaim"]["claimName"]]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]  # the populate Job writes; the predictor cannot


def test_every_trigger_names_an_existing_broker_and_subscriber(objects: tuple[Obj, ...]) -> None:
    brokers, services = by_kind(objects, "Broker"), knative_services(objects)
    triggers = by_kind(objects, "Trigger")
    assert triggers
    for name, trigger in triggers.items():
        spec = trigger["spec"]
        assert spec.get("broker") in brokers, name  # the webhook defaults it; we never rely on that
        assert brokers[spec["broker"]]["metadata"]["namespace"] == trigger["metadata"]["namespace"]
        assert spec["subscriber"]["ref"]["name"] in services, name
        delivery = spec["delivery"]
        assert delivery["retry"] >= 1 and delivery["backoffPolicy"] == "exponential", name
        assert delivery["deadLetterSink"]["ref"]["name"] == DEAD_LETTER, name
    assert DEAD_LETTER not in {t["spec"]["subscriber"]["ref"]["name"] for t in triggers.values()}
    (broker,) = brokers.values()
    assert broker["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] == DEAD_LETTER


def test_the_sweep_ticks_every_minute_in_an_explicit_zone_through_the_broker(objects: tuple[Obj, ...]) -> None:
    (ping,) = by_kind(objects, "PingSource").values()
    zoneinfo.ZoneInfo(ping["spec"]["timezone"])  # a real IANA zone
    assert ping["spec"]["schedule"] == "* * * * *"
    sink = ping["spec"]["sink"]["ref"]
    assert sink["kind"] == "Broker" and sink["name"] in by_kind(objects, "Broker")
    assert EventType.PING in ROUTES["sweep"]


def test_rbac_is_namespaced_and_exactly_what_the_runtime_needs(objects: tuple[Obj, ...]) -> None:
    kinds = {obj["kind"] for obj in objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    (role,) = by_kind(objects, "Role").values()
    assert role["metadata"]["namespace"] == mf.KubernetesConfig().namespace
    rules = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert rules == {("batch", "jobs", v) for v in ("create", "get", "list", "delete", "patch")} | {
        ("", "pods", v) for v in ("get", "list")
    } | {("", "pods/log", "get")} | {("", "secrets", v) for v in ("create", "delete", "patch")}
    (binding,) = by_kind(objects, "RoleBinding").values()
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert {s["name"] for s in binding["subjects"]} == {f"trainyard-{n}" for n in K8S_API_USERS}
    accounts = by_kind(objects, "ServiceAccount")
    for name, account in accounts.items():
        assert account["automountServiceAccountToken"] is (name.removeprefix("trainyard-") in K8S_API_USERS)


def test_trainer_pods_get_no_ingress_and_only_dns_the_platform_and_s3(objects: tuple[Obj, ...]) -> None:
    policy = by_kind(objects, "NetworkPolicy")["trainers"]
    spec = LaunchSpec(
        job_id="j-1",
        tenant="t",
        project_id="p",
        task_id="t",
        attempt=1,
        image="i",
        command=[],
        args=[],
        env={},
        cpu=1,
        memory_mb=64,
        gpu=0,
        ttl_s=1,
    )
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= mf.labels(spec).items()
    assert policy["metadata"]["namespace"] == mf.KubernetesConfig().namespace
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and policy["spec"]["ingress"] == []
    ports = {(p["protocol"], p["port"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53), ("TCP", 8081), ("TCP", 443)}
    deny = by_kind(objects, "NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def test_functions_a_trainer_pod_can_reach_refuse_unsigned_events(objects: tuple[Obj, ...]) -> None:
    """Issue 9, point 2, in the cluster. A NetworkPolicy cannot tell Hosts apart, so a trainer
    pod that reaches the gateway for the API could name a function's Host too. The functions
    therefore verify the platform's signature on every tenant event: each function Service
    runs with TRAINYARD_RUNTIME=kubernetes, where Settings refuse to start without the event
    key, and gets the key from the trainyard-secrets Secret (never the ConfigMap)."""
    from functions.settings import Settings

    config = by_kind(objects, "ConfigMap")["trainyard-config"]["data"]
    assert config["TRAINYARD_RUNTIME"] == "kubernetes"
    assert not any(k.startswith("TRAINYARD_EVENT_KEY") for k in config)  # a secret is not configuration
    with pytest.raises(ValueError, match="TRAINYARD_EVENT_KEY"):
        Settings(token_secret="x" * 32, runtime="kubernetes")
    for name, service in knative_services(objects).items():
        if name not in FUNCTIONS - {DEAD_LETTER}:
            continue
        [container] = service["spec"]["template"]["spec"]["containers"]
        sources = container.get("envFrom", [])
        assert {"configMapRef": {"name": "trainyard-config"}} in sources, name
        assert {"secretRef": {"name": "trainyard-secrets"}} in sources, name
    readme = (ROOT / "README.md").read_text()  # the deploy steps: README, "Deploy to a cluster"
    assert "--from-literal=TRAINYARD_EVENT_KEY=" in readme


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_pin_s3_egress_to_private_endpoint_cidrs(overlay: str) -> None:
    egress = by_kind(rendered(f"overlays/{overlay}"), "NetworkPolicy")["trainers"]["spec"]["egress"]
    blocks = [peer["ipBlock"]["cidr"] for rule in egress for peer in rule["to"] if "ipBlock" in peer]
    assert blocks and "192.0.2.1/32" not in blocks  # the base placeholder must be replaced
    assert all(ipaddress.ip_network(cidr).is_private and ipaddress.ip_network(cidr).prefixlen >= 24 for cidr in blocks)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlays_set_real_images(overlay: str) -> None:
    for service in knative_services(rendered(f"overlays/{overlay}")).values():
        for container in service["spec"]["template"]["spec"]["containers"]:
            assert "/" in container["image"] and ":" in container["image"]
            assert not container["image"].endswith(":latest")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_account_that_uses_aws_gets_its_own_iam_role(overlay: str) -> None:
    accounts = by_kind(rendered(f"overlays/{overlay}"), "ServiceAccount")
    # the sink only logs; the predictor reads models through pre-signed URLs; trainers get no AWS at all
    for name in (f"trainyard-{DEAD_LETTER}", "trainyard-predictor", "trainyard-trainer"):
        assert "annotations" not in accounts.pop(name)["metadata"], name
    roles = {name: sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] for name, sa in accounts.items()}
    assert len(set(roles.values())) == len(roles) == 6
    assert all(
        arn.endswith(f"role/trainyard-{overlay}-{name.removeprefix('trainyard-')}") for name, arn in roles.items()
    )


def test_the_functions_and_the_runtime_agree_on_the_jobs_namespace(objects: tuple[Obj, ...]) -> None:
    config: dict[str, Any] = by_kind(objects, "ConfigMap")["trainyard-config"]["data"]
    assert config["TRAINYARD_KUBERNETES_NAMESPACE"] == mf.KubernetesConfig().namespace
    assert mf.KubernetesConfig().namespace in by_kind(objects, "Namespace")


def test_the_strict_knative_schemas_reject_a_misspelt_field() -> None:
    service = copy.deepcopy(knative_services(base_objects())["predictor"])
    service["spec"]["template"]["spec"]["containers"][1]["readinesProbe"] = {}
    with pytest.raises(jsonschema.ValidationError, match="readinesProbe"):
        validate(service)
