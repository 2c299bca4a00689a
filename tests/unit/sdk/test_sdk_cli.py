"""The CLI's commands through typer's CliRunner against a fake platform: tables, specs, compare, transfers."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import typer

from sdk.cli.output import parse_param
from sdk.client import Client
from tests.unit.sdk.cli_harness import Harness
from tests.unit.sdk.sdk_fake_platform import JOB, PROJECT, S3_HOST, SPEC, T0, TASK


def test_projects_list_renders_a_table(cli: Harness) -> None:
    cli.platform.json("GET", "/v1/projects", {"items": [PROJECT]})
    result = cli("projects", "list")
    assert result.exit_code == 0, result.output
    assert "p-1" in result.stdout and "intents" in result.stdout and "reviews" in result.stdout


def test_names_are_printed_as_sent_neither_markup_nor_emoji_codes(cli: Harness) -> None:
    # rich would render "[red]" as a style and ":thumbs_up:" as an emoji: user data is neither
    cli.platform.json("GET", "/v1/projects", {"items": [{**PROJECT, "name": "a:thumbs_up:b[red]c"}]})
    result = cli("projects", "list")
    assert result.exit_code == 0, result.output
    assert "a:thumbs_up:b[red]c" in result.stdout


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
