"""The bubblewrap command line and the TRAINYARD_SANDBOX choice (no sandbox is started here)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from functions.local.sandbox import (
    SANDBOX_CHANNEL,
    SANDBOX_SOCKET,
    SandboxMode,
    Wrap,
    bwrap_wrap,
    default_read_only,
    probe,
    select_wrap,
)
from sdk.contracts.errors import PermanentError

ALL = frozenset({"--disable-userns", "--size"})


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A fake system root: merged /usr with a real /lib64 dir and a few /etc files."""
    system = tmp_path / "root"
    for name in ("usr/lib", "usr/bin", "lib64", "etc"):
        (system / name).mkdir(parents=True)
    (system / "lib").symlink_to("usr/lib")
    (system / "bin").symlink_to("usr/bin")
    for name in ("passwd", "ld.so.cache", "shadow", "machine-id"):
        (system / "etc" / name).write_text("x")
    return system


def pairs(argv: list[str], flag: str) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == flag]


def test_the_command_isolates_and_binds_only_what_is_listed(root: Path, tmp_path: Path) -> None:
    venv, state = tmp_path / "venv", tmp_path / "state"
    venv.mkdir()
    work = state / "runner" / "j-1" / "work"
    work.mkdir(parents=True)
    wrap = bwrap_wrap(read_only=[venv], hidden=[state], bwrap="/opt/bwrap", root=root, features=ALL)

    argv = wrap(["python", "train.py"], work)

    assert argv[0] == "/opt/bwrap" and argv[-3:] == ["--", "python", "train.py"]
    for flag in (
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-user",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
    ):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert pairs(argv, "--symlink") == [("usr/bin", "/bin"), ("usr/lib", "/lib")]
    assert pairs(argv, "--ro-bind") == [
        (str(root / "usr"), "/usr"),
        (str(root / "lib64"), "/lib64"),
        (str(root / "etc/ld.so.cache"), "/etc/ld.so.cache"),
        (str(root / "etc/passwd"), "/etc/passwd"),
        (str(venv), str(venv)),
    ]
    assert pairs(argv, "--bind") == [(str(work), str(work))]  # the one writable path
    assert argv[argv.index("--chdir") + 1] == str(work)
    assert "--setenv" not in argv  # no egress dir: no channel at all


def test_mounts_come_in_an_order_that_hides_the_state_dir_but_not_the_work_dir(root: Path, tmp_path: Path) -> None:
    work = tmp_path / "state" / "runner" / "j-1" / "work"
    work.mkdir(parents=True)
    (work.parent / "egress").mkdir()
    wrap = bwrap_wrap(read_only=[tmp_path / "state" / ".."], hidden=[tmp_path / "state"], root=root, features=ALL)

    with pytest.raises(ValueError, match="inside a hidden"):
        bwrap_wrap(read_only=[work], hidden=[tmp_path / "state"], root=root, features=ALL)
    argv = wrap(["true"], work)

    order = [argv.index(x) for x in ("/tmp", str(tmp_path / "state"), str(work), SANDBOX_CHANNEL)]
    assert order == sorted(order)
    assert argv[argv.index("/tmp") - 3 : argv.index("/tmp")] == ["--size", str(512 << 20), "--tmpfs"]
    assert pairs(argv, "--ro-bind")[-1] == (str(work.parent / "egress"), SANDBOX_CHANNEL)
    assert pairs(argv, "--setenv") == [("TRAINYARD_PLATFORM_UDS", SANDBOX_SOCKET)]
    assert argv.index("--remount-ro") > argv.index(SANDBOX_CHANNEL)  # last mount: the root turns read-only


def test_devices_are_passed_through_after_the_minimal_dev(root: Path, tmp_path: Path) -> None:
    gpu = tmp_path / "nvidia0"
    gpu.touch()
    argv = bwrap_wrap(read_only=[], devices=[gpu], root=root, features=ALL)(["true"], tmp_path)

    assert pairs(argv, "--dev-bind") == [(str(gpu), str(gpu))]
    assert argv.index("--dev-bind") > argv.index("--dev")


def test_an_older_bwrap_gets_only_the_options_it_knows(root: Path, tmp_path: Path) -> None:
    argv = bwrap_wrap(read_only=[], root=root, features=frozenset())(["true"], tmp_path)

    assert "--disable-userns" not in argv and "--size" not in argv
    assert "--unshare-net" in argv and "--tmpfs" in argv


def test_a_missing_read_only_path_is_refused(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="do not exist"):
        bwrap_wrap(read_only=[tmp_path / "nope"], root=root, features=ALL)


def test_default_read_only_has_the_interpreter_and_the_sdk_but_not_the_project_root() -> None:
    paths = default_read_only()

    assert Path(sys.prefix) in paths and Path(sys.base_prefix) in paths
    sdk_dir = next(p for p in paths if p.name == "sdk")
    assert sdk_dir.parent not in paths  # the project root holds .trainyard, the default state dir


def test_none_runs_unsandboxed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert select_wrap("none", read_only=[], check=_never_called) is None
    assert "TRAINYARD_SANDBOX=none" in caplog.text


def test_auto_falls_back_loudly_when_bwrap_cannot_run(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert select_wrap("auto", read_only=[], check=lambda _: "no user namespaces", bwrap="/nonexistent") is None
    assert "UNSANDBOXED" in caplog.text and "no user namespaces" in caplog.text


def test_bwrap_refuses_to_start_without_a_working_sandbox() -> None:
    with pytest.raises(PermanentError, match="no user namespaces"):
        select_wrap("bwrap", read_only=[], check=lambda _: "no user namespaces", bwrap="/nonexistent")


@pytest.mark.parametrize("mode", ["auto", "bwrap"])
def test_a_working_sandbox_is_chosen(mode: SandboxMode) -> None:
    checked: list[Wrap] = []

    def check(wrap: Wrap) -> str | None:
        checked.append(wrap)
        return None

    wrap = select_wrap(mode, read_only=[], check=check, bwrap="/nonexistent")

    assert wrap is not None and checked == [wrap]


def test_the_probe_names_a_missing_bwrap(tmp_path: Path) -> None:
    wrap = bwrap_wrap(read_only=[], bwrap=str(tmp_path / "bwrap"), features=ALL)

    assert "is not installed" in (probe(wrap) or "")


def _never_called(wrap: Wrap) -> str | None:
    raise AssertionError("mode none must not try a sandbox")
