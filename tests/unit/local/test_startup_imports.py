"""`python -m functions.local` starts SeaweedFS and the predictor before it imports the
platform, so that their seconds of start-up overlap its imports: what it imports before
that point must stay light (a fresh interpreter, its modules checked)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "boto3",
    "botocore",
    "httpx",
    "pydantic",
    "functions_framework",
    "cryptography",
    "jwt",
    "torch",
    "numpy",
)
PROBE = """
import json, sys
import functions.local.__main__
print(json.dumps(sorted(k for k, v in sys.modules.items() if v is not None)))
"""


def test_the_platform_entry_point_imports_nothing_heavy_before_it_starts_its_servers() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    modules = json.loads(done.stdout)
    assert sorted(m for m in modules if m.split(".")[0] in HEAVY) == []
    assert "functions.local.platform" not in modules and "functions.api.app" not in modules
