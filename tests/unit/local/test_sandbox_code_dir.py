"""A user's own trainer in their own folder, run by LocalRuntime in a real bubblewrap sandbox.

The folder is laid out as a user's project where `trainyard up` ran: their train.py and a
module it imports, and the platform's state dir `.trainyard/` (secret, every job's dir)
inside it. The trainer must run as written, read its folder, write only its job's work
dir, and never see the state dir. Skipped where bubblewrap cannot sandbox.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from functions.local.runtime import LocalRuntime
from functions.local.sandbox import bwrap_wrap, default_read_only, exposure_problem, probe
from functions.ports import CannotStart, LaunchSpec, RuntimeJob, RuntimeStatus

TRAIN = r"""
import json, os, sys
import helper  # a sibling module: the script's folder is on sys.path as usual
seen = {"cwd": os.getcwd(), "helper": helper.VALUE, "listed": sorted(os.listdir("."))}

def attempt(name, action):
    try:
        action()
        seen[name] = "allowed"
    except OSError as exc:
        seen[name] = type(exc).__name__

def write(path):
    with open(path, "w") as f:
        f.write("x")

attempt("write its code dir", lambda: write("evil.py"))
attempt("read the platform secret", lambda: open(".trainyard/secret").read())
attempt("write its work dir", lambda: write(os.path.join(os.environ["TRAINYARD_WORKDIR"], "weights.pt")))
seen["state dir"] = sorted(os.listdir(".trainyard"))
print(json.dumps(seen))
"""


def spec(job_id: str, argv: list[str], code_dir: Path) -> LaunchSpec:
    return LaunchSpec(
        job_id=job_id,
        tenant="acme",
        project_id="p-1",
        task_id="t-1",
        attempt=1,
        image="",
        command=argv,
        args=[],
        env={},
        cpu=1.0,
        memory_mb=256,
        gpu=0,
        ttl_s=60.0,
        code_dir=str(code_dir),
    )


@pytest.fixture(scope="module")
def sandbox_problem() -> str | None:
    return probe(bwrap_wrap(read_only=default_read_only()))


@pytest.fixture
def project(tmp_path: Path, sandbox_problem: str | None) -> Path:
    if sandbox_problem:
        pytest.skip(f"bubblewrap cannot sandbox here: {sandbox_problem}")
    folder = tmp_path / "my project"  # a space, as in real folders
    (folder / ".trainyard" / "runner").mkdir(parents=True)
    (folder / ".trainyard" / "secret").write_text("token-signing-secret")
    (folder / "train.py").write_text(TRAIN)
    (folder / "helper.py").write_text("VALUE = 42\n")
    return folder


@pytest.fixture
def runtime(project: Path) -> Iterator[LocalRuntime]:
    state = project / ".trainyard"
    runtime = LocalRuntime(state / "runner", wrap=bwrap_wrap(read_only=default_read_only(), hidden=[state]))
    yield runtime
    for job in runtime.list():
        runtime.delete(job.job_id)


def test_the_users_own_trainer_runs_as_written_and_sees_its_folder_read_only(
    runtime: LocalRuntime, project: Path
) -> None:
    runtime.launch(spec("j-mine", ["python", "train.py"], project))

    assert runtime.wait("j-mine", timeout_s=30) == RuntimeJob("j-mine", RuntimeStatus.EXITED, 0, ""), runtime.logs(
        "j-mine"
    )
    seen = json.loads(runtime.logs("j-mine"))
    assert seen["cwd"] == str(project) and seen["helper"] == 42
    assert seen["listed"] == [".trainyard", "helper.py", "train.py"]
    assert seen["write its code dir"] == "OSError"  # EROFS: a read-only file system
    assert not (project / "evil.py").exists()
    assert seen["read the platform secret"] == "FileNotFoundError"
    assert seen["state dir"] == ["runner"]  # only the mount points down to its own work dir
    assert seen["write its work dir"] == "allowed"
    assert (project / ".trainyard" / "runner" / "j-mine" / "work" / "weights.pt").exists()


def test_a_missing_script_fails_with_pythons_own_words(runtime: LocalRuntime, project: Path) -> None:
    runtime.launch(spec("j-typo", ["python", "trian.py"], project))

    job = runtime.wait("j-typo", timeout_s=30)

    assert job is not None and job.exit_code == 2
    assert b"can't open file" in runtime.logs("j-typo") and b"trian.py" in runtime.logs("j-typo")


@pytest.mark.parametrize("where", ["state dir", "inside the state dir", "system dir", "home's parent"])
def test_code_dirs_that_would_expose_secrets_cannot_start(runtime: LocalRuntime, project: Path, where: str) -> None:
    code_dir = {
        "state dir": project / ".trainyard",
        "inside the state dir": project / ".trainyard" / "runner",
        "system dir": Path("/etc"),
        "home's parent": Path.home().parent,
    }[where]

    with pytest.raises(CannotStart):
        runtime.launch(spec("j-bad", [sys.executable, "-c", "pass"], code_dir))

    assert runtime.status("j-bad") is None  # nothing started, nothing left behind


def test_exposure_rules(tmp_path: Path) -> None:
    home, state = tmp_path / "home" / "ana", tmp_path / "home" / "ana" / "proj" / ".trainyard"
    assert exposure_problem(home / "proj", [state], home=home) is None
    assert "too broad" in (exposure_problem(home, [state], home=home) or "")
    assert "too broad" in (exposure_problem(tmp_path, [state], home=home) or "")
    assert "state directory" in (exposure_problem(state / "runner", [state], home=home) or "")
    assert "system directory" in (exposure_problem(Path("/proc/self"), [], home=home) or "")
