"""RecordingRuntime keeps LocalRuntime's semantics, in memory."""

from __future__ import annotations

import signal

import pytest

from functions.ports import JobRuntime, LaunchSpec, RuntimeJob, RuntimeStatus
from functions.runtimes import LOG_CAP_BYTES, RUNNER_LOST
from functions.runtimes.recording import RecordingRuntime
from sdk.contracts.errors import TemporaryError, ValidationError


def spec(job_id: str, **overrides: object) -> LaunchSpec:
    fields: dict[str, object] = dict(
        job_id=job_id,
        tenant="acme",
        project_id="p-1",
        task_id="t-1",
        attempt=1,
        image="img",
        command=["python", "train.py"],
        args=["--lr", "0.1"],
        env={"A": "1"},
        cpu=1.0,
        memory_mb=256,
        gpu=0,
        ttl_s=60.0,
    )
    fields.update(overrides)
    return LaunchSpec(**fields)  # type: ignore[arg-type]


def test_it_is_a_job_runtime() -> None:
    runtime: JobRuntime = RecordingRuntime()
    assert runtime.list() == []


def test_launch_starts_once_and_keeps_the_first_spec() -> None:
    runtime = RecordingRuntime()
    first = spec("j-1")

    runtime.launch(first)
    runtime.launch(spec("j-1", args=["changed"]))

    assert runtime.launched == {"j-1": first}
    assert runtime.list() == [RuntimeJob("j-1", RuntimeStatus.RUNNING)]


def test_launch_validates_like_the_real_runtimes() -> None:
    runtime = RecordingRuntime()

    with pytest.raises(ValidationError) as caught:
        runtime.launch(spec("j-1", command=[]))

    assert [p.field for p in caught.value.problems] == ["command"]
    assert runtime.list() == [] and runtime.launched == {}


def test_a_failed_launch_starts_nothing_and_the_next_one_works() -> None:
    runtime = RecordingRuntime()
    runtime.fail_next_launch(TemporaryError("cluster unreachable"))

    with pytest.raises(TemporaryError):
        runtime.launch(spec("j-1"))
    assert runtime.list() == []

    runtime.launch(spec("j-1"))
    assert runtime.list() == [RuntimeJob("j-1", RuntimeStatus.RUNNING)]


def test_exit_vanish_and_stop_set_what_list_reports() -> None:
    runtime = RecordingRuntime()
    for job_id in ("a", "b", "c", "d"):
        runtime.launch(spec(job_id))

    runtime.exit("a", 0)
    runtime.exit("b", 137, reason="OOMKilled")
    runtime.vanish("c")
    runtime.stop("d")

    assert runtime.list() == [
        RuntimeJob("a", RuntimeStatus.EXITED, 0, ""),
        RuntimeJob("b", RuntimeStatus.EXITED, 137, "OOMKilled"),
        RuntimeJob("c", RuntimeStatus.EXITED, None, RUNNER_LOST),
        RuntimeJob("d", RuntimeStatus.EXITED, 128 + signal.SIGTERM, ""),
    ]


def test_stop_leaves_an_exited_job_and_its_logs_alone() -> None:
    runtime = RecordingRuntime()
    runtime.launch(spec("j-1"))
    runtime.write_log("j-1", b"done\n")
    runtime.exit("j-1", 0)

    runtime.stop("j-1")
    runtime.stop("missing")

    assert runtime.status("j-1") == RuntimeJob("j-1", RuntimeStatus.EXITED, 0, "")
    assert runtime.logs("j-1") == b"done\n"
    assert runtime.stopped == ["j-1", "missing"]


def test_a_pending_job_starts_or_gets_stuck_with_a_reason() -> None:
    runtime = RecordingRuntime(launch_status=RuntimeStatus.PENDING)
    runtime.launch(spec("j-1"))
    runtime.launch(spec("j-2"))

    runtime.start("j-1")
    runtime.pend("j-2", "ImagePullBackOff")

    assert runtime.list() == [
        RuntimeJob("j-1", RuntimeStatus.RUNNING),
        RuntimeJob("j-2", RuntimeStatus.PENDING, None, "ImagePullBackOff"),
    ]


def test_an_exited_job_cannot_exit_again() -> None:
    runtime = RecordingRuntime()
    runtime.launch(spec("j-1"))
    runtime.exit("j-1", 1)

    with pytest.raises(AssertionError):
        runtime.exit("j-1", 0)


def test_delete_forgets_the_job_and_its_logs() -> None:
    runtime = RecordingRuntime()
    runtime.launch(spec("j-1"))
    runtime.write_log("j-1", b"x")
    runtime.exit("j-1", 0)

    runtime.delete("j-1")
    runtime.delete("j-1")

    assert (runtime.list(), runtime.logs("j-1"), runtime.status("j-1")) == ([], b"", None)
    assert runtime.deleted == ["j-1", "j-1"] and runtime.launched == {}
    with pytest.raises(AssertionError):
        runtime.write_log("j-1", b"late")
    runtime.launch(spec("j-1"))  # a deleted job can be launched afresh, and starts clean
    assert runtime.status("j-1") == RuntimeJob("j-1", RuntimeStatus.RUNNING)
    assert runtime.logs("j-1") == b""


def test_a_job_added_by_hand_is_held_like_a_launched_one() -> None:
    runtime = RecordingRuntime()
    runtime.launched["ghost"] = spec("ghost")

    runtime.exit("ghost", 0)

    assert runtime.list() == [RuntimeJob("ghost", RuntimeStatus.EXITED, 0, "")]


def test_logs_are_capped_to_the_last_mebibyte() -> None:
    runtime = RecordingRuntime()
    runtime.launch(spec("j-1"))
    runtime.write_log("j-1", b"x" * LOG_CAP_BYTES)
    runtime.write_log("j-1", b"END")

    data = runtime.logs("j-1")

    assert len(data) == LOG_CAP_BYTES and data.endswith(b"xEND")
