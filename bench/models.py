"""Models for the benchmark: the example trainer's intent model, archives of it, and a disk
tier of many distinct models (what the sidecar holds after extracting 2,000 archives)."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import sys
from pathlib import Path

from sdk.models import archive, embeddings

REPO = Path(__file__).resolve().parent.parent


def train_intent(workdir: Path, embeddings_dir: Path) -> bytes:
    """The best checkpoint of examples/intent_trainer.py run standalone on the shipped dataset."""
    spec = importlib.util.spec_from_file_location("intent_trainer", REPO / "examples" / "intent_trainer.py")
    assert spec is not None and spec.loader is not None
    trainer = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = trainer
    spec.loader.exec_module(trainer)
    out = workdir / "trained"
    with contextlib.redirect_stdout(io.StringIO()):
        trainer.cli(
            [
                "--local",
                str(REPO / "examples" / "data" / "intents.csv"),
                "--out",
                str(out),
                "--embeddings",
                str(embeddings_dir),
            ]
        )
    return (out / "best.ckpt.tar.gz").read_bytes()


def archive_for(checkpoint: bytes, *, job_id: str) -> bytes:
    blob, _ = archive.archive_from_checkpoint(checkpoint, created_from={"job_id": job_id, "epoch": 1})
    return blob


def fill_disk_tier(checkpoint: bytes, root: Path, n: int) -> list[tuple[str, str]]:
    """Write `n` distinct extracted models under `root`; return (model_id, directory) pairs."""
    members = archive.read_members(checkpoint)
    manifest = archive.Manifest.parse(members[archive.MANIFEST])
    weights = members[archive.WEIGHTS]
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        model_id = f"t{i:04d}-intent"
        body = manifest.to_json() | {
            "created_from": {"job_id": f"job-{i}", "epoch": 1},
            "weights_sha256": archive.sha256_hex(weights),
        }
        directory = hashlib.sha256(model_id.encode()).hexdigest()
        (root / directory).mkdir(exist_ok=True)
        (root / directory / archive.MANIFEST).write_text(json.dumps(body))
        (root / directory / archive.WEIGHTS).write_bytes(weights)
        out.append((model_id, directory))
    return out


def ensure_embeddings(workdir: Path) -> Path:
    directory = workdir / "embeddings"
    embeddings.materialize(directory)
    return directory
