"""`trainyard models ...` through typer's CliRunner, the platform and the predictor faked behind one transport."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from sdk import http
from sdk.cli import make_app
from sdk.cli.config import LocalConfig, write_local_config
from sdk.cli.session import CliDeps
from sdk.client import Client
from sdk.predict import Predictor
from tests.unit.sdk.sdk_fake_platform import MODEL, PREDICTION, PREDICTOR_URL, FakePlatform, sidecar_error

INTENT = "/v2/language/intent"
VISION = "/v2/vision/predict"
NO_ENV = {"TRAINYARD_URL": None, "TRAINYARD_TOKEN": None, "TRAINYARD_PREDICTOR_URL": None, "COLUMNS": "200"}


class Harness:
    def __init__(self, platform: FakePlatform, tmp_path: Path) -> None:
        self.platform = platform
        self.sleeps: list[float] = []
        self.predictor_calls: list[tuple[str, str]] = []
        self.config_path = tmp_path / ".trainyard" / "local.json"
        self.deps = CliDeps(client_factory=self._client, predictor_factory=self._predictor, sleep=self.sleeps.append,
                         config_path=self.config_path)  # fmt: skip
        self.runner = CliRunner(env=NO_ENV)

    def _client(self, url: str, token: str) -> Client:
        return Client(url, token, transport=self.platform.transport, sleep=self.sleeps.append)

    def _predictor(self, url: str, token: str) -> Predictor:
        self.predictor_calls.append((url, token))
        return Predictor(url, token, transport=self.platform.transport, sleep=self.sleeps.append,
                         backoff=http.Backoff(attempts=3))  # fmt: skip

    def __call__(self, *args: str, auth: bool = True, env: dict[str, str] | None = None) -> Result:
        prefix = ["--url", "http://platform.test", "--token", "tok"] if auth else []
        return self.runner.invoke(make_app(self.deps), [*prefix, *args], env=env)

    def predict(self, *args: str) -> Result:
        return self("models", "predict", "--predictor-url", PREDICTOR_URL, *args)


@pytest.fixture
def cli(platform: FakePlatform, tmp_path: Path) -> Harness:
    return Harness(platform, tmp_path)


def _lines_with(text: str, *words: str) -> list[str]:
    return [line for line in text.splitlines() if all(w in line for w in words)]


# -- publish, list, show, delete ----------------------------------------------------------------


def test_publish_sends_the_chosen_checkpoint(cli: Harness) -> None:
    cli.platform.json("POST", "/v1/models", MODEL, status=201)
    result = cli("models", "publish", "j-1", "--metric", "accuracy", "--mode", "max", "--name", "intents-v1")
    assert result.exit_code == 0, result.output
    body = json.loads(cli.platform.sent("POST", "/v1/models")[0].content)
    assert body == {"jobId": "j-1", "metric": "accuracy", "mode": "max", "name": "intents-v1"}
    assert _lines_with(result.stdout, "m-1", "intents-v1", "j-1", "epoch 3", "accuracy=0.9")


def test_publish_json_prints_the_server_view(cli: Harness) -> None:
    cli.platform.json("POST", "/v1/models", MODEL)
    result = cli("models", "publish", "j-1", "--epoch", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == MODEL
    assert json.loads(cli.platform.sent("POST", "/v1/models")[0].content) == {"jobId": "j-1", "epoch": 3}


def test_publish_refuses_epoch_with_metric_before_calling(cli: Harness) -> None:
    result = cli("models", "publish", "j-1", "--epoch", "2", "--metric", "loss", "--mode", "min")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: epoch: give either epoch or metric, not both"
    assert cli.platform.requests == []


def test_publish_rejects_an_unknown_mode(cli: Harness) -> None:
    result = cli("models", "publish", "j-1", "--metric", "loss", "--mode", "lowest")
    assert result.exit_code == 2
    assert "--mode" in result.stderr and cli.platform.requests == []


def test_publish_400_names_the_field(cli: Harness) -> None:
    problems = [{"field": "jobId", "message": "checkpoint of epoch 3 is not a model"}]
    cli.platform.json("POST", "/v1/models", {"error": {"code": "invalid", "message": "x", "problems": problems}}, 400)
    result = cli("models", "publish", "j-1")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: jobId: checkpoint of epoch 3 is not a model"


def test_list_renders_a_table(cli: Harness) -> None:
    other = {**MODEL, "modelId": "m-2", "model_id": "m-2", "name": "old", "active": False}
    cli.platform.json("GET", "/v1/models", {"items": [MODEL, other]})
    result = cli("models", "list")
    assert result.exit_code == 0, result.output
    assert _lines_with(result.stdout, "m-1", "intents-v1", "intent", "j-1", "accuracy=0.9", "yes")
    assert _lines_with(result.stdout, "m-2", "old", "no")


def test_list_json_is_the_server_items(cli: Harness) -> None:
    cli.platform.json("GET", "/v1/models", {"items": [MODEL]})
    result = cli("models", "list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [MODEL]


def test_show_and_delete(cli: Harness) -> None:
    cli.platform.json("GET", "/v1/models/m-1", MODEL)
    cli.platform.json("DELETE", "/v1/models/m-1", {**MODEL, "active": False})
    shown = cli("models", "show", "m-1")
    assert shown.exit_code == 0, shown.output
    assert _lines_with(shown.stdout, "labels", "cancel, track") and _lines_with(shown.stdout, "size", "1234 bytes")
    deleted = cli("models", "delete", "m-1")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout.strip() == "model m-1 deactivated"
    assert json.loads(cli("models", "delete", "m-1", "--json").stdout)["active"] is False


def test_another_tenants_model_is_one_red_line(cli: Harness) -> None:
    body = {"error": {"code": "not_found", "message": "model 'm-9' not found", "problems": []}}
    cli.platform.json("GET", "/v1/models/m-9", body, status=404)
    result = cli("models", "show", "m-9")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: model 'm-9' not found"
    assert result.stdout == ""


# -- predict -------------------------------------------------------------------------------------


def test_predict_prints_labels_highest_first(cli: Harness) -> None:
    cli.platform.json("POST", INTENT, PREDICTION)
    result = cli.predict("m-1", "where is my parcel?")
    assert result.exit_code == 0, result.output
    (request,) = cli.platform.sent("POST", INTENT)
    assert str(request.url) == f"{PREDICTOR_URL}{INTENT}" and request.headers["authorization"] == "Bearer tok"
    assert json.loads(request.content) == {"modelId": "m-1", "document": "where is my parcel?"}
    lines = result.stdout.splitlines()
    cancel, track = (lines.index(_lines_with(result.stdout, label)[0]) for label in ("cancel", "track"))
    assert cancel < track
    assert _lines_with(result.stdout, "cancel", "0.7500") and _lines_with(result.stdout, "track", "0.2500")


def test_predict_json_is_the_predictor_response(cli: Harness) -> None:
    cli.platform.json("POST", INTENT, PREDICTION)
    result = cli.predict("m-1", "hi", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == PREDICTION


def test_predict_image_uses_the_vision_route(cli: Harness, tmp_path: Path) -> None:
    cli.platform.json("POST", VISION, PREDICTION)
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    result = cli.predict("m-2", "--image", str(image))
    assert result.exit_code == 0, result.output
    body = json.loads(cli.platform.sent("POST", VISION)[0].content)
    assert body["modelId"] == "m-2" and base64.b64decode(body["sampleBase64Content"]) == image.read_bytes()
    assert cli.platform.sent("POST", INTENT) == []


@pytest.mark.parametrize("args", [["m-1"], ["m-1", "text", "--image", "IMAGE"]])
def test_predict_needs_exactly_one_input(cli: Harness, tmp_path: Path, args: list[str]) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"x")
    result = cli.predict(*[str(image) if a == "IMAGE" else a for a in args])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: document: give") and "--image" in result.stderr
    assert cli.platform.requests == []


def test_predict_retries_a_cold_model(cli: Harness) -> None:
    cli.platform.on("POST", INTENT, sidecar_error(503, "model m-1 is loading", retry_after=2),
                    httpx.Response(200, json=PREDICTION))  # fmt: skip
    result = cli.predict("m-1", "hi")
    assert result.exit_code == 0, result.output
    assert cli.sleeps == [2.0] and _lines_with(result.stdout, "cancel")


def test_predict_errors_are_one_red_line(cli: Harness) -> None:
    problems = [{"field": "document", "message": "is 6000 characters; the limit is 5000"}]
    cli.platform.on("POST", INTENT, sidecar_error(400, "too long", problems=problems))
    result = cli.predict("m-1", "x")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: document: is 6000 characters; the limit is 5000"
    cli.platform.on("POST", INTENT, sidecar_error(404, "model 'm-9' not found"))
    result = cli.predict("m-9", "x")
    assert (result.exit_code, result.stderr.strip()) == (1, "error: model 'm-9' not found")


def test_predictor_url_from_env_then_saved_config(cli: Harness) -> None:
    cli.platform.json("POST", INTENT, PREDICTION)
    write_local_config(cli.config_path, LocalConfig(url="http://saved.test", token="saved-token",
                                                    predictor_url="http://saved-predictor.test"))  # fmt: skip
    assert cli("models", "predict", "m-1", "hi", auth=False).exit_code == 0
    env = {"TRAINYARD_PREDICTOR_URL": "http://env-predictor.test"}
    assert cli("models", "predict", "m-1", "hi", env=env).exit_code == 0
    assert cli("models", "predict", "m-1", "hi", "--predictor-url", PREDICTOR_URL, env=env).exit_code == 0
    assert cli.predictor_calls == [("http://saved-predictor.test", "saved-token"),
                                   ("http://env-predictor.test", "tok"), (PREDICTOR_URL, "tok")]  # fmt: skip
    assert [r.url.host for r in cli.platform.requests] == ["saved-predictor.test", "env-predictor.test",
                                                           "predictor.test"]  # fmt: skip


def test_the_config_file_written_by_up_is_read(cli: Harness) -> None:
    # functions.local writes extra keys (tenant, ...) next to url/token/predictor_url.
    cli.config_path.parent.mkdir(parents=True)
    saved = {"url": "http://saved.test", "token": "saved-token", "tenant": "acme",
             "predictor_url": "http://saved-predictor.test"}  # fmt: skip
    cli.config_path.write_text(json.dumps(saved))
    cli.platform.json("POST", INTENT, PREDICTION)
    assert cli("models", "predict", "m-1", "hi", auth=False).exit_code == 0
    assert cli.predictor_calls == [("http://saved-predictor.test", "saved-token")]


def test_no_predictor_url_anywhere_is_a_clear_error(cli: Harness) -> None:
    write_local_config(cli.config_path, LocalConfig(url="http://saved.test", token="saved-token"))
    result = cli("models", "predict", "m-1", "hi")
    assert result.exit_code == 1
    assert "--predictor-url" in result.stderr and "TRAINYARD_PREDICTOR_URL" in result.stderr
    assert cli.predictor_calls == [] and cli.platform.requests == []


def test_try_is_one_call_to_the_platform_which_publishes_and_predicts(cli: Harness) -> None:
    route = "/v1/jobs/j-1/checkpoints/3/predict"
    cli.platform.json("POST", route, {"model": MODEL, "prediction": PREDICTION})
    result = cli("models", "try", "j-1", "where is my parcel", "--epoch", "3")
    assert result.exit_code == 0, result.output
    assert json.loads(cli.platform.sent("POST", route)[0].content) == {"document": "where is my parcel"}
    assert cli.predictor_calls == [] and cli.platform.sent("POST", "/v1/models") == []  # nothing else asked
    assert _lines_with(result.stdout, "cancel", "0.7500") and "m-1" in result.stdout


def test_try_without_an_epoch_lets_the_platform_choose_as_publish_does(cli: Harness, tmp_path: Path) -> None:
    cli.platform.json("POST", "/v1/models", MODEL)  # the best by accuracy is epoch 3
    cli.platform.json("POST", "/v1/jobs/j-1/checkpoints/3/predict", {"model": MODEL, "prediction": PREDICTION})
    image = tmp_path / "shape.png"
    image.write_bytes(b"\x89PNG fake")
    result = cli("models", "try", "j-1", "--image", str(image), "--metric", "accuracy", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(cli.platform.sent("POST", "/v1/models")[0].content) == {"jobId": "j-1", "metric": "accuracy"}
    sent = json.loads(cli.platform.sent("POST", "/v1/jobs/j-1/checkpoints/3/predict")[0].content)
    assert base64.b64decode(sent["sampleBase64Content"]) == b"\x89PNG fake"
    assert json.loads(result.stdout) == PREDICTION
