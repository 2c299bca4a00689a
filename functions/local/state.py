"""Local mode's durable state: the embedded store (state/state.db) and SeaweedFS (blobs/).

Everything the platform acknowledges is kept in the state directory and survives restarts
and `kill -9`; see README "Local state". `--aws-endpoint` replaces both with that endpoint.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from functions.local.credentials import S3Credentials
from functions.local.objects import SeaweedS3
from functions.store.durable import DurableStore


@dataclass(frozen=True)
class EmbeddedState:
    store: DurableStore
    s3: SeaweedS3
    keys: S3Credentials
    load_s: float  # how long loading the store took

    @property
    def endpoint(self) -> str:
        return self.s3.endpoint

    @property
    def key_pair(self) -> tuple[str, str]:
        return self.keys.access_key_id, self.keys.secret_access_key

    def describe(self, state_dir: Path) -> str:
        return (
            f"state kept in {state_dir} (database {self.store.path}, loaded in {self.load_s:.2f} s: "
            f"{self.store.summary()}; objects in {state_dir / 'blobs'}, S3 API at {self.endpoint})"
        )


@contextlib.contextmanager
def embedded_state(state_dir: Path, s3: SeaweedS3, keys: S3Credentials) -> Iterator[EmbeddedState]:
    """Load the store while SeaweedFS (started already: functions.local.objects.start) comes
    up, then wait for it; close the store at the end (the caller stops SeaweedFS)."""
    began = time.perf_counter()
    store = DurableStore(state_dir / "state")
    try:
        loaded = time.perf_counter() - began
        s3.wait_ready()
        yield EmbeddedState(store=store, s3=s3, keys=keys, load_s=loaded)
    finally:
        store.close()
