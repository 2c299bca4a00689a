"""Offline validators for the objects we deploy.

Core Kubernetes objects: `kubernetes-validate` in strict mode (unknown fields are errors),
against the oldest and newest Kubernetes versions we claim. Knative objects: the CRDs'
openAPIV3Schema (tests/data/schemas/knative, copied from knative/serving and knative/eventing)
with `jsonschema`, made strict the same way: an object schema that lists its properties and
does not say x-kubernetes-preserve-unknown-fields rejects any other field.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

KUBE_VERSIONS = ("1.30", "1.37")
SCHEMAS = Path(__file__).resolve().parents[2] / "data" / "schemas" / "knative"
KNATIVE = {
    ("serving.knative.dev/v1", "Service"): "service.serving.knative.dev.v1.json",
    ("eventing.knative.dev/v1", "Broker"): "broker.eventing.knative.dev.v1.json",
    ("eventing.knative.dev/v1", "Trigger"): "trigger.eventing.knative.dev.v1.json",
    ("sources.knative.dev/v1", "PingSource"): "pingsource.sources.knative.dev.v1.json",
}


def is_knative(obj: dict[str, Any]) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in KNATIVE


def validate(obj: dict[str, Any]) -> None:
    """Raise (jsonschema / kubernetes-validate errors) unless `obj` is valid and has no unknown fields."""
    if is_knative(obj):
        knative_validator(obj["apiVersion"], obj["kind"]).validate(obj)
    else:
        for version in KUBE_VERSIONS:
            kubernetes_validate.validate(obj, version, strict=True)


@functools.cache
def knative_validator(api_version: str, kind: str) -> jsonschema.Draft7Validator:
    crd = json.loads((SCHEMAS / KNATIVE[(api_version, kind)]).read_text())
    assert (crd["apiVersion"], crd["kind"]) == (api_version, kind)
    schema = _strict(copy.deepcopy(crd["openAPIV3Schema"]))
    # A CRD schema leaves out the envelope; the API server checks it, so we do here.
    schema["properties"].update(
        apiVersion={"type": "string", "enum": [api_version]},
        kind={"type": "string", "enum": [kind]},
        metadata={
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                "namespace": {"type": "string"},
                "labels": {"type": "object"},
                "annotations": {"type": "object"},
            },
            "additionalProperties": False,
        },
    )
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        for value in node.values():
            _strict(value)
        open_ended = node.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in node
        if "properties" in node and not open_ended:
            node["additionalProperties"] = False
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node
