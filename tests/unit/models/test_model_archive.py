from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from sdk.contracts.errors import ValidationError
from sdk.models import archive
from sdk.models.archive import Limits, UnsafeArchive

CONFIG = {"dim": 4, "hidden": 2}
FROM = {"job_id": "j-1", "epoch": 3}


def checkpoint(weights: bytes = b"weights") -> bytes:
    return archive.pack_checkpoint(weights=weights, labels=["a", "b"], kind="intent", config=CONFIG)


def test_pack_is_deterministic_and_round_trips() -> None:
    blob = archive.pack_archive(weights=b"w", labels=["a", "b"], kind="intent", config=CONFIG, created_from=FROM)
    again = archive.pack_archive(weights=b"w", labels=["a", "b"], kind="intent", config=CONFIG, created_from=FROM)
    assert blob == again
    manifest = archive.read_archive_manifest(blob)
    assert manifest.kind == "intent"
    assert manifest.labels == ("a", "b")
    assert manifest.config == CONFIG
    assert manifest.created_from == FROM
    assert manifest.weights_sha256 == archive.sha256_hex(b"w")
    assert archive.read_members(blob)[archive.WEIGHTS] == b"w"


def test_archive_from_checkpoint_returns_bytes_and_their_sha() -> None:
    blob, sha = archive.archive_from_checkpoint(checkpoint(b"w"), created_from=FROM)
    assert sha == archive.sha256_hex(blob)
    assert blob == archive.pack_archive(
        weights=b"w", labels=["a", "b"], kind="intent", config=CONFIG, created_from=FROM
    )
    _, other_sha = archive.archive_from_checkpoint(checkpoint(b"w"), created_from={"job_id": "j-1", "epoch": 4})
    assert other_sha != sha


def test_manifest_problems_are_collected() -> None:
    with pytest.raises(ValidationError) as err:
        archive.validate_manifest({"format_version": 9, "kind": "audio", "labels": ["x"]})
    fields = {p.field for p in err.value.problems}
    assert fields == {"format_version", "kind", "labels", "config"}


def test_duplicate_labels_refused() -> None:
    with pytest.raises(ValidationError, match="distinct"):
        archive.pack_checkpoint(weights=b"", labels=["a", "a"], kind="intent", config={})


def test_checkpoint_that_is_not_one_is_a_validation_error() -> None:
    with pytest.raises(ValidationError):
        archive.archive_from_checkpoint(b"torch.save bytes, not a tar", created_from=FROM)


def test_weights_tampering_is_detected() -> None:
    blob = archive.pack_archive(weights=b"w", labels=["a", "b"], kind="intent", config=CONFIG, created_from=FROM)
    members = archive.read_members(blob)
    forged = tar_gz(
        [
            (file_info(archive.MANIFEST, members[archive.MANIFEST]), members[archive.MANIFEST]),
            (file_info(archive.WEIGHTS, b"evil"), b"evil"),
        ]
    )
    with pytest.raises(UnsafeArchive, match="weights_sha256"):
        archive.read_archive_manifest(forged)


# -- malicious archives --------------------------------------------------------------------


