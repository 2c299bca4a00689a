"""The package's metadata and its data files (issue 8, point 8): a licence with its text, a readme,
URLs, any Python from 3.11; every non-Python file a package reads at run time is in the wheel.

Cheap (pyproject.toml and the tree; no pip): `make install-test` builds and runs the real wheel.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# files that ship in the source tree only: documentation for whoever vendors them
NOT_SHIPPED = {"sdk/models/README.md"}


def test_the_licence_is_apache_2_with_its_full_text() -> None:
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


def test_readme_urls_and_python_versions_are_declared() -> None:
    assert PROJECT["readme"] == "README.md" and (ROOT / "README.md").is_file()
    assert {"Homepage", "Source", "Issues"} <= set(PROJECT["urls"])
    assert all(url.startswith("https://") for url in PROJECT["urls"].values())
    assert PROJECT["requires-python"] == ">=3.11"


def _shipped(relative: Path, package_data: dict[str, list[str]]) -> bool:
    parts = relative.parts
    for cut in range(len(parts) - 1, 0, -1):
        package, inside = ".".join(parts[:cut]), "/".join(parts[cut:])
        # setuptools' globs match one directory level per "/" (as glob.glob does)
        globs = package_data.get(package, [])
        if any(glob.count("/") == inside.count("/") and fnmatch.fnmatch(inside, glob) for glob in globs):
            return True
    return False


def test_every_data_file_of_a_package_is_in_the_wheel() -> None:
    """The web UI's templates and assets died at `trainyard up` from a wheel (not in package-data)."""
    package_data: dict[str, list[str]] = PYPROJECT["tool"]["setuptools"]["package-data"]
    missing = [
        str(path.relative_to(ROOT))
        for top in ("functions", "sdk", "predictor")
        for path in sorted((ROOT / top).rglob("*"))
        if path.is_file()
        and path.suffix not in {".py", ".pyc", ".pyi"}
        and "generated" not in path.parts
        and "__pycache__" not in path.parts
        and str(path.relative_to(ROOT)) not in NOT_SHIPPED
        and not _shipped(path.relative_to(ROOT), package_data)
    ]
    assert missing == []


def test_the_check_sees_a_file_outside_package_data() -> None:
    data = {"functions.ui": ["templates/*.html"]}
    assert _shipped(Path("functions/ui/templates/a.html"), data)
    assert not _shipped(Path("functions/ui/static/a.js"), data)
    assert not _shipped(Path("functions/ui/templates/deeper/a.html"), data)
