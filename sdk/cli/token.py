"""`trainyard token create`: a signed token for a principal of the local platform.

    trainyard token create --tenant demo --sub ana@demo --role data-scientist
    trainyard token create --tenant demo --sub boss@demo --role approver --role admin --ttl 1h --json
    export TRAINYARD_TOKEN=$(trainyard token create --tenant demo --sub ana@demo --role data-scientist)

It signs HS256 with the local platform's secret, STATE_DIR/secret (written by `trainyard up`),
so it works only in local mode: a production platform takes tokens from its identity
provider (a JWKS) and refuses HS256 outright. Job tokens are minted by the platform when it
launches a job, never by hand.
"""

from __future__ import annotations

import re
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from sdk.cli import output as out
from sdk.contracts.errors import TrainyardError


class RoleName(StrEnum):
    """sdk.auth.tokens.Role's values (a test keeps them equal): the JWT library loads only when
    a token is made, not for every `trainyard` command."""

    DATA_SCIENTIST = "data-scientist"
    APPROVER = "approver"
    ADMIN = "admin"
    SERVICE = "service"
    JOB = "job"


_TTL = re.compile(r"^(\d+)([smhd]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TTL_S = 30 * 86400  # a local token is a convenience, not a long-lived credential


def parse_ttl(text: str) -> int:
    """`90`, `90s`, `15m`, `12h`, `7d` -> seconds (1 s to 30 days)."""
    match = _TTL.match(text.strip())
    seconds = int(match.group(1)) * _UNIT_S[match.group(2)] if match else 0
    if not 0 < seconds <= MAX_TTL_S:
        raise typer.BadParameter(
            f"{text!r}: a duration like 90s, 15m, 12h or 7d, at most {MAX_TTL_S // 86400}d", param_hint="--ttl"
        )
    return seconds


def read_secret(state_dir: Path) -> str:
    path = state_dir / "secret"
    try:
        secret = path.read_text().strip()
    except FileNotFoundError as exc:
        raise TrainyardError(
            f"no local platform secret at {path}: start the platform with `trainyard up` "
            "(or point --state-dir at its state directory)"
        ) from exc
    if len(secret.encode()) < 32:
        raise TrainyardError(f"{path} holds no usable secret (fewer than 32 bytes)")
    return secret


def create(
    tenant: Annotated[str, typer.Option(help="Tenant of the principal (lowercase letters, digits, '-').")],
    sub: Annotated[str, typer.Option(help="The principal's id, e.g. ana@demo.")],
    role: Annotated[list[RoleName], typer.Option("--role", help="A role in the tenant (repeatable).")],
    ttl: Annotated[str, typer.Option(help="Lifetime: 90s, 15m, 12h, 7d (at most 30d).")] = "12h",
    state_dir: Annotated[Path, typer.Option(help="The local platform's state directory.")] = Path(".trainyard"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the token with its claims as JSON.")] = False,
) -> None:
    """Sign a token with the local platform's secret and print it."""
    from sdk.auth import tokens
    from sdk.auth.tokens import Claims, Role

    if RoleName.JOB in role:
        raise typer.BadParameter("job tokens are minted by the platform when it launches a job", param_hint="--role")
    lifetime = parse_ttl(ttl)
    roles = tuple(dict.fromkeys(Role(r.value) for r in role))  # repeated roles count once
    claims = out.build(Claims, {"sub": sub, "tenant": tenant, "roles": roles, "exp": int(time.time()) + lifetime})
    token = tokens.issue(claims, secret=read_secret(state_dir))
    if not as_json:
        typer.echo(token)
        return
    out.print_json(
        {
            "token": token,
            "tenant": claims.tenant,
            "sub": claims.sub,
            "roles": [r.value for r in claims.roles],
            "issuer": tokens.ISSUER,
            "audience": tokens.AUDIENCE,
            "expires_at": tokens.format_time(claims.exp),
        }
    )


def token_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True)
    app.command("create")(create)
    return app
