"""`trainyard token create` through typer's CliRunner, signing with a state dir's secret."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sdk.auth import tokens
from sdk.auth.tokens import Role
from sdk.cli import make_app
from sdk.cli.token import parse_ttl

SECRET = "cli-test-secret-0123456789abcdef-xyz"


@pytest.fixture
def state(tmp_path: Path) -> Path:
    (tmp_path / "secret").write_text(SECRET + "\n")  # as the local platform writes it
    return tmp_path


def run(*args: str) -> Result:
    runner = CliRunner(env={"TRAINYARD_URL": None, "TRAINYARD_TOKEN": None, "COLUMNS": "200"})
    return runner.invoke(make_app(), ["token", "create", *args])


def test_create_prints_a_token_the_local_platform_accepts(state: Path) -> None:
    result = run(
        "--tenant",
        "demo",
        "--sub",
        "ana@demo",
        "--role",
        "data-scientist",
        "--role",
        "approver",
        "--role",
        "approver",
        "--state-dir",
        str(state),
    )
    assert result.exit_code == 0, result.output
    claims = tokens.verify(result.stdout.strip(), secret=SECRET)
    assert (claims.tenant, claims.sub, claims.roles) == ("demo", "ana@demo", (Role.DATA_SCIENTIST, Role.APPROVER))
    assert abs(claims.exp - (time.time() + 12 * 3600)) < 60  # the default lifetime: 12 h


def test_create_json_shows_the_claims(state: Path) -> None:
    result = run(
        "--tenant", "demo", "--sub", "boss@demo", "--role", "admin", "--ttl", "15m", "--json", "--state-dir", str(state)
    )
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    claims = tokens.verify(shown["token"], secret=SECRET)
    assert (shown["tenant"], shown["sub"], shown["roles"]) == ("demo", "boss@demo", ["admin"])
    assert (shown["issuer"], shown["audience"]) == (tokens.ISSUER, tokens.AUDIENCE)
    assert shown["expires_at"] == tokens.format_time(claims.exp)
    assert abs(claims.exp - (time.time() + 900)) < 60


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "job"], "job tokens are minted by the platform"),
    (["--role", "admin", "--ttl", "5y"], "a duration like 90s, 15m, 12h or 7d"),
    (["--role", "admin", "--ttl", "60d"], "at most 30d"),
    ([], "Missing option '--role'"),
])  # fmt: skip
def test_create_refuses_what_it_cannot_sign(state: Path, args: list[str], message: str) -> None:
    result = run("--tenant", "demo", "--sub", "x", "--state-dir", str(state), *args)
    assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output


def test_create_needs_the_local_platforms_secret_and_a_valid_tenant(state: Path, tmp_path: Path) -> None:
    missing = run("--tenant", "demo", "--sub", "x", "--role", "admin", "--state-dir", str(tmp_path / "nowhere"))
    assert missing.exit_code == 1 and "no local platform secret at" in missing.output
    bad = run("--tenant", "Demo Corp", "--sub", "x", "--role", "admin", "--state-dir", str(state))
    assert bad.exit_code == 1 and "tenant:" in bad.output


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("12h", 43200), ("7d", 604800)])
def test_ttls(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


def test_the_clis_role_names_are_the_token_roles() -> None:
    from sdk.auth.tokens import Role
    from sdk.cli.token import RoleName

    assert [r.value for r in RoleName] == [r.value for r in Role]


def test_help_imports_neither_the_http_client_nor_crypto() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from sdk.cli.app import make_app; "
        "r = CliRunner().invoke(make_app(), ['--help']); assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('httpx', 'sdk.client', 'cryptography', 'jwt', 'torch') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
