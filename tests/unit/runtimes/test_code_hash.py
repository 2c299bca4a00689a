"""The content hash of a code directory: deterministic, blind to caches and VCS, bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from functions.ports import CannotStart, LaunchSpec
from functions.runtimes.codehash import code_digest, launch_record


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_same_content_same_hash_whatever_the_folder_or_creation_order(tmp_path: Path) -> None:
    a = tree(tmp_path / "a", {"train.py": b"print(1)\n", "lib/util.py": b"x = 1\n"})
    b = tree(tmp_path / "b", {"lib/util.py": b"x = 1\n", "train.py": b"print(1)\n"})
    da, db = code_digest(a), code_digest(b)
    assert da.sha256 is not None and da.sha256 == db.sha256
    assert (da.files, da.size_bytes) == (2, 15)


@pytest.mark.parametrize(
    "change",
    [
        {"train.py": b"print(2)\n"},  # content
        {"lib/other.py": b"x = 1\n"},  # a new file
        {"lib/util.py": b""},  # content shrinks to nothing
    ],
)
def test_any_change_of_content_or_paths_changes_the_hash(tmp_path: Path, change: dict[str, bytes]) -> None:
    base = {"train.py": b"print(1)\n", "lib/util.py": b"x = 1\n"}
    before = code_digest(tree(tmp_path / "a", base)).sha256
    assert code_digest(tree(tmp_path / "b", {**base, **change})).sha256 != before


def test_a_renamed_file_changes_the_hash(tmp_path: Path) -> None:
    one = code_digest(tree(tmp_path / "a", {"a.py": b"x"})).sha256
    assert code_digest(tree(tmp_path / "b", {"b.py": b"x"})).sha256 != one


def test_git_caches_and_environments_are_left_out(tmp_path: Path) -> None:
    base = {"train.py": b"print(1)\n"}
    clean = code_digest(tree(tmp_path / "a", base)).sha256
    noisy = tree(
        tmp_path / "b",
        {
            **base,
            ".git/HEAD": b"ref: refs/heads/main\n",
            "__pycache__/train.cpython-311.pyc": b"\0\0",
            ".venv/bin/python": b"elf",
            ".trainyard/secret": b"s3cr3t",
        },
    )
    assert code_digest(noisy).sha256 == clean


def test_a_symlink_is_named_never_followed(tmp_path: Path) -> None:
    outside = tree(tmp_path / "outside", {"big.bin": b"z" * 1000})
    code = tree(tmp_path / "code", {"train.py": b"x"})
    os.symlink(outside / "big.bin", code / "data.bin")
    digest = code_digest(code)
    assert digest.sha256 is not None and digest.size_bytes == 1  # the link's target was not read
    (outside / "big.bin").write_bytes(b"changed")
    assert code_digest(code).sha256 == digest.sha256


def test_too_big_is_not_hashed_and_says_why(tmp_path: Path) -> None:
    code = tree(tmp_path / "code", {"train.py": b"x", "data/rows.csv": b"r" * 5000})
    digest = code_digest(code, max_bytes=1000)
    assert digest.sha256 is None
    assert "not hashed" in digest.unhashed and str(code) in digest.unhashed and "data/rows.csv" in digest.unhashed
    many = code_digest(code, max_files=1)
    assert many.sha256 is None and "more than 1 files" in many.unhashed


def spec(code_dir: Path | None, pin: str | None = None) -> LaunchSpec:
    return LaunchSpec(
        job_id="t-1.1", tenant="acme", project_id="p-1", task_id="t-1", attempt=1, image="",
        command=["python", "train.py"], args=["--fast"], env={}, cpu=1, memory_mb=256, gpu=0, ttl_s=60,
        code_dir=str(code_dir) if code_dir else None, code_sha256=pin,
    )  # fmt: skip


def test_launch_record_names_the_command_and_the_code(tmp_path: Path) -> None:
    code = tree(tmp_path / "code", {"train.py": b"x"})
    record = launch_record(spec(code), code)
    assert record.command == ["python", "train.py", "--fast"] and record.code_dir == str(code)
    assert record.code is not None and record.code.sha256 == code_digest(code).sha256
    assert launch_record(spec(None), None).code is None


def test_a_pinned_launch_refuses_changed_code_naming_the_folder(tmp_path: Path) -> None:
    code = tree(tmp_path / "code", {"train.py": b"x"})
    pin = code_digest(code).sha256
    assert launch_record(spec(code, pin), code).code is not None  # unchanged: starts
    (code / "train.py").write_bytes(b"y")
    with pytest.raises(CannotStart, match=f"code_dir {code} changed since the run this task re-runs") as caught:
        launch_record(spec(code, pin), code)
    assert str(pin) in str(caught.value) and "allow_code_change" in str(caught.value)
