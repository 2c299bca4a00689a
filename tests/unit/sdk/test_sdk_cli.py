"""The CLI through typer's CliRunner, with the client factory pointed at a fake platform."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from sdk.cli import make_app
from sdk.cli.config import LocalConfig, write_local_config
from sdk.cli.output import parse_param
from sdk.cli.session import CliDeps, run_forwarding_interrupt
from sdk.client import Client
from tests.unit.sdk.sdk_fake_platform import JOB, PROJECT, S3_HOST, SPEC, T0, TASK, FakePlatform


class Harness:
    def __init__(self, platform: FakePlatform, tmp_path: Path) -> None:
        self.platform = platform
        self.sleeps: list[float] = []
        self.launched: list[list[str]] = []
        self.factory_calls: list[tuple[str, str]] = []
        self.config_path = tmp_path / ".trainyard" / "local.json"
        self.deps = CliDeps(
            client_factory=self._client, sleep=self.sleeps.append, launcher=self._launch,
            config_path=self.config_path, python="/py",
        )  # fmt: skip
        self.runner = CliRunner(env={"TRAINYARD_URL": None, "TRAINYARD_TOKEN": None, "COLUMNS": "200"})

    def _client(self, url: str, token: str) -> Client:
        self.factory_calls.append((url, token))
        return Client(url, token, transport=self.platform.transport, sleep=self.sleeps.append)

    def _launch(self, argv: list[str]) -> int:
        self.launched.append(argv)
        return 0

    def __call__(self, *args: str, auth: bool = True) -> Result:
        prefix = ["--url", "http://platform.test", "--token", "tok"] if auth else []
        return self.runner.invoke(make_app(self.deps), [*prefix, *args])


@pytest.fixture
def cli(platform: FakePlatform, tmp_path: Path) -> Harness:
    return Harness(platform, tmp_path)


def test_projects_list_renders_a_table(cli: Harness) -> None:
    cli.platform.json("GET", "/v1/projects", {"items": [PROJECT]})
    result = cli("projects", "list")
    assert result.exit_code == 0, result.output
    assert "p-1" in result.stdout and "intents" in result.stdout and "reviews" in result.stdout


def test_json_flag_prints_the_server_json(cli: Harness) -> None:
    cli.platform.json("GET", "/v1/jobs/j-1", JOB)
    result = cli("jobs", "show", "j-1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["job_id"] == "j-1" and data["version"] == 3


def test_errors_are_one_red_line_and_exit_1(cli: Harness) -> None:
    body = {"error": {"code": "not_found", "message": "job 'j-9' not found"}}
    cli.platform.json("GET", "/v1/jobs/j-9", body, status=404)
    result = cli("jobs", "show", "j-9")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: job 'j-9' not found"
    assert result.stdout == ""


def test_tasks_create_builds_the_spec_from_options(cli: Harness) -> None:
    created = {"task": TASK, "job": {**JOB, "state": "QUEUED"}}
    cli.platform.json("POST", "/v1/projects/p-1/tasks", created, status=201)
    result = cli(
        "tasks", "create", "p-1", "--name", "lr-3", "--command", "python train.py --data 'my file.csv'",
        "--param", "lr=0.001", "--param", "layers=2", "--param", "shuffle=true", "--param", "opt=adam",
        "--dataset", "reviews", "--cpu", "2", "--memory-mb", "2048", "--retries", "1",
        "--launch-s", "30", "--epoch-s", "60", "--ttl-s", "600", "--pool", "gpu",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(cli.platform.sent("POST", "/v1/projects/p-1/tasks")[0].content)
    assert body["command"] == ["python", "train.py", "--data", "my file.csv"]
    assert body["hyperparameters"] == {"lr": 0.001, "layers": 2, "shuffle": True, "opt": "adam"}
    assert body["datasets"] == ["reviews"]
    assert body["resources"] == {"cpu": 2.0, "memory_mb": 2048}
    assert body["retry"] == {"max_retries": 1}
    assert body["limits"] == {"launch_s": 30.0, "epoch_s": 60.0, "ttl_s": 600.0}
    assert body["pool"] == "gpu"
    assert "t-1" in result.stdout and "j-1" in result.stdout


def test_tasks_create_reports_every_spec_problem_before_calling(cli: Harness) -> None:
    result = cli("tasks", "create", "p-1", "--name", "bad name!", "--cpu", "0")
    assert result.exit_code == 1
    assert "name" in result.stderr and "resources.cpu" in result.stderr
    assert cli.platform.requests == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lr=0.1", ("lr", 0.1)), ("n=3", ("n", 3)), ("flag=False", ("flag", False)), ("s=abc", ("s", "abc")),
     ("eq=a=b", ("eq", "a=b")), ("empty=", ("empty", ""))],
)  # fmt: skip
def test_params_are_typed(text: str, expected: tuple[str, object]) -> None:
    value = parse_param(text)
    assert value == expected and type(value[1]) is type(expected[1])


def test_a_param_without_equals_is_rejected() -> None:
    with pytest.raises(typer.BadParameter):
        parse_param("lr")


def test_config_file_is_the_fallback(cli: Harness) -> None:
    write_local_config(cli.config_path, LocalConfig(url="http://saved.test", token="saved-token"))
    cli.platform.json("GET", "/v1/projects", {"items": []})
    result = cli("projects", "list", auth=False)
    assert result.exit_code == 0, result.output
    assert cli.factory_calls == [("http://saved.test", "saved-token")]
    assert oct(cli.config_path.stat().st_mode & 0o777) == "0o600"


def test_config_option_points_at_another_saved_file(cli: Harness, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere" / "local.json"
    write_local_config(other, LocalConfig(url="http://other.test", token="other-token"))
    cli.platform.json("GET", "/v1/projects", {"items": []})
    result = cli("--config", str(other), "projects", "list", auth=False)
    assert result.exit_code == 0, result.output
    assert cli.factory_calls == [("http://other.test", "other-token")]


def test_env_vars_win_over_the_config_file(cli: Harness) -> None:
    write_local_config(cli.config_path, LocalConfig(url="http://saved.test", token="saved-token"))
    cli.platform.json("GET", "/v1/projects", {"items": []})
    result = cli.runner.invoke(make_app(cli.deps), ["projects", "list"],
                               env={"TRAINYARD_URL": "http://env.test", "TRAINYARD_TOKEN": "env-token"})  # fmt: skip
    assert result.exit_code == 0, result.output
    assert cli.factory_calls == [("http://env.test", "env-token")]


def test_no_config_anywhere_is_a_clear_error(cli: Harness) -> None:
    result = cli("projects", "list", auth=False)
    assert result.exit_code == 1
    assert "trainyard up" in result.stderr
    assert cli.factory_calls == []


def test_up_runs_the_local_platform_module(cli: Harness) -> None:
    result = cli("up", "--port", "9000", "--state-dir", "/tmp/ty", "--no-predictor", "--tls", "/tmp/tls", auth=False)
    assert result.exit_code == 0, result.output
    assert cli.launched == [[
        "/py", "-m", "functions.local", "--port", "9000", "--state-dir", "/tmp/ty", "--tls", "/tmp/tls",
        "--no-predictor",
    ]]  # fmt: skip


def test_up_refuses_an_option_it_does_not_know(cli: Harness) -> None:
    result = cli("up", "--workers", "2", auth=False)
    assert result.exit_code == 2 and "--workers" in result.output
    assert cli.launched == []


def test_up_help_lists_every_option_the_platform_takes(cli: Harness) -> None:
    from functions.local.__main__ import parser

    taken = {opt for action in parser()._actions for opt in action.option_strings if opt.startswith("--")}
    shown = cli("up", "--help", auth=False).output
    assert taken - {"--help"}, "the platform's parser lists its options"
    assert {opt for opt in taken if opt not in shown} == set()
    assert "--config" not in shown  # `up` has no such option: its help must not send people there


def test_up_passes_on_the_platform_exit_code(cli: Harness) -> None:
    cli.deps = CliDeps(launcher=lambda argv: 7, config_path=cli.config_path)
    assert cli("up", auth=False).exit_code == 7
    cli.deps = CliDeps(launcher=lambda argv: -15, config_path=cli.config_path)
    assert cli("up", auth=False).exit_code == 143


def _job_state(state: str, **extra: object) -> httpx.Response:
    return httpx.Response(200, json={**JOB, "state": state, **extra})


def _epochs(n: int) -> httpx.Response:
    items = [{"epoch": e, "metrics": {"loss": 1 / e}, "reported_at": T0} for e in range(1, n + 1)]
    return httpx.Response(200, json={"items": items})


def test_watch_follows_until_terminal(cli: Harness) -> None:
    cli.platform.on("GET", "/v1/jobs/j-1", _job_state("LAUNCHING", metadata={}), _job_state("RUNNING"),
                    _job_state("SUCCEEDED", final_metrics={"loss": 0.2}))  # fmt: skip
    cli.platform.on("GET", "/v1/jobs/j-1/epochs", _epochs(0), _epochs(2), _epochs(5))
    result = cli("jobs", "watch", "j-1", "--interval", "0.5")
    assert result.exit_code == 0, result.output
    assert cli.sleeps == [0.5, 0.5]
    assert "5/5" in result.stdout
    assert "SUCCEEDED" in result.stdout and "loss=0.2" in result.stdout


def test_watch_exits_1_when_the_job_fails(cli: Harness) -> None:
    cli.platform.on("GET", "/v1/jobs/j-1", _job_state("FAILED", reason="no epoch report within 60s"))
    cli.platform.on("GET", "/v1/jobs/j-1/epochs", _epochs(1))
    result = cli("jobs", "watch", "j-1")
    assert result.exit_code == 1
    assert "no epoch report within 60s" in result.stderr
    assert cli.sleeps == []


def _attempt(n: int, state: str, **extra: object) -> dict[str, object]:
    return {**JOB, "job_id": f"t-1.{n}", "attempt": n, "state": state, **extra}


def test_tasks_watch_follows_a_retry_to_the_attempt_that_succeeds(cli: Harness) -> None:
    failed = _attempt(1, "FAILED", reason="trainer exited with code 3", cleaned_up=True)
    cli.platform.on(
        "GET",
        "/v1/tasks/t-1/jobs",
        httpx.Response(200, json={"items": [_attempt(1, "RUNNING")]}),
        httpx.Response(200, json={"items": [failed, _attempt(2, "QUEUED")]}),  # after attempt 1 ended
        httpx.Response(200, json={"items": [failed, _attempt(2, "QUEUED")]}),
        httpx.Response(200, json={"items": [failed, _attempt(2, "SUCCEEDED", cleaned_up=True)]}),
    )
    cli.platform.on("GET", "/v1/jobs/t-1.1", httpx.Response(200, json=failed))
    cli.platform.on("GET", "/v1/jobs/t-1.1/epochs", _epochs(1))
    cli.platform.on(
        "GET",
        "/v1/jobs/t-1.2",
        httpx.Response(200, json=_attempt(2, "RUNNING")),
        httpx.Response(200, json=_attempt(2, "SUCCEEDED", cleaned_up=True, final_metrics={"loss": 0.1})),
    )
    cli.platform.on("GET", "/v1/jobs/t-1.2/epochs", _epochs(2), _epochs(5))

    result = cli("tasks", "watch", "t-1", "--interval", "0.5")

    assert result.exit_code == 0, result.output
    assert "attempt 1 ended FAILED: trainer exited with code 3; attempt 2 follows" in result.stdout
    assert "task t-1: attempt 2 SUCCEEDED loss=0.1" in result.stdout


def test_tasks_watch_waits_for_cleanup_then_exits_1_when_no_attempt_follows(cli: Harness) -> None:
    ended = _attempt(1, "FAILED", reason="the command could not start (exit code 2)")
    cli.platform.on("GET", "/v1/tasks/t-1/jobs", httpx.Response(200, json={"items": [ended]}))
    cli.platform.on(
        "GET",
        "/v1/jobs/t-1.1",
        httpx.Response(200, json=ended),
        httpx.Response(200, json={**ended, "cleaned_up": True}),
    )

    result = cli("tasks", "watch", "t-1")

    assert result.exit_code == 1
    assert "task t-1 ended FAILED after 1 attempt(s): the command could not start" in result.stderr
    assert cli.sleeps == [2.0, 2.0]


def test_epochs_table_has_a_column_per_metric(cli: Harness) -> None:
    items = [{"epoch": 1, "metrics": {"loss": 0.5, "acc": 0.7}, "reported_at": T0}]
    cli.platform.json("GET", "/v1/jobs/j-1/epochs", {"items": items})
    result = cli("jobs", "epochs", "j-1")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.stdout.splitlines() if "epoch" in line and "loss" in line)
    assert "acc" in header


def test_compare_shows_best_and_last_per_metric(cli: Harness) -> None:
    task = {"task_id": "t-1", "name": "lr-3", "hyperparameters": {"lr": 0.001}, "state": "SUCCEEDED",
            "attempts": 2, "best": {"loss": 0.125}, "last": {"loss": 0.25}, "series": {}}  # fmt: skip
    cmp = {"metrics": ["loss"], "tasks": [task]}
    cli.platform.json("GET", "/v1/projects/p-1/comparison", cmp)
    result = cli("compare", "p-1")
    assert result.exit_code == 0, result.output
    assert "loss best" in result.stdout and "loss last" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "lr-3" in line)
    assert "lr=0.001" in row and "0.125" in row and "0.25" in row and "SUCCEEDED" in row


def test_compare_shows_a_dash_for_a_metric_a_task_never_reported(cli: Harness) -> None:
    tasks = [{"task_id": "t-1", "name": "has-acc", "hyperparameters": {}, "state": "SUCCEEDED", "attempts": 1,
              "best": {"loss": 0.5, "acc": 0.9}, "last": {"loss": 0.5, "acc": 0.9}, "series": {}},
             {"task_id": "t-2", "name": "loss-only", "hyperparameters": {}, "state": "FAILED", "attempts": 1,
              "best": {"loss": 0.7}, "last": {"loss": 0.7}, "series": {}}]  # fmt: skip
    cli.platform.json("GET", "/v1/projects/p-1/comparison", {"metrics": ["acc", "loss"], "tasks": tasks})

    result = cli("compare", "p-1")

    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "loss-only" in line)
    assert row.count("—") == 2 and "nan" not in result.stdout.lower()


def test_compare_says_which_tasks_differ_in_one_named_parameter(cli: Harness) -> None:
    base = {"hyperparameters": {}, "state": "SUCCEEDED", "attempts": 1, "best": {}, "last": {}, "series": {}}
    tasks = [{**base, "task_id": "t-1", "name": "lr-1", "differs_only_in": {"t-2": "hyperparameters.lr"}},
             {**base, "task_id": "t-2", "name": "lr-3", "differs_only_in": {"t-1": "hyperparameters.lr"}},
             {**base, "task_id": "t-3", "name": "other", "differs_only_in": {}}]  # fmt: skip
    cli.platform.json("GET", "/v1/projects/p-1/comparison", {"metrics": [], "tasks": tasks})
    result = cli("compare", "p-1")
    assert result.exit_code == 0, result.output
    assert _said(result.stdout, "differ only in") == ["lr-1 (t-1) and lr-3 (t-2) differ only in hyperparameters.lr"]


def _said(text: str, words: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if words in line]


def test_jobs_show_and_provenance_print_what_ran(cli: Harness) -> None:
    record = {
        "command": ["python", "train.py"],
        "code": {"sha256": "c0de" * 16, "files": 2, "size_bytes": 10},
        "datasets": {"d": {"key": "acme/p-1/d", "sha256": "da7a" * 16, "size_bytes": 5, "granted_at": T0}},
    }
    cli.platform.json("GET", "/v1/jobs/j-1", {**JOB, "provenance": record})
    shown = cli("jobs", "show", "j-1").stdout
    assert "c0de" * 16 in shown and "da7a" * 16 in shown and "python train.py" in shown
    doc = {"job_id": "j-1", "task_id": "t-1", **record, "code_dir": "/lab", "hyperparameters": {"lr": 0.1},
           "spec_sha256": "5" * 64, "platform_version": "1.0", "sdk_version": "1.0", "seed": 7,
           "seed_source": "reported by the trainer"}  # fmt: skip
    cli.platform.json("GET", "/v1/jobs/j-1/provenance", doc)
    result = cli("jobs", "provenance", "j-1")
    assert result.exit_code == 0, result.output
    assert [" ".join(line.split()) for line in _said(result.stdout, "seed")] == ["seed 7 (reported by the trainer)"]
    assert "/lab" in result.stdout and "acme/p-1/d sha256 " + "da7a" * 16 in result.stdout


def test_datasets_upload_and_download(cli: Harness, tmp_path: Path) -> None:
    grant = {"name": "reviews", "url": f"http://{S3_HOST}/datasets/reviews?sig=1", "method": "PUT"}
    cli.platform.json("POST", "/v1/projects/p-1/datasets", grant)
    source = tmp_path / "reviews.jsonl"
    source.write_bytes(b"{}\n" * 100)
    result = cli("datasets", "upload", "p-1", "reviews", str(source))
    assert result.exit_code == 0, result.output
    assert cli.platform.objects["datasets/reviews"] == source.read_bytes()
    assert "uploaded 300 bytes" in result.stdout
    dest = tmp_path / "copy.jsonl"
    result = cli("datasets", "download", "p-1", "reviews", str(dest))
    assert result.exit_code == 0, result.output
    assert dest.read_bytes() == source.read_bytes()


def test_projects_create_and_update(cli: Harness) -> None:
    cli.platform.json("POST", "/v1/projects", PROJECT, status=201)
    cli.platform.json("PATCH", "/v1/projects/p-1", {**PROJECT, "purpose": "better"})
    result = cli("projects", "create", "intents", "--purpose", "demo", "--dataset", "reviews", "--ttl-days", "30")
    assert result.exit_code == 0, result.output
    assert json.loads(cli.platform.sent("POST", "/v1/projects")[0].content) == {
        "name": "intents", "purpose": "demo", "datasets": ["reviews"], "ttl_days": 30,
    }  # fmt: skip
    result = cli("projects", "update", "p-1", "--purpose", "better")
    assert result.exit_code == 0, result.output
    assert json.loads(cli.platform.sent("PATCH", "/v1/projects/p-1")[0].content) == {"purpose": "better"}
    assert "better" in result.stdout


def test_task_show_and_job_list(cli: Harness) -> None:
    cli.platform.json("GET", "/v1/tasks/t-1", {**TASK, "spec": SPEC})
    cli.platform.json("GET", "/v1/tasks/t-1/jobs", {"items": [JOB, {**JOB, "job_id": "j-2", "attempt": 2}]})
    assert "python train.py" in cli("tasks", "show", "t-1").stdout
    listing = cli("jobs", "list", "t-1").stdout
    assert "j-1" in listing and "j-2" in listing


def test_the_default_launcher_returns_the_child_exit_code() -> None:
    assert run_forwarding_interrupt([sys.executable, "-c", "raise SystemExit(5)"]) == 5


def test_the_default_launcher_passes_sigterm_on_to_the_platform() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def terminate_us_once_forwarding() -> None:
        deadline = time.monotonic() + 10
        while signal.getsignal(signal.SIGTERM) is before and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=terminate_us_once_forwarding, daemon=True).start()
    code = run_forwarding_interrupt([sys.executable, "-c", "import time; time.sleep(30)"])
    assert code == -signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before


def test_the_local_config_is_found_from_any_folder_below_or_through_trainyard_home(tmp_path: Path) -> None:
    from sdk.cli.config import find_local_config

    project = tmp_path / "proj"
    deep = project / "src" / "models"
    deep.mkdir(parents=True)
    (project / ".trainyard").mkdir()
    (project / ".trainyard" / "local.json").write_text("{}")

    assert find_local_config(deep, {}) == project / ".trainyard" / "local.json"
    assert find_local_config(project, {}) == project / ".trainyard" / "local.json"
    assert find_local_config(tmp_path, {}) == tmp_path / ".trainyard" / "local.json"  # none here or above
    assert find_local_config(deep, {"TRAINYARD_HOME": "/srv/ty"}) == Path("/srv/ty/local.json")


def test_a_command_in_a_subfolder_reaches_the_platform_up_started_above(
    cli: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "proj"
    (project / "notebooks").mkdir(parents=True)
    write_local_config(project / ".trainyard" / "local.json", LocalConfig(url="http://found.test", token="found"))
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.delenv("TRAINYARD_HOME", raising=False)
    cli.platform.json("GET", "/v1/projects", {"items": []})

    result = cli.runner.invoke(make_app(CliDeps(client_factory=cli._client)), ["projects", "list"])

    assert result.exit_code == 0, result.output
    assert cli.factory_calls == [("http://found.test", "found")]


def test_download_checkpoint_saves_it_and_checks_its_sha256(cli: Harness, tmp_path: Path) -> None:
    import hashlib

    cli.platform.objects["art/j-1/weights.pt"] = b"the weights"
    grant = {
        "epoch": 3,
        "key": "acme/p-1/j-1/checkpoints/epoch-0003/weights.pt",
        "name": "weights.pt",
        "sha256": hashlib.sha256(b"the weights").hexdigest(),
        "size_bytes": 11,
        "url": f"http://{S3_HOST}/art/j-1/weights.pt?sig=1",
    }
    cli.platform.json("GET", "/v1/jobs/j-1/checkpoints/download", grant)

    result = cli("jobs", "download-checkpoint", "j-1", "--out", str(tmp_path / "ckpt"))

    assert result.exit_code == 0, result.output
    assert (tmp_path / "ckpt" / "weights.pt").read_bytes() == b"the weights"
    [request] = cli.platform.sent("GET", "/v1/jobs/j-1/checkpoints/download")
    assert "epoch" not in request.url.params  # the latest unless --epoch

    cli.platform.json("GET", "/v1/jobs/j-1/checkpoints/download", {**grant, "sha256": "00" * 32})
    result = cli("jobs", "download-checkpoint", "j-1", "--epoch", "3", "--out", str(tmp_path / "bad"))
    assert result.exit_code == 1 and "sha256" in result.stderr
    assert not (tmp_path / "bad" / "weights.pt").exists()


def test_logs_all_pages_through_the_whole_log(cli: Harness) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        whole = "".join(f"line {n}\n" for n in range(300))
        chunk = whole[offset : offset + int(request.url.params["limit"])]
        headers = {"x-log-offset": str(offset), "x-log-size": str(len(whole))}
        if offset + len(chunk) < len(whole):
            headers["x-log-next-offset"] = str(offset + len(chunk))
        return httpx.Response(200, text=chunk, headers=headers)

    cli.platform.on("GET", "/v1/jobs/j-1/logs", page)
    client = Client("http://platform.test", "t", transport=cli.platform.transport)
    assert len(list(client.log_pages("j-1", limit=1000))) == 3

    result = cli("jobs", "logs", "j-1", "--all")

    assert result.exit_code == 0, result.output
    assert result.stdout == "".join(f"line {n}\n" for n in range(300))