def file_info(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def special(name: str, kind: bytes, *, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def tar_gz(members: list[tuple[tarfile.TarInfo, bytes | None]], *, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


GOOD_MANIFEST = archive.read_members(checkpoint())[archive.MANIFEST]


def with_good(*extra: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    return tar_gz(
        [(file_info(archive.MANIFEST, GOOD_MANIFEST), GOOD_MANIFEST), *extra, (file_info(archive.WEIGHTS, b"w"), b"w")]
    )


BAD = {
    "absolute": (with_good((file_info("/tmp/evil", b"x"), b"x")), "absolute"),
    "dotdot": (with_good((file_info("../evil", b"x"), b"x")), "escapes"),
    "nested dotdot": (with_good((file_info("ok/../../evil", b"x"), b"x")), "escapes"),
    "symlink": (with_good((special("link", tarfile.SYMTYPE, linkname="/etc/passwd"), None)), "link"),
    "hardlink": (with_good((special("hard", tarfile.LNKTYPE, linkname="model.json"), None)), "link"),
    "char device": (with_good((special("dev", tarfile.CHRTYPE), None)), "device"),
    "block device": (with_good((special("blk", tarfile.BLKTYPE), None)), "device"),
    "fifo": (with_good((special("fifo", tarfile.FIFOTYPE), None)), "fifo"),
    "directory": (with_good((special("sub", tarfile.DIRTYPE), None)), "not a regular file"),
    "unexpected name": (with_good((file_info("run.sh", b"x"), b"x")), "unexpected member"),
    "duplicate": (with_good((file_info(archive.WEIGHTS, b"w"), b"w")), "duplicate"),
    "missing weights": (tar_gz([(file_info(archive.MANIFEST, GOOD_MANIFEST), GOOD_MANIFEST)]), "missing"),
    "not gzip": (b"PK\x03\x04 a zip file", "cannot read archive"),
    "truncated": (with_good()[:60], "cannot read archive"),
}


@pytest.mark.parametrize("case", BAD)
def test_safe_extract_refuses_and_writes_nothing(tmp_path: Path, case: str) -> None:
    data, reason = BAD[case]
    src = tmp_path / "in.tar.gz"
    src.write_bytes(data)
    cache = tmp_path / "cache"
    cache.mkdir()
    with pytest.raises(UnsafeArchive, match=reason):
        archive.safe_extract(src, cache / "model")
    assert list(cache.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "in.tar.gz"]
    with pytest.raises(UnsafeArchive, match=reason):
        archive.read_members(data)


def test_oversized_member_refused(tmp_path: Path) -> None:
    big = b"\0" * 5000
    src = tmp_path / "big.tar.gz"
    src.write_bytes(
        tar_gz([(file_info(archive.MANIFEST, GOOD_MANIFEST), GOOD_MANIFEST), (file_info(archive.WEIGHTS, big), big)])
    )
    with pytest.raises(UnsafeArchive, match="over the 4096-byte limit"):
        archive.safe_extract(src, tmp_path / "out", limits=Limits(max_weights_bytes=4096))
    assert not (tmp_path / "out").exists()


def test_too_many_members_refused() -> None:
    # Counted before names are checked, so a flood of members stops at the limit.
    with pytest.raises(UnsafeArchive, match="more than 1 members"):
        archive.read_members(with_good(), limits=Limits(max_members=1))


def test_decompression_bomb_in_headers_is_bounded() -> None:
    # A GNU long name is read by tarfile before we see the member: the stream itself must stop.
    bomb = tar_gz([(file_info("n" * 300_000, b""), b"")])
    assert len(bomb) < 2_000
    with pytest.raises(UnsafeArchive, match="size limit"):
        archive.read_members(bomb, limits=Limits(max_manifest_bytes=1000, max_weights_bytes=1000))


def test_extract_writes_exactly_the_two_members(tmp_path: Path) -> None:
    src = tmp_path / "a.tar.gz"
    blob, _ = archive.archive_from_checkpoint(checkpoint(b"payload"), created_from=FROM)
    src.write_bytes(blob)
    manifest = archive.safe_extract(src, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [archive.MANIFEST, archive.WEIGHTS]
    assert (tmp_path / "m" / archive.WEIGHTS).read_bytes() == b"payload"
    assert manifest.created_from == FROM


def test_extract_refuses_an_existing_destination(tmp_path: Path) -> None:
    src = tmp_path / "a.tar.gz"
    src.write_bytes(archive.archive_from_checkpoint(checkpoint(), created_from=FROM)[0])
    (tmp_path / "m").mkdir()
    with pytest.raises(FileExistsError):
        archive.safe_extract(src, tmp_path / "m")
