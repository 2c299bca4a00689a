"""Build hook: the wheel carries the generated gRPC code (predictor.generated).

Everything else about the package is declared in pyproject.toml. After copying the packages,
`build_py` runs predictor/build_proto.py (grpcio-tools is a build requirement) into the build
directory, so `pip install .` from a fresh checkout or an sdist ships working gRPC modules and
the source tree is left as it was.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithProto(build_py):
    def run(self) -> None:
        super().run()
        spec = importlib.util.spec_from_file_location("_trainyard_build_proto", ROOT / "predictor" / "build_proto.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.build(force=True, out=Path(self.build_lib) / "predictor" / "generated")


setup(cmdclass={"build_py": BuildWithProto})
