"""This installation's S3 credentials: random, made once, kept 0600 in the state dir.

The embedded S3 server knows only this identity, the platform signs (and pre-signs) with
it, and the trainers' egress proxy verifies pre-signed URLs with it. Trainers never get it.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

FILE = "s3-credentials.json"


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never print the secret
        return f"S3Credentials(access_key_id={self.access_key_id!r}, secret_access_key=<hidden>)"


def s3_credentials(state_dir: Path) -> S3Credentials:
    """The credentials in `state_dir`, made there (0600) on first use."""
    path = state_dir / FILE
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        made = {"access_key_id": "TY" + secrets.token_hex(9).upper(), "secret_access_key": secrets.token_urlsafe(30)}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(made, out)
    found = json.loads(path.read_text())
    return S3Credentials(access_key_id=found["access_key_id"], secret_access_key=found["secret_access_key"])
