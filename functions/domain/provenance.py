"""What a task ran, as a record that can be compared and re-run.

`of_spec` is stored on a task at creation: the platform version that accepted it and a
digest of its spec's runnable part (image or command, args, hyperparameters, datasets,
resources, limits, retry, pool). `differences` names every runnable field two specs
disagree on, so "these two runs differ only in `hyperparameters.lr`" is one call.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sdk
from sdk.contracts.specs import TaskSpec

# Labels and bookkeeping: changing them does not change what runs.
_NOT_RUNNABLE = frozenset({"name", "retention", "priority"})


def runnable(spec: TaskSpec) -> dict[str, Any]:
    """The spec's fields that decide what runs, flattened to dotted names."""
    body = spec.model_dump(mode="json", exclude=set(_NOT_RUNNABLE))
    return dict(_flatten(body))


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for key in sorted(value):
            out += _flatten(value[key], f"{prefix}{key}.")
        return out
    if isinstance(value, list) and prefix.endswith(("retry_on.",)):
        value = sorted(value)
    return [(prefix[:-1], value)]


def digest(spec: TaskSpec) -> str:
    return hashlib.sha256(json.dumps(runnable(spec), sort_keys=True).encode()).hexdigest()


def of_spec(spec: TaskSpec) -> dict[str, str]:
    return {"platform_version": sdk.__version__, "spec_sha256": digest(spec)}


def differences(a: TaskSpec, b: TaskSpec) -> dict[str, tuple[Any, Any]]:
    """Every runnable field whose value differs: name -> (value in a, value in b)."""
    left, right = runnable(a), runnable(b)
    return {k: (left.get(k), right.get(k)) for k in sorted(left.keys() | right.keys()) if left.get(k) != right.get(k)}
