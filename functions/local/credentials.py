"""Per-installation secrets of local mode, each in its own 0600 file of the state dir.

Nothing here is a constant: a new state dir gets new random values on first use, and a
restart reads them back. The embedded S3 server (SeaweedFS, functions.local.objects) and
the platform's S3 clients use `s3_credentials`; the egress proxy verifies pre-signed URLs
with the same pair. `platform_secret` is the key of the platform's internal event channel
(functions.eventauth).
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

S3_CREDENTIALS_FILE = "s3-credentials.json"
EVENT_KEY_FILE = "event.key"


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never print the secret
        return f"S3Credentials(access_key_id={self.access_key_id!r}, secret_access_key=<hidden>)"

    def as_mapping(self) -> dict[str, str]:
        """{access key id: secret}: what EgressPolicy verifies signatures with."""
        return {self.access_key_id: self.secret_access_key}


def s3_credentials(state_dir: Path) -> S3Credentials:
    """This installation's S3 key pair, made (random, 0600) on first use."""
    path = state_dir / S3_CREDENTIALS_FILE
    if not path.exists():
        fresh = {"access_key_id": "TY" + secrets.token_hex(9).upper(), "secret_access_key": secrets.token_urlsafe(30)}
        write_private(path, json.dumps(fresh))
    stored = json.loads(path.read_text())
    return S3Credentials(str(stored["access_key_id"]), str(stored["secret_access_key"]))


def platform_secret(state_dir: Path, name: str = EVENT_KEY_FILE) -> Path:
    """The file holding a random 32-byte secret (made 0600 on first use); its path, so the
    secret is handed on as a file, never through the environment or argv."""
    path = state_dir / name
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32))
    return path


def write_private(path: Path, text: str) -> None:
    """Create `path` readable by its owner only, from the first byte (never 0644 for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def secret_for(state_dir: Path) -> str:
    """A per-installation signing secret, kept across restarts of the local platform."""
    path = state_dir / "secret"
    if not path.exists():
        write_private(path, secrets.token_urlsafe(32))
    return path.read_text().strip()
