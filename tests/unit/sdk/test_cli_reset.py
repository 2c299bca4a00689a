"""`trainyard reset`: deletes a state directory only when asked, never under a running platform."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from functions.store.durable import DurableStore
from sdk.cli import make_app
from tests.store_contract import project


def state(tmp_path: Path) -> Path:
    directory = tmp_path / ".trainyard"
    (directory / "blobs").mkdir(parents=True)
    (directory / "blobs" / "dataset.csv").write_bytes(b"x" * 2048)
    (directory / "secret").write_text("s" * 40)
    return directory


def reset(*args: str, answer: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(make_app(), ["reset", *args], input=answer)
    return result.exit_code, result.output


def test_it_says_what_and_how_much_it_deletes_and_keeps_everything_when_told_no(tmp_path: Path) -> None:
    directory = state(tmp_path)
    code, output = reset("--state-dir", str(directory), answer="n\n")
    assert code == 1
    assert str(directory) in output and "2.0 KiB" in output and "audit record" in output
    assert (directory / "blobs" / "dataset.csv").exists()


@pytest.mark.parametrize(("args", "answer"), [(("--yes",), None), ((), "y\n")])
def test_it_deletes_the_state_directory_when_confirmed(
    tmp_path: Path, args: tuple[str, ...], answer: str | None
) -> None:
    directory = state(tmp_path)
    code, output = reset("--state-dir", str(directory), *args, answer=answer)
    assert code == 0, output
    assert not directory.exists() and "starts clean" in output


def test_it_refuses_while_a_platform_holds_the_state(tmp_path: Path) -> None:
    directory = state(tmp_path)
    store = DurableStore(directory / "state")  # what `trainyard up` holds open
    store.create_project(project("p1"))
    code, output = reset("--state-dir", str(directory), "--yes")
    assert code == 1 and "is running on" in output
    assert store.path.exists()
    store.close()
    assert reset("--state-dir", str(directory), "--yes")[0] == 0


def test_it_refuses_a_directory_that_is_not_a_state_directory(tmp_path: Path) -> None:
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("...")
    code, output = reset("--state-dir", str(precious), "--yes")
    assert code == 1 and "does not look like a trainyard state directory" in output
    assert (precious / "chapter1.tex").exists()


def test_a_missing_directory_is_nothing_to_do(tmp_path: Path) -> None:
    code, output = reset("--state-dir", str(tmp_path / "nope"), "--yes")
    assert code == 0 and "nothing to reset" in output
