"""Where the CLI finds the platform: --url/--token, TRAINYARD_URL/TRAINYARD_TOKEN, or the
file `.trainyard/local.json` that `trainyard up` has the local platform write (found from
any folder below the one `up` ran in, or through TRAINYARD_HOME, or `--config FILE`). The
predictor (a separate service) is found the same way: --predictor-url,
TRAINYARD_PREDICTOR_URL, or the file's "predictor_url".
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from sdk.contracts.errors import Problem, ValidationError

LOCAL_CONFIG = Path(".trainyard") / "local.json"
HOME_ENV = "TRAINYARD_HOME"  # the state dir of `trainyard up` (holding local.json), from anywhere


def find_local_config(start: Path, environ: Mapping[str, str]) -> Path:
    """Where the saved config is: $TRAINYARD_HOME/local.json, else `.trainyard/local.json` in
    `start` or the nearest folder above it that has one (like git finds `.git`), else the
    one `start` would have (absent: the caller then says how to get one)."""
    home = environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / LOCAL_CONFIG.name
    here = start.absolute()
    for folder in (here, *here.parents):
        if (folder / LOCAL_CONFIG).is_file():
            return folder / LOCAL_CONFIG
    return here / LOCAL_CONFIG


@dataclass(frozen=True)
class LocalConfig:
    """The contents of `.trainyard/local.json`: how to reach the local platform as its user.

    A plain dataclass read by hand, not a pydantic model: every CLI command reads it, and
    importing pydantic alone would cost `trainyard --help` a third of its time budget.
    """

    url: str
    token: str
    predictor_url: str | None = None

    @classmethod
    def parse(cls, text: str) -> LocalConfig:
        """From the file's JSON; other keys (tenant, other people's tokens, UI links) are ignored."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        wrong = [
            name
            for name, required in (("url", True), ("token", True), ("predictor_url", False))
            if not isinstance(data.get(name), str) and (required or data.get(name) is not None)
        ]
        if wrong:
            raise ValueError(f"{', '.join(wrong)}: expected a string")
        return cls(url=data["url"], token=data["token"], predictor_url=data.get("predictor_url"))


def read_local_config(path: Path) -> LocalConfig | None:
    """The saved local config, or None when there is no file (a broken file is an error)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return LocalConfig.parse(text)
    except ValueError as exc:  # json.JSONDecodeError is one
        raise ValidationError([Problem(field=str(path), message=f"not a valid trainyard config: {exc}")]) from exc


def write_local_config(path: Path, config: LocalConfig) -> None:
    """Write the config readable by its owner only (it holds a bearer token)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps({k: v for k, v in asdict(config).items() if v is not None}, indent=2))
    os.replace(tmp, path)


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str


def resolve(url: str | None, token: str | None, *, config_path: Path) -> Endpoint:
    """Options (or their env vars, which typer already folded in) win over the saved file."""
    saved = read_local_config(config_path) if url is None or token is None else None
    final_url = url or (saved.url if saved else None)
    final_token = token or (saved.token if saved else None)
    problems = []
    if not final_url:
        problems.append(Problem(field="url", message="pass --url, set TRAINYARD_URL, or run `trainyard up`"))
    if not final_token:
        problems.append(Problem(field="token", message="pass --token, set TRAINYARD_TOKEN, or run `trainyard up`"))
    if problems:
        raise ValidationError(problems)
    assert final_url is not None and final_token is not None
    return Endpoint(url=final_url, token=final_token)


def resolve_predictor(predictor_url: str | None, token: str | None, *, config_path: Path) -> Endpoint:
    """The predictor's URL and the user's token (the predictor takes the same one)."""
    saved = read_local_config(config_path) if predictor_url is None or token is None else None
    final_url = predictor_url or (saved.predictor_url if saved else None)
    final_token = token or (saved.token if saved else None)
    problems = []
    if not final_url:
        problems.append(
            Problem(
                field="predictor_url",
                message="pass --predictor-url, set TRAINYARD_PREDICTOR_URL, or run `trainyard up`",
            )
        )
    if not final_token:
        problems.append(Problem(field="token", message="pass --token, set TRAINYARD_TOKEN, or run `trainyard up`"))
    if problems:
        raise ValidationError(problems)
    assert final_url is not None and final_token is not None
    return Endpoint(url=final_url, token=final_token)
