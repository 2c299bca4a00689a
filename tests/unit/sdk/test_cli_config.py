"""Where the CLI finds the platform: options, environment, saved config, from any folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdk.cli import make_app
from sdk.cli.config import LocalConfig, write_local_config
from sdk.cli.session import CliDeps
from tests.unit.sdk.cli_harness import Harness


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
