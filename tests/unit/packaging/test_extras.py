"""Each part's extra carries what its code imports and nothing heavier (issue 8, points 7 and 8).

Resolved from pyproject.toml and the installed distributions' metadata (cheap: no pip, no network):
the extra's requirements, then theirs, transitively, with `trainyard[x]` self-references expanded.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXTRAS: dict[str, list[str]] = PYPROJECT["project"]["optional-dependencies"]
BASE: list[str] = PYPROJECT["project"]["dependencies"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(*extras: str) -> set[str]:
    """Normalized names of every distribution `pip install trainyard[extras]` installs (but trainyard)."""
    seen: set[str] = set()
    todo: list[tuple[Requirement, str | None]] = [(Requirement(r), None) for r in BASE]
    for extra in extras:
        todo += [(Requirement(r), None) for r in EXTRAS[extra]]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra or ""}):
            continue
        name = _norm(req.name)
        if name == "trainyard":
            todo += [(Requirement(r), None) for x in req.extras for r in EXTRAS[x]]
            continue
        for wanted in [None, *sorted(req.extras)]:
            key = f"{name}[{wanted}]" if wanted else name
            if key in seen:
                continue
            seen.add(key)
            try:
                requires = metadata.requires(req.name) or []
            except metadata.PackageNotFoundError:
                continue  # not installed here: its own requirements cannot be read, the name still counts
            todo += [(Requirement(r), wanted) for r in requires]
    return {key.split("[")[0] for key in seen}


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:`: types, not runtime dependencies."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return skipped


def third_party_imports(paths: Iterable[Path]) -> set[str]:
    """Top-level modules imported by these files (lazy imports included) that are neither ours
    nor the standard library."""
    ours = {"functions", "predictor", "sdk"}
    found: set[str] = set()
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        skipped = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {n.split(".")[0] for n in names}
    return {m for m in found if m not in ours and m not in sys.stdlib_module_names and m != "__future__"}


def distributions_of(modules: set[str]) -> dict[str, set[str]]:
    provided = metadata.packages_distributions()
    return {m: {_norm(d) for d in provided.get(m, [])} for m in modules}


def files(root: str, *, without: tuple[str, ...] = ()) -> list[Path]:
    return [
        p
        for p in (ROOT / root).rglob("*.py")
        if "generated" not in p.parts and not any(p.is_relative_to(ROOT / w) for w in without)
    ]


def test_the_platform_extra_installs_no_torch_numpy_or_moto() -> None:
    platform = closure("platform")
    assert {"torch", "numpy", "moto", "grpcio"}.isdisjoint(platform), sorted(platform)
    assert {"fastapi", "pynamodb", "boto3", "kubernetes", "functions-framework"} <= platform


def test_the_predictor_extra_installs_no_platform_libraries() -> None:
    predictor = closure("predictor")
    assert {"moto", "boto3", "botocore", "kubernetes", "pynamodb", "functions-framework"}.isdisjoint(predictor)
    assert {"torch", "numpy", "grpcio", "grpcio-health-checking", "prometheus-client"} <= predictor


def test_the_kernel_is_pydantic_only() -> None:
    assert closure("kernel") <= {
        "pydantic",
        "pydantic-core",
        "annotated-types",
        "typing-extensions",
        "typing-inspection",
    }


# Imported lazily by code that only another part runs: sdk.auth.tls's gRPC credential helpers
# serve the predictor (trainer and CLI never call them); build_proto runs at build time.
ALLOWED = {"sdk": {"grpc"}, "predictor": {"grpc_tools"}}


@pytest.mark.parametrize(
    ("extras", "code", "without"),
    [
        (("sdk",), "sdk", ("sdk/models",)),
        (("models",), "sdk/models", ()),
        (("platform",), "functions", ("functions/local",)),
        (("devstack",), "functions/local", ()),
        (("predictor",), "predictor", ()),
    ],
)
def test_every_import_of_a_part_is_declared_in_its_extra(
    extras: tuple[str, ...], code: str, without: tuple[str, ...]
) -> None:
    installed = closure(*extras)
    modules = third_party_imports(files(code, without=without)) - ALLOWED.get(code, set())
    missing = {m: d for m, d in distributions_of(modules).items() if not d & installed}
    assert not missing, f"imported by {code} but not installed by trainyard[{','.join(extras)}]: {missing}"


def test_the_scan_sees_lazy_imports_and_skips_type_only_ones(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import boto3\n"
        "def f():\n    import torch\nimport numpy.typing\n"
    )
    assert third_party_imports([module]) == {"torch", "numpy"}
