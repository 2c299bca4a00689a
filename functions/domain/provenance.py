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
from functions.domain.runs import RunRecord, pinned_image
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


def what_ran(spec: TaskSpec, record: RunRecord | None = None) -> dict[str, Any]:
    """The runnable fields, with what the platform recorded of the run: the image pinned to
    the digest that ran (a tag and its digest are the same image), the code directory's
    content hash and each granted dataset's sha256 (`ran.*`)."""
    out = runnable(spec)
    if record is None:
        return out
    if record.image_digest and out.get("image"):
        out["image"] = pinned_image(str(out["image"]), record.image_digest)
    if record.code is not None and record.code.sha256:
        out["ran.code_sha256"] = record.code.sha256
    for name, data in record.datasets.items():
        out[f"ran.datasets.{name}.sha256"] = data.sha256
    return out


def differences(
    a: TaskSpec, b: TaskSpec, ran_a: RunRecord | None = None, ran_b: RunRecord | None = None
) -> dict[str, tuple[Any, Any]]:
    """Every runnable field whose value differs: name -> (value in a, value in b). What ran
    (`ran.*`) counts only where both runs recorded it (a queued re-run has no record yet)."""
    return _differences(what_ran(a, ran_a), what_ran(b, ran_b))


def _differences(left: dict[str, Any], right: dict[str, Any], most: int | None = None) -> dict[str, tuple[Any, Any]]:
    """`differences` of two flattened runs; with `most`, it stops past that many (a caller
    that only wants to know whether there is exactly one)."""
    found: dict[str, tuple[Any, Any]] = {}
    for k in sorted(left.keys() | right.keys()):
        if k.startswith("ran.") and not (k in left and k in right):
            continue
        if left.get(k) != right.get(k):
            found[k] = (left.get(k), right.get(k))
            if most is not None and len(found) > most:
                break
    return found


def single_differences(runs: dict[str, tuple[TaskSpec, RunRecord | None]]) -> dict[str, dict[str, str]]:
    """For each run (by id): every other run that differs from it in exactly one field, and
    that field ("t-2 differs from t-1 only in hyperparameters.lr"). Pairwise over a page of
    runs, each run flattened once."""
    flat = {key: what_ran(spec, ran) for key, (spec, ran) in runs.items()}
    found: dict[str, dict[str, str]] = {key: {} for key in runs}
    ids = sorted(runs)
    for i, one in enumerate(ids):
        for other in ids[i + 1 :]:
            diff = _differences(flat[one], flat[other], most=1)
            if len(diff) == 1:
                (name,) = diff
                found[one][other] = found[other][one] = name
    return found
