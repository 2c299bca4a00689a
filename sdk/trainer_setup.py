"""What a trainer is told: its environment (TrainerEnv, read from the TRAINYARD_* variables the
platform sets) and its task's hyperparameters with typed getters. `sdk.trainer.Trainer` uses
both; they live apart so the environment contract reads on one page."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from sdk.auth.tls import TLSFiles
from sdk.contracts.errors import Problem, ValidationError
from sdk.contracts.trainer_env import TrainerVar

Scalar = str | int | float | bool


class TrainerEnv(BaseModel):
    """What the platform puts in a trainer's environment."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str = Field(alias=TrainerVar.JOB_ID.value, min_length=1)
    token: str = Field(alias=TrainerVar.TOKEN.value, min_length=1)
    platform_url: str = Field(default="http://trainyard", alias=TrainerVar.PLATFORM_URL.value)
    # When set, the platform and pre-signed URLs are reached through this UNIX socket
    # (sandboxed trainers have no network); platform_url then only names the Host.
    platform_uds: str | None = Field(default=None, alias=TrainerVar.PLATFORM_UDS.value)
    attempt: int | None = Field(default=None, alias=TrainerVar.ATTEMPT.value, ge=1)
    workdir: Path = Field(default=Path("."), alias=TrainerVar.WORKDIR.value)
    # The task's hyperparameters as JSON ({"lr": 0.01, "epochs": 8}): what `compare` shows.
    hyperparameters: dict[str, Scalar] = Field(default_factory=dict, alias=TrainerVar.HYPERPARAMETERS.value)
    # Mutual TLS with an https platform: this trainer's certificate and key, and the CA that
    # signed the platform's (all optional; see sdk.auth.tls.TLSFiles).
    tls_cert: Path | None = Field(default=None, alias=TrainerVar.TLS_CERT.value)
    tls_key: Path | None = Field(default=None, alias=TrainerVar.TLS_KEY.value)
    tls_ca: Path | None = Field(default=None, alias=TrainerVar.TLS_CA.value)
    traceparent: str | None = Field(default=None, alias=TrainerVar.TRACEPARENT.value)

    @field_validator("hyperparameters", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> TrainerEnv:
        try:
            env = cls.model_validate(dict(environ))
            env.tls()  # a key without its certificate fails here, not at the first report
        except PydanticValidationError as exc:
            problems = [Problem(field=".".join(str(x) for x in e["loc"]), message=e["msg"]) for e in exc.errors()]
            raise ValidationError(problems) from exc
        return env

    def tls(self) -> TLSFiles | None:
        return TLSFiles.of(cert=self.tls_cert, key=self.tls_key, ca=self.tls_ca)


class Hyperparameters(Mapping[str, Scalar]):
    """The task's hyperparameters, read-only, with typed getters that say what is wrong.

    Example::

        lr = trainer.hyperparameters.get_float("lr", 0.01)
        epochs = trainer.hyperparameters.get_int("epochs", 10)
    """

    def __init__(self, values: Mapping[str, Scalar]) -> None:
        self._values = dict(values)

    def __getitem__(self, key: str) -> Scalar:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Hyperparameters({self._values!r})"

    def get_float(self, key: str, default: float | None = None) -> float:
        """`key` as a float (ints are fine); `default` when absent, else a ValidationError."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, value, "a number")
        return float(value)

    def get_int(self, key: str, default: int | None = None) -> int:
        """`key` as an int (2.0 is fine, 2.5 is not)."""
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise self._wrong(key, value, "a whole number")
        return int(value)

    def get_str(self, key: str, default: str | None = None) -> str:
        """`key` as a string."""
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._wrong(key, value, "a string")
        return value

    def get_bool(self, key: str, default: bool | None = None) -> bool:
        """`key` as a bool (true/false)."""
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise self._wrong(key, value, "true or false")
        return value

    def _get(self, key: str, default: Scalar | None) -> Scalar:
        if key in self._values:
            return self._values[key]
        if default is None:
            raise ValidationError([Problem(field=f"hyperparameters.{key}", message="missing (set it with --param)")])
        return default

    @staticmethod
    def _wrong(key: str, value: Scalar, expected: str) -> ValidationError:
        return ValidationError([Problem(field=f"hyperparameters.{key}", message=f"must be {expected}, not {value!r}")])
