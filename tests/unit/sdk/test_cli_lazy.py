"""`trainyard --help` stays light: the command groups are imported when used, and the root's
list of commands (written out in sdk.cli.app.LAZY) says what each command's own help says."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from bench.cli_startup import stub_platform
from sdk.cli.app import LAZY, load_command, make_app
from tests.unit.sdk.sdk_fake_platform import JOB

HEAVY = ("torch", "numpy", "boto3", "fastapi", "kubernetes", "pydantic", "httpx", "rich", "sdk.client", "functions")
PROBE = """
import json, sys
sys.argv = ["trainyard", *json.loads(sys.argv[1])]
from sdk.cli import main
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted(k for k, v in sys.modules.items() if v is not None)), file=sys.stderr)
"""


def imported_by(*args: str) -> set[str]:
    """The modules a fresh interpreter holds after running `trainyard ARGS`."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [("--help",), ()])
def test_the_root_help_imports_nothing_heavy(args: tuple[str, ...]) -> None:
    modules = imported_by(*args)
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert heavy == []
    assert not [
        m for m in modules if m.startswith("sdk.cli.") and m not in ("sdk.cli.app", "sdk.cli.session", "sdk.cli.config")
    ]


def test_a_command_imports_only_its_own_group() -> None:
    modules = imported_by("token", "--help")
    assert "sdk.cli.token" in modules
    assert not {"sdk.cli.jobs", "sdk.cli.models", "sdk.cli.projects", "sdk.cli.approvals"} & modules


@pytest.mark.parametrize("name", sorted(LAZY))
def test_every_lazy_command_loads_and_its_listed_help_is_its_own(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert (command.help or "").strip().splitlines()[0] == LAZY[name][2]


def test_the_root_help_lists_every_command_and_a_subcommand_still_runs() -> None:
    runner = CliRunner()
    app = make_app()
    listed = runner.invoke(app, ["--help"])
    assert listed.exit_code == 0
    for name in [*LAZY, "up"]:
        assert f"\n  {name} " in listed.output
    unknown = runner.invoke(app, ["nope"])
    assert unknown.exit_code == 2 and "No such command 'nope'" in unknown.output


@pytest.fixture
def platform_url() -> Iterator[str]:
    with stub_platform({"/v1/jobs/j-1": JOB}) as url:  # a project list (empty) and one job
        yield url


@pytest.mark.parametrize("read", [("projects", "list"), ("jobs", "show", "j-1")])
def test_json_output_does_not_load_rich_and_tables_do(platform_url: str, read: tuple[str, ...]) -> None:
    base = ("--url", platform_url, "--token", "t", *read)
    assert not {m for m in imported_by(*base, "--json") if m.split(".")[0] == "rich"}
    assert "rich.table" in imported_by(*base)  # the same read for people draws a table
