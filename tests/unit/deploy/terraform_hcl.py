"""terraform/*.tf parsed with python-hcl2 into plain dicts: quotes stripped from strings,
block markers dropped, resources and data sources keyed by (type, name)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2

TERRAFORM = Path(__file__).resolve().parents[3] / "terraform"


@dataclass(frozen=True)
class Terraform:
    resources: dict[tuple[str, str], dict[str, Any]]
    data: dict[tuple[str, str], dict[str, Any]]
    locals: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    modules: dict[str, dict[str, Any]]  # module calls, by name


def plain(value: Any) -> Any:
    """python-hcl2 keeps string quotes and marks blocks; tests want neither."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@functools.cache
def load(directory: Path = TERRAFORM) -> Terraform:
    resources: dict[tuple[str, str], dict[str, Any]] = {}
    data: dict[tuple[str, str], dict[str, Any]] = {}
    local_values: dict[str, Any] = {}
    variables: dict[str, dict[str, Any]] = {}
    modules: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        parsed = plain(hcl2.loads(path.read_text()))
        for target, key in ((resources, "resource"), (data, "data")):
            for block in parsed.get(key, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        assert (kind, name) not in target, f"{kind}.{name} is defined twice"
                        target[(kind, name)] = body
        for block in parsed.get("locals", []):
            local_values.update(block)
        for block in parsed.get("variable", []):
            variables.update(block)
        for block in parsed.get("module", []):
            modules.update(block)
    return Terraform(resources, data, local_values, variables, modules)


def tfvars(name: str) -> dict[str, Any]:
    return dict(plain(hcl2.loads((TERRAFORM / "environments" / f"{name}.tfvars").read_text())))
