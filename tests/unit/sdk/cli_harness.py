"""The CLI under typer's CliRunner, its client factory pointed at a fake platform (shared by the CLI tests)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from sdk.cli import make_app
from sdk.cli.session import CliDeps
from sdk.client import Client
from tests.unit.sdk.sdk_fake_platform import FakePlatform


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
